import Foundation

/// Refuses a mass delete: more than `limit` remote deletes within `window` looks like an
/// unmounted disk or a vanished tree, not a person deleting files, so the rest are held back
/// (their rows say why) until someone looks.
public struct DeleteGuard: Sendable {
    /// Default: 100 remote deletes per 60 s.
    public static let defaultLimit = 100
    public static let defaultWindow: Duration = .seconds(60)

    let limit: Int
    let window: Duration
    private var recent: [ContinuousClock.Instant] = []
    /// Set once the guard tripped; stays set so status keeps saying it.
    private(set) var trippedReason: String?

    init(limit: Int = DeleteGuard.defaultLimit, window: Duration = DeleteGuard.defaultWindow) {
        self.limit = limit
        self.window = window
    }

    /// Whether one more remote delete may go out now.
    mutating func allow(at now: ContinuousClock.Instant) -> Bool {
        if trippedReason != nil { return false }
        recent.removeAll { now - $0 > window }
        guard recent.count < limit else {
            trippedReason = "mass delete refused: more than \(limit) deletes within \(window); remote copies kept"
            return false
        }
        recent.append(now)
        return true
    }
}

/// The delete side of a run: which folders' remote copies follow local deletes, and the
/// mass-delete guard every worker consults before it sends a delete.
///
/// `@unchecked Sendable`: every field is guarded by `lock` (workers and the daemon's loop share it).
public final class RemoteDeletes: @unchecked Sendable {
    /// A root being removed (`rm -rf`, an unmount) deletes its files first; their events arrive
    /// before the root's own. So a remote delete waits this long before it is sent, and goes out
    /// only if the folder's root is still attached then: a vanished root is never a mass delete.
    public static let delay: Duration = .seconds(2)

    private let lock = NSLock()
    private var policy: [FolderID: Bool] = [:]
    private var guardState: DeleteGuard
    /// Keys ("folder/path") whose delete the guard held back, until `release()`.
    private var held: Set<PathBytes> = []
    /// Keys an operator released: admitted once regardless of the guard.
    private var released: Set<PathBytes> = []

    init(limit: Int = DeleteGuard.defaultLimit, window: Duration = DeleteGuard.defaultWindow) {
        guardState = DeleteGuard(limit: limit, window: window)
    }

    /// Sets which folders delete remote copies (at start and on every reload).
    func setPolicy(_ folders: [FolderID: Bool]) { lock.withLock { policy = folders } }

    /// Whether a file deleted from `folder` owes the service a delete of its remote copy.
    func deletesRemote(_ folder: FolderID) -> Bool { lock.withLock { policy[folder] ?? false } }

    /// Whether one more remote delete may go out now; when not, the key is held and the reason returned.
    func admit(_ key: PathBytes) -> String? {
        lock.withLock {
            if released.remove(key) != nil { return nil }   // an operator let this one go
            if guardState.allow(at: .now) { return nil }
            held.insert(key)
            return guardState.trippedReason ?? "mass delete refused"
        }
    }

    /// The guard's refusal, if it tripped, and how many deletes it holds.
    var heldDeletes: (reason: String, count: Int)? {
        lock.withLock { guardState.trippedReason.map { ($0, held.count) } }
    }

    /// Lets the held deletes go (`jigsync retry --deletes`): each is admitted once more whatever
    /// the count, and the guard starts afresh for new deletes.
    func release() {
        lock.withLock {
            guardState = DeleteGuard(limit: guardState.limit, window: guardState.window)
            released.formUnion(held)
            held.removeAll()
        }
    }
}
