/// One action owed after a stored version of a file (or after its remote delete): a row of the
/// `actions` table, one per path. A newer version replaces the row, so an action never runs for a
/// version that is no longer the one stored.
public struct ActionRecord: Sendable, Equatable {
    /// What happened to the file, as `JIGSYNC_EVENT` says it.
    public enum Event: String, Sendable, Codable {
        case uploaded, deleted
    }

    /// Where an action stands.
    public enum State: String, Sendable, Codable, CaseIterable {
        /// Owed: runs as soon as a worker is free (or after its backoff).
        case due
        /// Ran and exited 0.
        case done
        /// Exited non-zero or timed out on every attempt; `jigsync retry --actions` makes it due again.
        case failed
        /// Not run: the stored version changed, or the file is no longer stored, before its turn.
        case superseded
    }

    public var folder: String
    public var path: String
    public var event: Event
    public var key: String
    /// The SHA-256 of the stored version (nil for a delete).
    public var sha256: String?
    public var size: Int64?
    public var contentType: String?
    public var url: String?
    public var state: State
    public var attempts = 0
    /// Why it failed: the exit status or the timeout, and the last lines of its standard error.
    public var lastError: String?
    public var exitStatus: Int?
    /// Wall-clock nanoseconds when this version became due: with `event` and `sha256`, names the
    /// version, so an outcome recorded for an older version never overwrites a newer one.
    public var dueAt: Int64

    public init(folder: String, path: String, event: Event, key: String, sha256: String?, size: Int64?,
                contentType: String?, url: String?, state: State = .due, dueAt: Int64) {
        self.folder = folder
        self.path = path
        self.event = event
        self.key = key
        self.sha256 = sha256
        self.size = size
        self.contentType = contentType
        self.url = url
        self.state = state
        self.dueAt = dueAt
    }
}

/// A write to the `actions` table, queued with the file rows so both land in one transaction.
enum ActionWrite: Sendable {
    /// A new version owes its action: replaces the row (unless that very version already ran).
    case due(ActionRecord)
    /// The outcome of a run: written only while the row still names the same version.
    case outcome(ActionRecord)
}
