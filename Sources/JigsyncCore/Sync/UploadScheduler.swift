/// The queue of due uploads that the workers draw from.
///
/// Jobs are taken in order of when they are due. Large files may occupy at most half the
/// workers, so a burst of small files is never stuck behind a few big ones. A worker with nothing
/// to take waits on a continuation, woken by new work, a finished job or the earliest backoff
/// expiring: no polling, so an idle daemon costs nothing. `take` returns nil after `stop`, when
/// the deadline passed, or (for a one-shot sync, not `continuous`) when nothing is left.
/// While paused (the service rejected the key), only one probe job at a time is handed out.
actor UploadScheduler {
    struct Job: Sendable {
        var record: FileRecord
        var due: ContinuousClock.Instant
        var isLarge: Bool { record.size > UploadScheduler.largeFileBytes }
    }

    /// Above this a file counts as large: at 50 MB/s it holds a worker for a fifth of a second or more.
    static let largeFileBytes: Int64 = 8 * 1024 * 1024

    /// Jobs due now, first in first out, small and large apart; `*Head` is the next to take.
    private var readySmall: [Job] = []
    private var readySmallHead = 0
    private var readyLarge: [Job] = []
    private var readyLargeHead = 0
    /// Jobs backing off until their due time (few, compared with the ready ones).
    private var delayed: [Job] = []
    /// "folder/path" of every job waiting (ready or delayed), so `contains` is a lookup, not a scan.
    /// By bytes: names equal only after Unicode normalization are two files.
    private var queued: Set<PathBytes> = []
    private var inFlight = 0
    private var largeInFlight = 0
    private let maxLarge: Int
    private let deadline: ContinuousClock.Instant?
    private var stopped = false
    private let continuous: Bool
    private let clock = ContinuousClock()
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var timer: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
    /// Why uploads are paused, if they are; a probe goes out at `probeAt`.
    private(set) var pauseReason: String?
    private var probeAt: ContinuousClock.Instant?
    private var probeInFlight = false
    private var pauseCount = 0
    /// Set by an operator (`jigsync pause`): nothing is handed out, not even probes, until `release()`.
    private(set) var heldReason: String?
    /// What is being sent now: "folder/path" → size.
    private var running: [PathBytes: Int64] = [:]

    init(workers: Int, deadline: ContinuousClock.Instant?, continuous: Bool = false) {
        maxLarge = max(1, workers / 2)
        self.deadline = deadline
        self.continuous = continuous
    }

    func add(_ record: FileRecord, after delay: Duration = .zero) {
        let job = Job(record: record, due: clock.now + delay)
        queued.insert(Self.key(record.folder, record.path))
        if delay > .zero { delayed.append(job) } else { enqueueReady(job) }
        wakeAll()
    }

    /// Ends every `take` (shutdown, or a rejected key in a one-shot sync).
    func stop() {
        stopped = true
        wakeAll()
    }

    /// Holds uploads back: the service rejected the key or endpoint. One probe goes out after a
    /// backoff that grows with each rejected probe. Returns the wait, and whether this started the pause.
    func pause(_ reason: String, policy: RetryPolicy) -> (probeAfter: Duration, started: Bool) {
        let started = pauseReason == nil
        pauseCount += 1
        let probeAfter = max(policy.delay(attempt: pauseCount, serverWait: nil), .seconds(1))
        pauseReason = reason
        probeAt = clock.now + probeAfter
        probeInFlight = false
        wakeAll()
        return (probeAfter, started)
    }

    /// An upload went through: the pause (if any) is over.
    func resume() {
        guard pauseReason != nil else { return }
        pauseReason = nil
        pauseCount = 0
        probeAt = nil
        probeInFlight = false
        wakeAll()
    }

    /// Jobs waiting plus in flight.
    func depth() -> (waiting: Int, inFlight: Int) {
        (readySmall.count - readySmallHead + readyLarge.count - readyLargeHead + delayed.count, inFlight)
    }

    /// Whether a job for this row is already queued or backing off (to avoid queuing it twice).
    func contains(folder: String, path: String) -> Bool {
        queued.contains(Self.key(folder, path))
    }

    /// The records still waiting (for the summary of a run that ran out of time).
    func remaining() -> [FileRecord] {
        (readySmall[readySmallHead...] + readyLarge[readyLargeHead...] + delayed).map(\.record)
    }

    func take() async -> Job? {
        while !stopped {
            let now = clock.now
            if let deadline, now >= deadline { return nil }
            promoteDelayed(now: now)
            var wake = delayed.map(\.due).min()
            if heldReason != nil {
                // Held by an operator: wait for release().
            } else if let reason = pauseReason {
                _ = reason
                if !probeInFlight, let probeAt, probeAt <= now, let job = nextReady() {
                    probeInFlight = true
                    return started(job)
                }
                if !probeInFlight, let probeAt { wake = min(wake ?? probeAt, probeAt) }
            } else if let job = nextReady() {
                return started(job)
            }
            let readyCount = readySmall.count - readySmallHead + readyLarge.count - readyLargeHead
            if !continuous && readyCount == 0 && delayed.isEmpty && inFlight == 0 { return nil }
            if let deadline { wake = min(wake ?? deadline, deadline) }
            await waitForChange(until: wake)
        }
        return nil
    }

    private static func key(_ folder: String, _ path: String) -> PathBytes { PathBytes(folder + "/" + path) }

    /// Holds every upload back until `release()` (an operator's `jigsync pause`).
    func hold(_ reason: String) {
        heldReason = reason
        wakeAll()
    }

    /// Ends an operator's hold, and a rejection pause too (the next upload is the probe).
    func release() {
        heldReason = nil
        if pauseReason != nil { probeAt = clock.now }
        wakeAll()
    }

    /// The uploads in flight, by "folder/path", with their sizes.
    func inFlightJobs() -> [PathBytes: Int64] { running }

    private func started(_ job: Job) -> Job {
        queued.remove(Self.key(job.record.folder, job.record.path))
        running[Self.key(job.record.folder, job.record.path)] = job.record.size
        inFlight += 1
        if job.isLarge { largeInFlight += 1 }
        return job
    }

    /// Suspends until `add`, `finished`, `stop`, `pause`/`resume`, or `until` passes.
    private func waitForChange(until: ContinuousClock.Instant?) async {
        if let until, timer.map({ until < $0.at || $0.task.isCancelled }) ?? true {
            timer?.task.cancel()
            let clock = self.clock
            timer = (until, Task { [weak self] in
                try? await Task.sleep(until: until, clock: clock)
                await self?.timerFired()
            })
        }
        await withCheckedContinuation { waiters.append($0) }
    }

    private func timerFired() {
        timer = nil
        wakeAll()
    }

    private func wakeAll() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
    }

    private func enqueueReady(_ job: Job) {
        if job.isLarge { readyLarge.append(job) } else { readySmall.append(job) }
    }

    private func promoteDelayed(now: ContinuousClock.Instant) {
        guard !delayed.isEmpty else { return }
        var still: [Job] = []
        for job in delayed.sorted(by: { $0.due < $1.due }) {
            if job.due <= now { enqueueReady(job) } else { still.append(job) }
        }
        delayed = still
    }

    /// The earlier-due of the next small and the next large job; large ones only while fewer than
    /// half the workers carry one.
    private func nextReady() -> Job? {
        let small = readySmallHead < readySmall.count ? readySmall[readySmallHead] : nil
        let large = readyLargeHead < readyLarge.count && largeInFlight < maxLarge ? readyLarge[readyLargeHead] : nil
        let takeLarge: Bool
        switch (small, large) {
        case (nil, nil): return nil
        case (_?, nil): takeLarge = false
        case (nil, _?): takeLarge = true
        case (let s?, let l?): takeLarge = l.due < s.due
        }
        if takeLarge {
            readyLargeHead += 1
            compact(&readyLarge, &readyLargeHead)
            return large
        }
        readySmallHead += 1
        compact(&readySmall, &readySmallHead)
        return small
    }

    /// Drops taken jobs once they are most of the array, so memory follows the queue's length.
    private func compact(_ queue: inout [Job], _ head: inout Int) {
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }

    func finished(_ job: Job) {
        running.removeValue(forKey: Self.key(job.record.folder, job.record.path))
        inFlight -= 1
        if job.isLarge { largeInFlight -= 1 }
        probeInFlight = false
        wakeAll()
    }
}
