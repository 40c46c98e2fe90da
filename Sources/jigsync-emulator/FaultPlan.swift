import Foundation

/// Decides, per request, which fault (if any) the emulator injects, and enforces the rate limit.
///
/// Draws come from a seeded generator so a failing test can be replayed with the same `--seed`.
/// `@unchecked Sendable`: every field is guarded by `lock`.
final class FaultPlan: @unchecked Sendable {
    enum Fault {
        /// 500 with a JSON error.
        case fail
        /// Close the connection in the middle of the request body.
        case reset
        /// 429 as if the project's rate limit was hit, with `Retry-After: N` when `retryAfter` is set
        /// (servers send it on some 429s and not on others; a client must take both).
        case throttle(retryAfter: Int?)
    }

    struct Rates {
        var fail = 0.0
        var reset = 0.0
        var throttle = 0.0
        /// The fraction of injected 429s that carry `Retry-After: 1`.
        var retryAfter = 0.0
    }

    /// The API's documented limit, reported in headers even when not enforced.
    static let documentedLimit = 50

    private let lock = NSLock()
    private var generator: SplitMix64
    private let rates: Rates
    /// Requests per second enforced; nil reports the documented limit without enforcing it.
    private let rateLimit: Int?
    private var windowStart: Int64 = 0
    private var windowCount = 0
    /// What was injected since start, by kind, for `GET /_emulator/faults` (a soak reports it).
    private var injected: [String: Int] = [:]

    init(rates: Rates, rateLimit: Int?, seed: UInt64) {
        self.rates = rates
        self.rateLimit = rateLimit
        self.generator = SplitMix64(seed: seed)
    }

    /// The fault to inject into this request, if any.
    func draw() -> Fault? {
        lock.withLock {
            let roll = Double(generator.next() >> 11) / Double(1 << 53)
            if roll < rates.fail {
                injected["500", default: 0] += 1
                return .fail
            }
            if roll < rates.fail + rates.reset {
                injected["reset", default: 0] += 1
                return .reset
            }
            if roll < rates.fail + rates.reset + rates.throttle {
                // Drawn only when asked for, so a seed replays the same faults as before the option.
                let withHeader = rates.retryAfter > 0 && Double(generator.next() >> 11) / Double(1 << 53) < rates.retryAfter
                injected[withHeader ? "429_retry_after" : "429", default: 0] += 1
                return .throttle(retryAfter: withHeader ? 1 : nil)
            }
            return nil
        }
    }

    /// The faults injected so far, by kind (`500`, `reset`, `429`, `429_retry_after`, `429_rate_limit`).
    func injectedCounts() -> [String: Int] {
        lock.withLock { injected }
    }

    /// Counts a request in the current one-second window.
    /// - Returns: the rate-limit headers' values and whether the request is over the limit.
    func admit(nowMilliseconds now: Int64) -> (limit: Int, remaining: Int, resetMilliseconds: Int64, allowed: Bool) {
        lock.withLock {
            let start = now - now % 1000
            if start != windowStart {
                windowStart = start
                windowCount = 0
            }
            windowCount += 1
            let limit = rateLimit ?? Self.documentedLimit
            let allowed = rateLimit == nil || windowCount <= limit
            if !allowed { injected["429_rate_limit", default: 0] += 1 }
            return (limit, max(0, limit - windowCount), start + 1000, allowed)
        }
    }
}

/// A small, fast, seedable generator (Steele, Lea and Flood's SplitMix64).
struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
