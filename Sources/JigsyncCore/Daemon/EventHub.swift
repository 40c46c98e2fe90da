import CSys
import Foundation
import Glibc

/// One thing the daemon did, as `jigsync events` prints it (one JSON object per line).
public struct DaemonActivity: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case uploaded, failed, deleted, paused, resumed
        case actionDone = "action_done"
        case actionFailed = "action_failed"
        /// A follow client fell behind: `count` events were not delivered to it.
        case dropped
        /// The end of the backlog: what follows happens now.
        case live
    }

    public var event: Kind
    /// ISO 8601, milliseconds, UTC.
    public var time: String
    public var path: String?
    public var key: String?
    public var size: Int64?
    public var sha256: String?
    public var reason: String?
    public var count: Int?

    public init(_ event: Kind, path: String? = nil, key: String? = nil, size: Int64? = nil, sha256: String? = nil,
                reason: String? = nil, count: Int? = nil, time: Date = Date()) {
        self.event = event
        self.time = DaemonActivity.format(time)
        self.path = path
        self.key = key
        self.size = size
        self.sha256 = sha256
        self.reason = reason
        self.count = count
    }

    /// Without a Foundation formatter, whose time zone would map ICU's data into the daemon.
    static func format(_ date: Date) -> String { ISO8601Text.utc(date, fractional: true) }
}

/// Where the daemon tells what it does, for `jigsync events`: `publish` never blocks and never
/// waits for a reader (a lock, an append, an eventfd write per follower), so the data path pays
/// nothing for an observer, and nothing at all while nobody follows but the small backlog.
///
/// Each follower has a bounded buffer; one that falls behind loses the oldest undelivered events
/// and is told how many with a `dropped` event. The follower's own thread (a control-socket client
/// thread) blocks in `poll()` on its eventfd and its socket, so a slow or gone client holds only
/// itself.
///
/// `@unchecked Sendable`: `recent`, `followers` and `closed` are guarded by `lock`.
public final class EventHub: @unchecked Sendable {
    /// Events kept for a client that asks without `--follow` (and before a follow starts).
    static let backlog = 256
    /// Undelivered events a follower may have before the oldest are dropped.
    static let followerCapacity = 1024

    private let lock = NSLock()
    private var recent: [DaemonActivity] = []
    private var followers: [ObjectIdentifier: Follower] = [:]
    private var closed = false

    public init() {}

    public func publish(_ activity: DaemonActivity) {
        let current = lock.withLock { () -> [Follower] in
            recent.append(activity)
            if recent.count > Self.backlog { recent.removeFirst(recent.count - Self.backlog) }
            return Array(followers.values)
        }
        for follower in current { follower.offer(activity) }
    }

    /// The backlog, oldest first.
    func backlogEvents() -> [DaemonActivity] { lock.withLock { recent } }

    /// A new follower, with the backlog it starts from; nil once the hub is closed.
    func follow(capacity: Int = EventHub.followerCapacity) -> (Follower, [DaemonActivity])? {
        lock.withLock {
            guard !closed else { return nil }
            let follower = Follower(capacity: capacity)
            followers[ObjectIdentifier(follower)] = follower
            return (follower, recent)
        }
    }

    func unfollow(_ follower: Follower) {
        _ = lock.withLock { followers.removeValue(forKey: ObjectIdentifier(follower)) }
    }

    /// Ends every follow (at shutdown).
    public func close() {
        let all = lock.withLock { () -> [Follower] in
            closed = true
            defer { followers.removeAll() }
            return Array(followers.values)
        }
        for follower in all { follower.close() }
    }

    /// One follow client's buffer and wake-up.
    ///
    /// `@unchecked Sendable`: `buffer`, `dropped` and `isClosed` are guarded by `lock`; `wakeFD`
    /// is created in `init`, closed in `deinit`.
    final class Follower: @unchecked Sendable {
        let capacity: Int
        let wakeFD: Int32 = jigsync_eventfd()
        private let lock = NSLock()
        private var buffer: [DaemonActivity] = []
        private var dropped = 0
        private var isClosed = false

        init(capacity: Int) { self.capacity = capacity }
        deinit { if wakeFD >= 0 { Glibc.close(wakeFD) } }

        func offer(_ activity: DaemonActivity) {
            lock.withLock {
                if buffer.count >= capacity {
                    buffer.removeFirst()
                    dropped += 1
                }
                buffer.append(activity)
            }
            wake()
        }

        func close() {
            lock.withLock { isClosed = true }
            wake()
        }

        /// What is waiting (a `dropped` notice first when some were lost), and whether the hub closed.
        func take() -> (events: [DaemonActivity], closed: Bool) {
            var value: UInt64 = 0
            _ = read(wakeFD, &value, 8)
            return lock.withLock {
                var events = buffer
                if dropped > 0 {
                    events.insert(DaemonActivity(.dropped, reason: "this client fell behind; \(dropped) event(s) were not delivered", count: dropped), at: 0)
                }
                buffer.removeAll()
                dropped = 0
                return (events, isClosed)
            }
        }

        private func wake() {
            var one: UInt64 = 1
            _ = write(wakeFD, &one, 8)
        }
    }
}
