import Foundation

/// What the running daemon wants a person (or a monitor) to know, with how bad it is. The daemon
/// writes it to the lock file beside the ledger; `status` prints it and `status --check` decides
/// its exit code from `level`, never from the words.
public struct Attention: Codable, Sendable, Equatable {
    public enum Level: String, Codable, Sendable, Comparable {
        /// Work goes on, but something is held or partly covered (held deletes, an operator's pause).
        case degraded
        /// Files are not being synced (uploads paused by a rejection, a folder gone).
        case broken

        public static func < (lhs: Level, rhs: Level) -> Bool { lhs == .degraded && rhs == .broken }
    }

    public struct Item: Codable, Sendable, Equatable {
        public var level: Level
        public var message: String
    }

    public var items: [Item]

    public init(_ items: [Item] = []) { self.items = items }

    /// The worst level among the items, nil when there is nothing to say.
    public var level: Level? { items.map(\.level).max() }

    /// One line for a person.
    public var summary: String { items.map(\.message).joined(separator: "; ") }

    /// The form stored in the lock file (one line of JSON).
    public func encoded() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(self)).map { String(decoding: $0, as: UTF8.self) } ?? ""
    }

    /// Reads the lock file's form back.
    public init?(encoded line: String) {
        guard let value = try? JSONDecoder().decode(Attention.self, from: Data(line.utf8)) else { return nil }
        self = value
    }
}
