/// What the watcher tells the engine; hints, never facts: the engine re-checks with `lstat`.
public enum WatchSignal: Sendable, Equatable {
    /// Look at this path (new, changed or gone).
    case path(WatchedPath)
    /// A directory appeared (created or moved in): its watches are set; walk it.
    case directoryAppeared(WatchedPath)
    /// An entry of this directory changed whose name is not UTF-8, so no path can name it:
    /// walk the directory (the walk records such a name `skipped`, with the reason).
    case directoryChanged(WatchedPath)
    /// A directory and everything beneath it left (deleted or moved out).
    case directoryGone(WatchedPath)
    /// Events may have been lost (queue overflow, an unknown watch): reconcile every folder.
    case rescanAll(reason: String)
    /// The folder's root was deleted or moved away.
    case rootGone(FolderID)
    /// The folder's root is back (created again where it was).
    case rootBack(FolderID)
    /// Part of a folder cannot be watched (watch limit): it relies on periodic rescans.
    case unwatched(FolderID, reason: String)
}

/// Signals of one read of the inotify queue, stamped with the watcher generation that produced
/// them: after a reload the daemon drops batches of a watcher it has replaced.
public struct WatchBatch: Sendable {
    public var generation: Int
    public var signals: [WatchSignal]
}
