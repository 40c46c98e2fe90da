/// What the daemon runs with.
public struct DaemonSettings: Sendable {
    /// What a file deleted from a folder does to its remote copy.
    public enum DeletePolicy: String, Sendable, CaseIterable {
        /// Keep the remote copy; the row becomes `deleted`.
        case keep
        /// Delete the remote copy through the API (guarded against mass deletes).
        case delete
    }

    public var folders: [FolderSpec]
    public var engine = SyncEngine.Settings()
    public var onDelete: DeletePolicy = .keep
    public var deleteLimit = DeleteGuard.defaultLimit
    public var deleteWindow = DeleteGuard.defaultWindow
    public var settle = Coalescer.defaultSettle
    public var quiet = Coalescer.defaultQuiet
    /// The periodic backstop rescan (jittered ±10 %): catches what events cannot show (a remote
    /// file system's writes, a missed event); cheap through the stat fast path.
    public var backstopInterval: Duration = .seconds(3600)
    /// Rescan interval for folders inotify cannot fully see (a watch limit hit, a network or FUSE
    /// file system whose remote writes raise no events).
    public var fallbackRescanInterval: Duration = .seconds(60)
    /// Loads the folders again from the configuration file, for a reload; nil when the daemon was
    /// started from flags alone.
    public var reloadFolders: (@Sendable () throws -> [FolderSpec])?
    /// Where the control socket listens; nil for none.
    public var controlSocket: String?
    /// How long in-flight uploads may take to finish on SIGTERM before they are cut off.
    public var grace: Duration = .seconds(10)
    /// Where the Prometheus `/metrics` endpoint listens (`IPV4:PORT`); nil: no metrics at all.
    public var metricsListen: String?
    /// How actions after upload run (`actions:`).
    public var actions = ActionSettings()
    /// The service as an action's environment names it (key, URL, public key).
    public var actionService = ActionService(apiKey: nil, baseURL: StoreConfiguration.defaultBaseURL, publicKey: nil)

    public init(folders: [FolderSpec]) {
        self.folders = folders
        engine.pauseWhenRejected = true
    }
}
