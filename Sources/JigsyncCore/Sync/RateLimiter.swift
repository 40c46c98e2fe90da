/// A client-side rate limit: requests paced evenly at `rate` per second, held back further when
/// the server says its window is used up (`x-jigsaw-rate-limit-remaining: 0`, or a 429).
///
/// Requests go out on a grid of slots one interval apart, with no burst, at `pacing` (99 %) of the
/// limit: a server counting fixed one-second windows (as the API's "50 requests per second" reads)
/// then never sees one request too many in a window, even when network jitter brings two arrivals
/// a little closer than they were sent. A request that wakes a little late keeps the grid (the
/// next slot is one interval after its slot, not after its wake), so the lateness of timers does
/// not add up; after a pause longer than one interval, the grid starts again from now. A burst of
/// files at the limit goes out at ~49.5 per second with no 429, where a bucket that starts full
/// sends 50 at once and meets the window's end.
///
/// It only sleeps while a request is waiting for its slot: an idle limiter costs nothing.
public actor RateLimiter {
    /// The share of the limit requests are paced at.
    static let pacing = 0.99
    private var rate: Double
    private var nextSlot: ContinuousClock.Instant
    private var blockedUntil: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    /// - Parameter requestsPerSecond: the API documents 50 per second per project.
    public init(requestsPerSecond: Double = 50) {
        rate = max(requestsPerSecond, 0.1) * Self.pacing
        nextSlot = clock.now
    }

    private var interval: Duration { .nanoseconds(Int64((1e9 / rate).rounded(.up))) }
    /// How far ahead of its slot a request may go: not at all at the API's rates (the grid is the
    /// point), a millisecond's worth at the rates of a lifted limit, so those never sleep.
    private var slack: Duration { interval < .milliseconds(1) ? .milliseconds(1) : .zero }

    /// Waits until a request may be sent.
    public func acquire() async throws {
        while true {
            let now = clock.now
            if let until = blockedUntil, until > now {
                try await Task.sleep(until: until, clock: clock)
                continue
            }
            if now >= nextSlot - slack {
                nextSlot = now - nextSlot < interval ? nextSlot + interval : now + interval
                return
            }
            try await Task.sleep(until: nextSlot, clock: clock)
        }
    }

    /// Waits until a request may be sent, then takes up to `count` slots that are free now (at
    /// least one): several at a lifted limit, where slots are microseconds apart; one at the API's
    /// rates, where the grid spaces every request. Returns how many were taken.
    public func acquire(upTo count: Int) async throws -> Int {
        try await acquire()
        var taken = 1
        let now = clock.now
        while taken < count, now >= nextSlot - slack {
            nextSlot = nextSlot + interval
            taken += 1
        }
        return taken
    }

    /// How many requests a worker may gather into one batch: `limit` where slots are less than a
    /// millisecond apart, one where the grid spaces them (a batch would only wait in line).
    public func batchCapacity(_ limit: Int) -> Int {
        slack > .zero ? limit : 1
    }

    /// Learns from an answer's rate-limit headers and from a 429's wait.
    public func observe(_ status: RateLimitStatus?, serverWait: Duration?) {
        if let status, status.limit > 0 {
            rate = min(rate, Double(status.limit) * Self.pacing)
        }
        if let serverWait, serverWait > .zero, status.map({ $0.remaining == 0 }) ?? true {
            let until = clock.now + serverWait
            if blockedUntil.map({ until > $0 }) ?? true { blockedUntil = until }
        }
    }
}
