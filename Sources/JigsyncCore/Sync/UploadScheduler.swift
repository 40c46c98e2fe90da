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

    private var waiting: [Job] = []
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
        waiting.append(Job(record: record, due: clock.now + delay))
    }

    /// Ends every `take` (a rejected key: nothing else can succeed).
    func stop() { stopped = true }

    /// The records still waiting (for the summary of a run that ran out of time).
    func remaining() -> [FileRecord] { waiting.map(\.record) }

    func take() async -> Job? {
        while !stopped {
            let now = clock.now
            if let deadline, now >= deadline { return nil }
            if let index = waiting.indices
                .filter({ waiting[$0].due <= now && (!waiting[$0].isLarge || largeInFlight < maxLarge) })
                .min(by: { waiting[$0].due < waiting[$1].due }) {
                let job = waiting.remove(at: index)
                inFlight += 1
                if job.isLarge { largeInFlight += 1 }
                return job
            }
            if waiting.isEmpty && inFlight == 0 { return nil }
            // Something is in flight or backing off: wait for the earliest due time (or a finish).
            var wake = waiting.map(\.due).min() ?? (now + .milliseconds(50))
            if inFlight > 0 { wake = min(wake, now + .milliseconds(50)) }
            if let deadline { wake = min(wake, deadline) }
            try? await Task.sleep(until: wake, clock: clock)
        }
        return nil
    }

    func finished(_ job: Job) {
        inFlight -= 1
        if job.isLarge { largeInFlight -= 1 }
    }
}
