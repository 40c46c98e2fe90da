/// What a client asks the running daemon over its control socket: one JSON object per line.
public struct ControlRequest: Codable, Sendable, Equatable {
    public enum Command: String, Codable, Sendable {
        /// The live status: the queue, what is being sent, what needs attention.
        case status
        /// Make failed files due again (`paths`, or all with `failed`), or let held remote deletes go (`deletes`).
        case retry
        /// Hold every upload until `resume`.
        case pause
        /// End a hold (and probe a rejected key at once); with `folder`, end the damage guard's hold there.
        case resume
        /// Re-read the configuration file, as SIGHUP does.
        case reload
        /// What the daemon does, as JSON lines (`DaemonActivity`): the recent ones, and with
        /// `follow` each new one until the client hangs up. Not a `ControlResponse`.
        case events
    }

    public var command: Command
    /// For `retry`: absolute paths of the files to retry.
    public var paths: [String]?
    /// For `retry`: every failed file.
    public var failed: Bool?
    /// For `retry`: the remote deletes the mass-delete guard holds.
    public var deletes: Bool?
    /// For `resume`: the folder (its absolute path) whose overwrites the damage guard holds.
    public var folder: String?
    /// For `retry`: the failed actions.
    public var actions: Bool?
    /// For `events`: keep streaming.
    public var follow: Bool?

    public init(_ command: Command, paths: [String]? = nil, failed: Bool? = nil, deletes: Bool? = nil, folder: String? = nil,
                actions: Bool? = nil, follow: Bool? = nil) {
        self.actions = actions
        self.follow = follow
        self.command = command
        self.folder = folder
        self.paths = paths
        self.failed = failed
        self.deletes = deletes
    }
}

/// The daemon's answer: `ok`, and what the command returns, or `error` saying why not.
public struct ControlResponse: Codable, Sendable, Equatable {
    public var ok: Bool
    public var error: String?
    /// For `status`.
    public var live: LiveStatus?
    /// For `retry`: how many files (or deletes) were queued again.
    public var queued: Int?
    /// For `reload`: the folders now watched.
    public var folders: [String]?

    public init(ok: Bool = true, error: String? = nil, live: LiveStatus? = nil, queued: Int? = nil, folders: [String]? = nil) {
        self.ok = ok
        self.error = error
        self.live = live
        self.queued = queued
        self.folders = folders
    }

    public static func refused(_ reason: String) -> ControlResponse { ControlResponse(ok: false, error: reason) }
}

/// What only the running daemon knows: its queue and its transfers.
public struct LiveStatus: Codable, Sendable, Equatable {
    public struct Transfer: Codable, Sendable, Equatable {
        public var path: String
        public var size: Int64
        public var bytesSent: Int64

        enum CodingKeys: String, CodingKey {
            case path, size
            case bytesSent = "bytes_sent"
        }
    }

    public var pid: Int32
    /// Files (and remote deletes) waiting.
    public var due: Int
    /// Transfers in flight.
    public var uploading: Int
    public var inFlight: [Transfer]
    /// Why uploads are paused (the service rejected the key), if they are.
    public var paused: String?
    /// Why uploads are held by an operator, if they are.
    public var held: String?
    public var attention: Attention

    enum CodingKeys: String, CodingKey {
        case pid, due, uploading, paused, held, attention
        case inFlight = "in_flight"
    }
}
