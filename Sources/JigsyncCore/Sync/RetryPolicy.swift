/// When to try again after a passing failure: exponential backoff with full jitter.
///
/// The n-th retry waits a random time between 0 and min(cap, base × 2ⁿ⁻¹) (AWS's "full jitter",
/// which spreads many clients' retries best), but never less than the wait the server asked for.
public struct RetryPolicy: Sendable {
    public var base: Duration = .seconds(1)
    public var cap: Duration = .seconds(300)

    public init(base: Duration = .seconds(1), cap: Duration = .seconds(300)) {
        self.base = base
        self.cap = cap
    }

    public func delay<G: RandomNumberGenerator>(attempt: Int, serverWait: Duration?, using generator: inout G) -> Duration {
        let exponent = min(max(attempt - 1, 0), 30)
        let ceiling = min(cap, base * (1 << exponent))
        let ceilingMilliseconds = max(1, ceiling.components.seconds * 1000 + ceiling.components.attoseconds / 1_000_000_000_000_000)
        let jittered = Duration.milliseconds(Int64.random(in: 0...ceilingMilliseconds, using: &generator))
        return max(jittered, serverWait ?? .zero)
    }

    public func delay(attempt: Int, serverWait: Duration?) -> Duration {
        var generator = SystemRandomNumberGenerator()
        return delay(attempt: attempt, serverWait: serverWait, using: &generator)
    }
}
