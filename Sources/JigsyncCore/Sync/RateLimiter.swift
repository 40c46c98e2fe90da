/// A client-side rate limit: requests paced evenly at `rate` per second, held back further when
/// the server says its window is used up (`x-jigsaw-rate-limit-remaining: 0`, or a 429).
///
/// The pacing allows no burst: the bucket holds one token, so two requests are never closer than
/// one interval, and it runs at `pacing` (99 %) of the limit: a server counting fixed one-second
/// windows (as the API's "50 requests per second" reads) then never sees one request too many in a
/// window, even when network jitter brings two arrivals a little closer than they were sent. A
/// burst of files at the limit goes out at ~49.5 per second with no 429, where a bucket that
/// starts full sends 50 at once and meets the window's end.
///
/// It only sleeps while a request is waiting for a token: an idle limiter costs nothing.
public actor RateLimiter {
    /// The share of the limit requests are paced at.
    static let pacing = 0.99
    private var rate: Double
    private var tokens: Double
    private var refilledAt: ContinuousClock.Instant
    private var blockedUntil: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    /// - Parameter requestsPerSecond: the API documents 50 per second per project.
    public init(requestsPerSecond: Double = 50) {
        rate = max(requestsPerSecond, 0.1) * Self.pacing
        tokens = 1
        refilledAt = clock.now
    }

    /// Waits until a request may be sent.
    public func acquire() async throws {
        while true {
            let now = clock.now
            if let until = blockedUntil, until > now {
                try await Task.sleep(until: until, clock: clock)
                continue
            }
            let elapsed = now - refilledAt
            tokens = min(1, tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            refilledAt = now
            if tokens >= 1 {
                tokens -= 1
                return
            }
            try await Task.sleep(for: .microseconds(Int64(((1 - tokens) / rate * 1_000_000).rounded(.up))), clock: clock)
        }
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
