/// A configuration file that cannot be used: where and why, as `FILE:LINE:COLUMN: field: reason`
/// (the form compilers use, so editors can jump to it).
public struct ConfigurationError: Error, Sendable, CustomStringConvertible {
    public let file: String
    /// 1-based line, when it can be told.
    public let line: Int?
    /// 1-based column, when it can be told.
    public let column: Int?
    /// The field, as a YAML path (`folders[1].prefix`).
    public let field: String?
    public let reason: String

    public init(file: String, line: Int? = nil, column: Int? = nil, field: String? = nil, reason: String) {
        self.file = file
        self.line = line
        self.column = column
        self.field = field
        self.reason = reason
    }

    public var description: String {
        var text = file
        if let line {
            text += ":\(line)"
            if let column { text += ":\(column)" }
        }
        text += ": "
        if let field { text += "\(field): " }
        return text + reason
    }
}
