/// A ledger that cannot be used, with what to do about it.
public struct LedgerError: Error, Sendable, CustomStringConvertible {
    public enum Kind: Sendable {
        /// Another process owns the ledger.
        case inUse(pid: Int32?)
        /// The file is not a jigsync ledger, or is damaged.
        case notALedger
        /// A newer jigsync wrote it.
        case tooNew
        /// SQLite or the file system failed.
        case failed
    }

    public let kind: Kind
    public let path: String
    public let message: String
    /// The SQLite result code, when SQLite failed.
    public let code: Int32?

    public init(_ kind: Kind, path: String, message: String, code: Int32? = nil) {
        self.kind = kind
        self.path = path
        self.message = message
        self.code = code
    }

    public var description: String { "ledger \(path): \(message)" }
}
