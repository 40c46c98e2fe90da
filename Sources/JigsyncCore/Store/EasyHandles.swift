import CCurl
import Foundation

/// curl easy handles kept for the next transfer. A handle allocates its receive buffer (16 KiB)
/// and, on its first upload, its send buffer (64 KiB); a handle per small file made and freed
/// both every time, and freeing chunks that large makes glibc consolidate its free lists. A
/// handle given back is reset (`curl_easy_reset`: every option to its default; its buffers
/// stay), so the next transfer configures it from scratch as it would a new one.
///
/// The pool is shared by every loop of the process: a handle is idle here, never attached to a
/// multi handle (connections live in the multi's cache, not in the easy handle).
enum EasyHandles {
    /// Idle handles kept: more than the transfers that usually run at once (a handle is held only
    /// while its transfer runs).
    static let kept = 16

    private final class Pool: @unchecked Sendable {   // `idle` is guarded by `lock`
        let lock = NSLock()
        var idle: [UnsafeMutableRawPointer] = []
    }
    private static let pool = Pool()

    /// An idle handle, reset, or a new one; nil when curl cannot allocate one.
    static func take() -> UnsafeMutableRawPointer? {
        let reused = pool.lock.withLock { pool.idle.popLast() }
        return reused ?? curl_easy_init()
    }

    /// Gives back a handle no multi holds any more.
    static func giveBack(_ easy: UnsafeMutableRawPointer) {
        curl_easy_reset(easy)
        let keep = pool.lock.withLock {
            guard pool.idle.count < kept else { return false }
            pool.idle.append(easy)
            return true
        }
        if !keep { curl_easy_cleanup(easy) }
    }
}
