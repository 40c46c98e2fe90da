import Foundation

/// What the watcher tells the engine; hints, never facts: the engine re-checks with `lstat`.
/// (`reload` comes from SIGHUP or the control socket through the same queue, so it is handled
/// between two batches of events, never in the middle of one.)
public enum WatchSignal: Sendable, Equatable {
    /// Look at this path (new, changed or gone).
    case path(WatchedPath)
    /// A directory appeared (created or moved in): its watches are set; walk it.
    case directoryAppeared(WatchedPath)
    /// A directory and everything beneath it left (deleted or moved out).
    case directoryGone(WatchedPath)
    /// Events may have been lost (queue overflow, an unknown watch): reconcile every folder.
    case rescanAll(reason: String)
    /// The folder's root was deleted or moved away.
    case rootGone(folder: Int)
    /// The folder's root is back (created again where it was).
    case rootBack(folder: Int)
    /// Part of a folder cannot be watched (watch limit): it relies on periodic rescans.
    case unwatched(folder: Int, reason: String)
    /// Re-read the configuration; the answer goes to `reply`.
    case reload(reply: ReloadReply)
}

/// Where the answer to a reload goes (the control socket's waiting request, or nowhere for SIGHUP).
///
/// `@unchecked Sendable`: the continuation is resumed once, guarded by `lock`.
public final class ReloadReply: @unchecked Sendable, Equatable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<ControlAnswer, Never>?

    init(_ continuation: CheckedContinuation<ControlAnswer, Never>?) {
        self.continuation = continuation
    }

    func send(_ answer: [String: Any]) {
        let pending = lock.withLock { () -> CheckedContinuation<ControlAnswer, Never>? in
            defer { continuation = nil }
            return continuation
        }
        pending?.resume(returning: ControlAnswer(answer))
    }

    public static func == (lhs: ReloadReply, rhs: ReloadReply) -> Bool { lhs === rhs }
}

/// A control answer crossing tasks.
/// `@unchecked Sendable`: made of JSON values, built once and never mutated.
public struct ControlAnswer: @unchecked Sendable {
    public let object: [String: Any]
    public init(_ object: [String: Any]) { self.object = object }
}
