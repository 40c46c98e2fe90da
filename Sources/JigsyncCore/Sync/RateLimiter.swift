/// A client-side rate limit: a token bucket refilled at `rate` requests per second, held back
/// further when the server says its window is used up (`x-jigsaw-rate-limit-remaining: 0`, or a 429).
///
/// It only sleeps while a request is waiting for a token: an idle limiter costs nothing.
public actor RateLimiter {
    private var rate: Double
    private var tokens: Double
    private var refilledAt: ContinuousClock.Instant
    private var blockedUntil: ContinuousClock.Instant?
    private let clock = ContinuousClock()

    /// - Parameter requestsPerSecond: the API documents 50 per second per project.
    public init(requestsPerSecond: Double = 50) {
        rate = max(requestsPerSecond, 0.1)
        tokens = rate
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
            tokens = min(rate, tokens + rate * (Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18))
            refilledAt = now
            if tokens >= 1 {
                tokens -= 1
                return
            }
            try await Task.sleep(for: .milliseconds(Int64(((1 - tokens) / rate * 1000).rounded(.up))), clock: clock)
        }
    }

    /// Learns from an answer's rate-limit headers and from a 429's wait.
    public func observe(_ status: RateLimitStatus?, serverWait: Duration?) {
        if let status, status.limit > 0 {
            rate = min(rate, Double(status.limit))
        }
        if let serverWait, serverWait > .zero, status.map({ $0.remaining == 0 }) ?? true {
            let until = clock.now + serverWait
            if blockedUntil.map({ until > $0 }) ?? true { blockedUntil = until }
        }
    }
}
