/// Refuses a mass delete: more than `limit` remote deletes within `window` looks like an
/// unmounted disk or a vanished tree, not a person deleting files, so the rest are held back
/// (their rows say why) until someone looks.
struct DeleteGuard: Sendable {
    /// Default: 100 remote deletes per 60 s.
    static let defaultLimit = 100
    static let defaultWindow: Duration = .seconds(60)

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
