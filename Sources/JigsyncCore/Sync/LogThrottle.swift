import Foundation

/// Lets a repeated message about one path through at most once per `interval`: a file retried
/// every few seconds during a long failure logs its retry once a minute at `info`, not every time.
///
/// `@unchecked Sendable`: `last` is guarded by `lock` (workers share it).
final class LogThrottle: @unchecked Sendable {
    /// Once a minute per file: enough to follow a failure, few enough to read.
    static let defaultInterval: Duration = .seconds(60)
    /// Past this many remembered paths the stale ones are dropped, so memory stays bounded.
    static let forgetBeyond = 10_000

    private let interval: Duration
    private let lock = NSLock()
    private var last: [PathBytes: ContinuousClock.Instant] = [:]

    init(interval: Duration = LogThrottle.defaultInterval) {
        self.interval = interval
    }

    /// Whether a message about `key` may be logged now (and notes that it was).
    func allows(_ key: PathBytes, now: ContinuousClock.Instant = .now) -> Bool {
        lock.withLock {
            if let previous = last[key], now - previous < interval { return false }
            if last.count > Self.forgetBeyond { last = last.filter { now - $0.value < interval } }
            last[key] = now
            return true
        }
    }
}
