/// The queue of due uploads that the workers draw from.
///
/// Jobs are taken in order of when they are due. Large files may occupy at most half the
/// workers, so a burst of small files is never stuck behind a few big ones. `take` returns nil
/// when nothing is left (nothing waiting, nothing in flight that could come back), when the
/// deadline passed, or after `stop`.
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
    private var inFlight = 0
    private var largeInFlight = 0
    private let maxLarge: Int
    private let deadline: ContinuousClock.Instant?
    private var stopped = false
    private let clock = ContinuousClock()

    init(workers: Int, deadline: ContinuousClock.Instant?) {
        maxLarge = max(1, workers / 2)
        self.deadline = deadline
    }

    func add(_ record: FileRecord, after delay: Duration = .zero) {
        let job = Job(record: record, due: clock.now + delay)
        if delay > .zero { delayed.append(job) } else { enqueueReady(job) }
    }

    /// Ends every `take` (a rejected key: nothing else can succeed).
    func stop() { stopped = true }

    /// The records still waiting (for the summary of a run that ran out of time).
    func remaining() -> [FileRecord] {
        (readySmall[readySmallHead...] + readyLarge[readyLargeHead...] + delayed).map(\.record)
    }

    func take() async -> Job? {
        while !stopped {
            let now = clock.now
            if let deadline, now >= deadline { return nil }
            promoteDelayed(now: now)
            if let job = nextReady() {
                inFlight += 1
                if job.isLarge { largeInFlight += 1 }
                return job
            }
            let readyCount = readySmall.count - readySmallHead + readyLarge.count - readyLargeHead
            if readyCount == 0 && delayed.isEmpty && inFlight == 0 { return nil }
            // Something is in flight (it may come back) or backing off: wait for the earliest due
            // time, and look again soon while transfers run.
            var wake = delayed.map(\.due).min() ?? (now + .milliseconds(50))
            if inFlight > 0 { wake = min(wake, now + .milliseconds(50)) }
            if let deadline { wake = min(wake, deadline) }
            try? await Task.sleep(until: wake, clock: clock)
        }
        return nil
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
        inFlight -= 1
        if job.isLarge { largeInFlight -= 1 }
    }
}
