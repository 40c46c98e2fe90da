/// The upload bandwidth cap (`upload.max_rate`, `--max-rate`) for all transfers together: a token
/// bucket the curl-multi thread draws from in each read callback. A transfer that finds it empty
/// pauses (`CURL_READFUNC_PAUSE`) and is unpaused by the loop once tokens are back, first paused
/// first served; each grant is at most an equal share of the bucket, so no transfer starves.
///
/// Not `Sendable`: only the curl-multi thread touches it.
final class SendBudget {
    /// Bytes per second, all transfers together.
    let bytesPerSecond: Double
    /// What the bucket holds at most: a tenth of a second of sending, so a pause never lets a
    /// burst of more than that through, and at least one chunk.
    let capacity: Double
    /// The smallest grant worth a read (below it a transfer waits): 16 KiB, or the whole bucket
    /// at very low rates.
    let chunk: Int
    private var tokens: Double
    private var updated: ContinuousClock.Instant

    init(bytesPerSecond: Int64, now: ContinuousClock.Instant = .now) {
        self.bytesPerSecond = Double(bytesPerSecond)
        chunk = Int(min(16 * 1024, max(1, Double(bytesPerSecond) / 10)))
        capacity = max(Double(bytesPerSecond) / 10, Double(chunk))
        tokens = Double(chunk)
        updated = now
    }

    /// Takes up to `wanted` bytes for one of `sharing` transfers; 0 when the caller must wait.
    func grant(_ wanted: Int, sharing: Int, now: ContinuousClock.Instant = .now) -> Int {
        refill(now)
        let share = max(chunk, Int(capacity) / max(1, sharing))
        let allowed = min(wanted, share, Int(tokens))
        guard allowed >= min(wanted, chunk) else { return 0 }
        tokens -= Double(allowed)
        return allowed
    }

    /// How long until a chunk can be granted (zero when it can now).
    func waitForChunk(now: ContinuousClock.Instant = .now) -> Duration {
        refill(now)
        let missing = Double(chunk) - tokens
        guard missing > 0 else { return .zero }
        return .nanoseconds(Int64((missing / bytesPerSecond * 1e9).rounded(.up)))
    }

    private func refill(_ now: ContinuousClock.Instant) {
        let elapsed = updated.duration(to: now)
        guard elapsed > .zero else { return }
        let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
        tokens = min(capacity, tokens + seconds * bytesPerSecond)
        updated = now
    }
}

/// Bounds of `upload.max_rate`.
public enum SendBudgetLimits {
    /// Below 1 KB/s a single chunk would take longer than the stall timeout allows.
    public static let minimum: Int64 = 1000
}

/// Reads a rate as people write it: `5MB/s`, `500KB/s`, `2MiB/s`, `1.5M`, `800000` (bytes per
/// second); `0` for unlimited. K, M, G are powers of 1000; KiB, MiB, GiB powers of 1024.
public enum RateParser {
    public static func parse(_ text: String) -> Int64? {
        var text = text.trimmingCharacters(in: .whitespaces)
        for suffix in ["/s", "ps"] where text.lowercased().hasSuffix(suffix) { text = String(text.dropLast(suffix.count)) }
        let number = text.prefix { $0.isNumber || $0 == "." }
        let unit = text.dropFirst(number.count).trimmingCharacters(in: .whitespaces).lowercased()
        guard let value = Double(number), value >= 0, value.isFinite else { return nil }
        let scale: Double
        switch unit {
        case "", "b": scale = 1
        case "k", "kb": scale = 1e3
        case "m", "mb": scale = 1e6
        case "g", "gb": scale = 1e9
        case "kib": scale = 1024
        case "mib": scale = 1024 * 1024
        case "gib": scale = 1024 * 1024 * 1024
        default: return nil
        }
        return Int64(value * scale)
    }
}
