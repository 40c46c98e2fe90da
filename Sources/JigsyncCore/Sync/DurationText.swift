import Foundation

extension Duration {
    /// For people: rounded to what matters at its scale (`840 µs`, `1.06 ms`, `27 ms`, `2.4 s`,
    /// `3 min 20 s`, `2 h 5 min`), never `0.001061963 seconds`.
    public var readable: String {
        let seconds = Double(components.seconds) + Double(components.attoseconds) / 1e18
        switch seconds {
        case ..<0.001: return String(format: "%.0f µs", seconds * 1e6)
        case ..<0.01: return String(format: "%.2f ms", seconds * 1e3)
        case ..<1: return String(format: "%.0f ms", seconds * 1e3)
        case ..<60: return String(format: "%.1f s", seconds)
        case ..<3600:
            let whole = Int(seconds.rounded())
            return whole % 60 == 0 ? "\(whole / 60) min" : "\(whole / 60) min \(whole % 60) s"
        default:
            let minutes = Int((seconds / 60).rounded())
            return minutes % 60 == 0 ? "\(minutes / 60) h" : "\(minutes / 60) h \(minutes % 60) min"
        }
    }
}

/// "1 file", "2 files": counts that agree in number.
public func counted(_ count: Int, _ noun: String, plural: String? = nil) -> String {
    "\(count) \(count == 1 ? noun : plural ?? noun + "s")"
}
