/// Turns a stream of events per path into one "look at this path" when the path has settled.
///
/// A path is due a short `settle` after its last event that says a write is complete (close after
/// write, moved in, attributes), like watchman's 20 ms: a write-then-rename or a burst of writes
/// costs one look. A path that was only created or modified, with no close yet (a writer that
/// keeps it open, or an `O_TMPFILE` linked in), is due once it has been `quiet` that long, or
/// `longestQuiet` after the first of those writes, whichever comes first: a log written every
/// second by a process that never closes it is still looked at (and uploaded) twice a minute.
/// Pure bookkeeping with the time passed in, so tests drive it with their own clock.
public struct Coalescer: Sendable {
    /// What an event says about a path.
    enum Hint {
        /// A write completed, or the name appeared whole (close after write, moved in, chmod, delete).
        case settled
        /// Written to (or created) without a close yet.
        case writing
    }

    /// Default settle: long enough to merge an editor's write-then-rename, short enough to feel instant.
    public static let defaultSettle: Duration = .milliseconds(20)
    /// Default quiet period for files written without a close.
    public static let defaultQuiet: Duration = .seconds(2)
    /// The longest a file written without a close waits, counted from the first such write.
    public static let longestQuiet: Duration = .seconds(30)

    let settle: Duration
    let quiet: Duration
    /// When each path is due, and since when it has been written without a close (nil once a
    /// write-complete event came).
    private var deadlines: [WatchedPath: (due: ContinuousClock.Instant, writingSince: ContinuousClock.Instant?)] = [:]

    init(settle: Duration = Coalescer.defaultSettle, quiet: Duration = Coalescer.defaultQuiet) {
        self.settle = settle
        self.quiet = quiet
    }

    var isEmpty: Bool { deadlines.isEmpty }

    mutating func note(_ path: WatchedPath, _ hint: Hint, at now: ContinuousClock.Instant) {
        switch hint {
        case .settled:
            deadlines[path] = (now + settle, nil)
        case .writing:
            let since = deadlines[path].map { $0.writingSince ?? now } ?? now
            let longest = since + max(Self.longestQuiet, quiet)
            deadlines[path] = (min(now + quiet, max(longest, now + settle)), since)
        }
    }

    /// The earliest moment a path becomes due, if any is pending.
    func nextDeadline() -> ContinuousClock.Instant? {
        var earliest: ContinuousClock.Instant?
        for entry in deadlines.values where earliest.map({ entry.due < $0 }) ?? true { earliest = entry.due }
        return earliest
    }

    /// Removes and returns the paths due at `now`.
    mutating func takeDue(at now: ContinuousClock.Instant) -> [WatchedPath] {
        let due = deadlines.filter { $0.value.due <= now }.map(\.key)
        for path in due { deadlines.removeValue(forKey: path) }
        return due
    }
}

/// A path beneath one of the watched folders.
///
/// Equal and hashed by the path's bytes, not `String` equality: names that differ only in
/// Unicode normalization are two files, each with its own deadline and watch.
public struct WatchedPath: Hashable, Sendable {
    /// The folder it is in.
    public var folder: FolderID
    /// Relative path, `/`-separated.
    public var path: String

    public static func == (lhs: WatchedPath, rhs: WatchedPath) -> Bool {
        lhs.folder == rhs.folder && PathBytes(lhs.path) == PathBytes(rhs.path)
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(folder)
        hasher.combine(PathBytes(path))
    }
}
