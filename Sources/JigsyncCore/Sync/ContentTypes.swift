import Foundation

/// Content types by file extension, from the system's `/etc/mime.types`.
///
/// Unknown extensions get `application/octet-stream`, on which the service detects the type.
public struct ContentTypes: Sendable {
    public static let fallback = "application/octet-stream"
    private let byExtension: [String: String]
    /// Glob → type, tried in order before the extension table.
    private let overrides: [(pattern: String, type: String)]

    /// Reads `file` (format: a type, then its extensions, per line; `#` comments).
    /// - Parameter overrides: globs (on the name, or the relative path when they hold a `/`) whose
    ///   files get the given type whatever their extension.
    public init(file: String = "/etc/mime.types", overrides: [(pattern: String, type: String)] = []) {
        self.overrides = overrides
        var table: [String: String] = [:]
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            for line in text.split(separator: "\n") where !line.hasPrefix("#") {
                let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
                guard fields.count > 1 else { continue }
                for ext in fields.dropFirst() where table[ext.lowercased()] == nil {
                    table[ext.lowercased()] = String(fields[0])
                }
            }
        }
        byExtension = table
    }

    public func type(for path: String) -> String {
        if let match = overrides.first(where: { PathFilter.matches($0.pattern, path: path) }) { return match.type }
        // The last component, found by a byte search (`split` built an array of every component
        // for each file uploaded).
        let name = path.utf8.lastIndex(of: UInt8(ascii: "/")).map { path[path.utf8.index(after: $0)...] } ?? Substring(path)
        guard let dot = name.lastIndex(of: "."), dot != name.startIndex else { return Self.fallback }
        return byExtension[name[name.index(after: dot)...].lowercased()] ?? Self.fallback
    }
}
