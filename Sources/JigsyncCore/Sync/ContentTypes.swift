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
        // Parsed as bytes: the file has ~2,000 extensions, and splitting it as Characters (with
        // a lowercased copy of each) cost more instructions than the rest of a `sync` start.
        if let text = try? String(contentsOfFile: file, encoding: .utf8) {
            let isBlank = { (byte: UInt8) in byte == UInt8(ascii: " ") || byte == UInt8(ascii: "\t") || byte == UInt8(ascii: "\r") }
            for line in text.utf8.split(separator: UInt8(ascii: "\n")) where line.first != UInt8(ascii: "#") {
                let fields = line.split(whereSeparator: isBlank)
                guard fields.count > 1 else { continue }
                let type = String(decoding: fields[0], as: UTF8.self)
                for field in fields.dropFirst() {
                    let ext = field.allSatisfy({ $0 < 0x80 })
                        ? String(decoding: field.map { $0 >= 65 && $0 <= 90 ? $0 + 32 : $0 }, as: UTF8.self)   // ASCII lowercase
                        : String(decoding: field, as: UTF8.self).lowercased()
                    if table[ext] == nil { table[ext] = type }
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
