import Foundation

/// Tells the outside what the daemon is doing: `STATUS=` to systemd and the `Attention` in the
/// lock file for `jigsync status`, each only when it changed, and at most once per
/// `minimumInterval` (latest wins): a burst of thousands of files costs a handful of messages,
/// and nothing on the data path ever waits for them.
///
/// `@unchecked Sendable`: every field is guarded by `lock`.
final class StatusReporter: @unchecked Sendable {
    /// At most one report per second: systemd shows the latest status, and a person reads slower.
    static let minimumInterval: Duration = .seconds(1)

    private let lock = NSLock()
    private let notifier: SystemdNotifier
    private let ledger: Ledger
    private let snapshot: @Sendable () async -> (status: String, attention: Attention)
    private var lastStatus = ""
    private var lastAttention: Attention?
    private var lastReport: ContinuousClock.Instant?
    private var scheduled: Task<Void, Never>?
    private var stopped = false

    /// - Parameter snapshot: reads the daemon's current status line and attention.
    init(notifier: SystemdNotifier, ledger: Ledger, snapshot: @escaping @Sendable () async -> (status: String, attention: Attention)) {
        self.notifier = notifier
        self.ledger = ledger
        self.snapshot = snapshot
    }

    /// Something changed: a report goes out now, or once the interval since the last has passed.
    func changed() {
        lock.withLock {
            guard scheduled == nil, !stopped else { return }
            let wait = lastReport.map { max(.zero, $0 + Self.minimumInterval - .now) } ?? .zero
            scheduled = Task { [weak self] in
                if wait > .zero { try? await Task.sleep(for: wait) }
                await self?.report()
            }
        }
    }

    /// Reports now (at start, after a reload) regardless of the interval.
    func reportNow() async {
        await report()
    }

    /// No more reports (shutdown); a scheduled one is cancelled.
    func stop() {
        lock.withLock {
            stopped = true
            scheduled?.cancel()
            scheduled = nil
        }
    }

    private func report() async {
        lock.withLock {
            scheduled = nil
            lastReport = .now
        }
        let (status, attention) = await snapshot()
        let (sendStatus, writeAttention) = lock.withLock { () -> (Bool, Bool) in
            guard !stopped else { return (false, false) }
            defer { lastStatus = status; lastAttention = attention }
            return (lastStatus != status, lastAttention != attention)
        }
        if sendStatus { notifier.status(status) }
        if writeAttention { ledger.setOwnerNote(attention.items.isEmpty ? nil : attention.encoded()) }
    }
}
