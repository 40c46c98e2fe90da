/// The queue of due work (uploads, and the remote deletes a delete policy owes) that the
/// workers draw from.
///
/// Jobs are taken in order of when they are due. Large files may occupy every worker (four large
/// files go up four at once); while they hold more than half of them, one more worker, the small
/// lane, takes small jobs, so a burst of small files is never stuck behind a few big ones. A path is queued at
/// most once and never sent twice at the same time: adding a path already waiting updates its
/// row; adding one in flight marks it dirty, and it is queued once more when that transfer ends.
/// A worker with nothing to take waits on a continuation, woken by new work, a finished job or
/// the earliest backoff expiring: no polling, so an idle daemon costs nothing. `take` returns nil
/// after `stop`, or (for a one-shot sync, not `continuous`) when nothing is left.
/// While paused (the service rejected the key), only one probe job at a time is handed out.
actor UploadScheduler {
    struct Job: Sendable {
        var record: FileRecord
        var due: ContinuousClock.Instant
        var isDelete: Bool { record.state == .deleting }
        var isLarge: Bool { !isDelete && record.size > UploadScheduler.largeFileBytes }
        var key: PathBytes { UploadScheduler.key(record) }
    }

    /// A worker's share of the ready small uploads is at least this many (when there are): a few
    /// files in one chain cost about what one does, and the other workers take what comes next.
    static let smallestShare = 8

    /// Above this a file counts as large: at 50 MB/s it holds a worker for a fifth of a second or more.
    static let largeFileBytes: Int64 = 8 * 1024 * 1024

    /// Keys due now, first in first out, small and large apart; `*Head` is the next to take. A key
    /// whose row left `waiting` meanwhile (taken through another entry, or forgotten) is skipped.
    private var readySmall: [Entry] = []
    private var readySmallHead = 0
    private var readyLarge: [Entry] = []
    private var readyLargeHead = 0
    /// Keys backing off until their due time (few, compared with the ready ones).
    private var delayed: [Entry] = []
    /// The latest row of every key waiting (ready or delayed): membership is a lookup, not a scan.
    /// Keyed by bytes: names equal only after Unicode normalization are two files.
    private var waiting: [PathBytes: FileRecord] = [:]
    /// The rows being sent now, by key (what a plan compares a fresh stat with).
    private var running: [PathBytes: FileRecord] = [:]
    /// Keys that changed while in flight: queued again (with this row) when the transfer ends.
    private var dirty: [PathBytes: (record: FileRecord, delay: Duration)] = [:]
    /// Paths an event named while they were in flight: looked at again (through `onRecheck`)
    /// once the transfer has recorded its outcome, so the two never write one row in a race.
    private var recheck: [PathBytes: WatchedPath] = [:]
    private var onRecheck: (@Sendable ([WatchedPath]) -> Void)?
    private var largeInFlight = 0
    private let workers: Int
    private var stopped = false
    private let continuous: Bool
    private let clock = ContinuousClock()
    private var waiters: [CheckedContinuation<Void, Never>] = []
    /// The small lane's worker while it waits (woken apart: it cannot take what the others can).
    private var laneWaiter: CheckedContinuation<Void, Never>?
    private var timer: (at: ContinuousClock.Instant, task: Task<Void, Never>)?
    /// How long a failing file is retried, counted from its first failure (nil: for ever).
    private let retryFor: Duration?
    private var firstFailure: [PathBytes: ContinuousClock.Instant] = [:]
    /// Why uploads are paused, if they are; a probe goes out at `probeAt`.
    private(set) var pauseReason: String?
    private var pausedSince: ContinuousClock.Instant?
    private var probeAt: ContinuousClock.Instant?
    private var probeInFlight = false
    private var pauseCount = 0
    /// Set by an operator (`jigsync pause`): nothing is handed out, not even probes, until `release()`.
    private(set) var heldReason: String?
    /// Why the ledger cannot record now: nothing is handed out (what is sent must be recorded)
    /// until its writes work again. Kept apart from an operator's hold, which `resume` ends.
    private(set) var ledgerFailure: String?
    private var ledgerSequence = -1

    private struct Entry {
        var key: PathBytes
        var due: ContinuousClock.Instant
        var isLarge: Bool
    }

    init(workers: Int, continuous: Bool = false, retryFor: Duration? = nil) {
        self.workers = max(1, workers)
        self.continuous = continuous
        self.retryFor = retryFor
    }

    static func key(_ record: FileRecord) -> PathBytes { PathBytes(record.folder + "/" + record.path) }

    /// Queues `record` to be sent after `delay` (or updates the queued row of the same path).
    func add(_ record: FileRecord, after delay: Duration = .zero) {
        let key = Self.key(record)
        if running[key] != nil {
            dirty[key] = (record, delay)
            return
        }
        let isNew = waiting.updateValue(record, forKey: key) == nil
        guard isNew else { return }   // already queued: the newer row is what will be sent
        var delay = delay
        if delay == .zero, record.state != .deleting, let held = heldWhileChanging(key) { delay = held }
        let isLarge = record.state != .deleting && record.size > Self.largeFileBytes
        let entry = Entry(key: key, due: clock.now + delay, isLarge: isLarge)
        if delay > .zero { delayed.append(entry) } else { enqueueReady(entry) }
        // One job for one worker (a delayed one: one worker sets the shared timer, whose firing
        // wakes them all). Waking every idle worker per file cost a resume each for nothing.
        wakeOne()
    }

    /// Queues a row a plan found due, unless the same content (same stat) is being sent right now.
    /// Returns whether it was queued. `record` is called with the row before any worker can take
    /// it, so the planner's `pending` row is written before the worker's `uploading` one.
    func offer(_ record: FileRecord, recording: (FileRecord) -> Void = { _ in }) -> Bool {
        let key = Self.key(record)
        if let sending = running[key], sending.matches(record.stat) { return false }
        recording(record)
        add(record)
        return true
    }

    /// `offer` for the due rows of one plan: those queued are handed to `recording` together
    /// (one ledger write for the batch) before any worker can take one. Returns how many.
    func offer(_ records: [FileRecord], recording: ([FileRecord]) -> Void) -> Int {
        let queued = records.filter { record in
            guard let sending = running[Self.key(record)] else { return true }
            return !sending.matches(record.stat)
        }
        guard !queued.isEmpty else { return 0 }
        recording(queued)
        for record in queued { add(record) }
        return queued.count
    }

    /// Where paths named while in flight are sent once their transfer ends (the daemon's loop).
    func setRecheckHandler(_ handler: @escaping @Sendable ([WatchedPath]) -> Void) { onRecheck = handler }

    /// Of `watched`, the paths to look at now: those in flight are noted to be looked at again
    /// when their transfer ends (the event is replayed then, against the row the transfer recorded).
    func notInFlight(_ watched: [WatchedPath]) -> [WatchedPath] {
        guard onRecheck != nil, !running.isEmpty else { return watched }
        return watched.filter { path in
            let key = PathBytes(path.folder.path + "/" + path.path)
            guard running[key] != nil else { return true }
            recheck[key] = path
            return false
        }
    }

    /// Queues a failed attempt again after `delay`, unless the file has been failing for longer
    /// than `retryFor` (a one-shot sync gives up on it then; its row stays due). Returns whether
    /// it was queued.
    func retry(_ record: FileRecord, after delay: Duration) -> Bool {
        let key = Self.key(record)
        let first = firstFailure[key] ?? clock.now
        firstFailure[key] = first
        if let retryFor, clock.now + delay - first > retryFor { return false }
        add(record, after: delay)
        return true
    }

    /// A path went through: its failures are forgotten, and (in the daemon) when it was stored is
    /// noted, for the hold on a file that keeps changing.
    func succeeded(_ record: FileRecord) {
        let key = Self.key(record)
        firstFailure.removeValue(forKey: key)
        guard record.state != .deleting else { return }
        noteSent(key)
    }

    /// A send wasted because the file changed while it went out: queued again, and in the daemon
    /// counted as a send for the hold, so a file written to faster than it can be sent (a
    /// database in use) is tried at growing intervals instead of in a loop. A sync sends it again
    /// at once, as a failure of the file: once it has kept changing for `retryFor` it is left due
    /// (the run ends). Returns whether it was queued.
    func changedWhileSending(_ record: FileRecord) -> Bool {
        guard continuous else { return retry(record, after: .zero) }
        noteSent(Self.key(record))
        add(record)
        return true
    }

    private func noteSent(_ key: PathBytes) {
        guard continuous else { return }
        let now = clock.now
        var streak = 0
        if let last = recentlySent[key], last.at.duration(to: now) < Self.changingHold(streak: last.streak) * 2 {
            streak = last.streak + 1   // sent again soon after its hold ended: still changing
        }
        recentlySent[key] = (now, streak)
        if recentlySent.count >= recentlySentSweepAt {
            // Past twice the longest hold an entry says nothing (the streak would end): dropped,
            // so the table holds the paths sent in the last minute, not every path ever sent.
            let horizon = Self.changingHoldLongest * 2
            recentlySent = recentlySent.filter { $0.value.at.duration(to: now) < horizon }
            recentlySentSweepAt = max(Self.recentlySentSweepFloor, recentlySent.count * 2)
        }
    }

    /// A file that keeps changing (a log appended to, a database written in place) is not sent
    /// after every settle: once sent, its next upload waits until `changingHold(streak:)` has
    /// passed since that send — 1 s, then doubling with each send that follows its hold's end
    /// closely, up to 30 s — and the latest version always goes up when the hold ends (the
    /// queued row is updated, never dropped). A file left alone for twice its hold starts over:
    /// an edit now and then is sent at once.
    static let changingHoldFirst: Duration = .seconds(1)
    static let changingHoldLongest: Duration = .seconds(30)
    private static let recentlySentSweepFloor = 1024

    static func changingHold(streak: Int) -> Duration {
        min(changingHoldFirst * (1 << min(streak, 16)), changingHoldLongest)
    }

    /// When each path was last sent (stored, or wasted by a change; the daemon only), and how
    /// many of its sends in a row followed the end of their hold closely.
    private var recentlySent: [PathBytes: (at: ContinuousClock.Instant, streak: Int)] = [:]
    private var recentlySentSweepAt = recentlySentSweepFloor

    /// How long a path queued now waits because it was sent moments ago, or nil.
    private func heldWhileChanging(_ key: PathBytes) -> Duration? {
        guard let last = recentlySent[key] else { return nil }
        let left = Self.changingHold(streak: last.streak) - last.at.duration(to: clock.now)
        return left > .zero ? left : nil
    }

    /// Drops every queued job of `folder` (a reload removed it); transfers in flight finish.
    func forget(folder: FolderID) {
        let prefix = Array((folder.path + "/").utf8)
        func inFolder(_ key: PathBytes) -> Bool { key.string.utf8.starts(with: prefix) }
        for key in waiting.keys where inFolder(key) { waiting.removeValue(forKey: key) }
        for key in dirty.keys where inFolder(key) { dirty.removeValue(forKey: key) }
        wakeAll()
    }

    /// Ends every `take` (shutdown, or a rejected key in a one-shot sync).
    func stop() {
        stopped = true
        timer?.task.cancel()
        timer = nil
        wakeAll()
    }

    /// Holds uploads back: the service rejected the key or endpoint, or does not answer. One probe
    /// goes out after a backoff that grows with each failed probe. A one-shot run pauses for at
    /// most `retryFor`: its last probe goes out as that ends, and a failure after it stops the run
    /// (`ended` is then the pause's length; every job stays due). Returns the wait before the
    /// next probe, and whether this started the pause.
    func pause(_ reason: String, policy: RetryPolicy) -> (probeAfter: Duration, started: Bool, ended: Duration?) {
        let now = clock.now
        let started = pauseReason == nil
        if started { pausedSince = now }
        pauseCount += 1
        var probeAfter = max(policy.delay(attempt: pauseCount, serverWait: nil), .seconds(1))
        if !continuous, let retryFor, let pausedSince {
            let lasted = pausedSince.duration(to: now)
            if lasted >= retryFor {
                pauseReason = reason
                stop()
                return (.zero, started, lasted)
            }
            probeAfter = min(probeAfter, retryFor - lasted)
        }
        pauseReason = reason
        probeAt = now + probeAfter
        probeInFlight = false
        wakeAll()
        return (probeAfter, started, nil)
    }

    /// A request was answered: the pause (if any) is over. Returns the pause that ended, with
    /// how long it lasted and how many jobs it held, for the one line that says so.
    @discardableResult
    func resume() -> (reason: String, lasted: Duration, held: Int)? {
        unanswered = 0
        guard let reason = pauseReason else { return nil }
        let lasted = pausedSince.map { $0.duration(to: clock.now) } ?? .zero
        pauseReason = nil
        pausedSince = nil
        pauseCount = 0
        probeAt = nil
        probeInFlight = false
        wakeAll()
        return (reason, lasted, waiting.count + dirty.count + running.count)
    }

    /// Requests in a row that got no answer at all (refused, unresolved, TLS, timed out).
    private var unanswered = 0
    /// After this many in a row the service counts as unreachable: one condition, not a failure
    /// per file (a single lost connection is a passing failure of that file).
    static let unansweredBeforePause = 3

    /// A request got no answer at all. Returns true when the service now counts as unreachable
    /// (or already did, while paused): the caller pauses instead of retrying the file alone.
    func noAnswer() -> Bool {
        unanswered += 1
        return unanswered >= Self.unansweredBeforePause || pauseReason != nil
    }

    /// A request got an HTTP answer (even an error): the service is reachable.
    func answered() { unanswered = 0 }

    /// Jobs waiting (ready, backing off, or due again after their transfer) and in flight.
    func depth() -> (waiting: Int, inFlight: Int) {
        (waiting.count + dirty.count, running.count)
    }

    /// Whether this path is queued, backing off or in flight.
    func contains(folder: String, path: String) -> Bool {
        let key = PathBytes(folder + "/" + path)
        return waiting[key] != nil || running[key] != nil
    }

    /// The records still waiting (for the summary of a run that ended).
    func remaining() -> [FileRecord] { Array(waiting.values) + dirty.values.map(\.record) }

    /// Up to `limit` jobs for one worker (empty when there will be no more): the next job due,
    /// and when it is a small upload, more small uploads due after it — a worker's share of the
    /// ready ones, so the other workers get theirs. A delete or a large file is always alone.
    /// - Parameter lane: for the small lane's worker: small jobs only, and only while large
    ///   files hold more than half the workers.
    func take(upTo limit: Int, lane: Bool = false) async -> [Job] {
        guard let first = await takeOne(lane: lane) else { return [] }
        guard limit > 1, !first.isDelete, !first.isLarge, pauseReason == nil else { return [first] }
        let ready = readySmall.count - readySmallHead
        let share = min(limit, max(min(ready + 1, Self.smallestShare), ready / workers))
        var jobs = [first]
        while jobs.count < share, let job = nextSmallUpload() { jobs.append(started(job)) }
        return jobs
    }

    /// Whether the small lane is open: large transfers hold more than half the workers.
    private var laneOpen: Bool { largeInFlight * 2 > workers }

    private func takeOne(lane: Bool) async -> Job? {
        while !stopped {
            let now = clock.now
            promoteDelayed(now: now)
            var wake = delayed.map(\.due).min()
            if heldReason != nil || ledgerFailure != nil {
                // Held by an operator (until release()) or by the ledger (until it writes again).
            } else if pauseReason != nil {
                if !lane, !probeInFlight, let probeAt, probeAt <= now, let job = nextReady() {
                    probeInFlight = true
                    return started(job)
                }
                if !lane, !probeInFlight, let probeAt { wake = min(wake ?? probeAt, probeAt) }
            } else if lane {
                if laneOpen, let job = nextReady(smallOnly: true) { return started(job) }
            } else if let job = nextReady() {
                return started(job)
            }
            if !continuous && waiting.isEmpty && dirty.isEmpty && running.isEmpty { return nil }
            await waitForChange(until: wake, lane: lane)
        }
        return nil
    }

    /// Holds every upload back until `release()` (an operator's `jigsync pause`).
    func hold(_ reason: String) {
        heldReason = reason
        wakeAll()
    }

    /// Follows the ledger's writes: held while they fail, handed out again once they work. States
    /// older than one already applied are ignored (they come through separate tasks). A one-shot
    /// sync has nobody to wait for the disk: it stops, and its rows stay due.
    func ledgerWrites(_ state: LedgerWriteState) {
        guard state.sequence >= ledgerSequence else { return }
        ledgerSequence = state.sequence
        ledgerFailure = state.failure.map(\.description)
        if ledgerFailure != nil && !continuous { stop() }
        wakeAll()
    }

    /// Ends an operator's hold, and a rejection pause too (the next upload is the probe).
    func release() {
        heldReason = nil
        if pauseReason != nil { probeAt = clock.now }
        wakeAll()
    }

    /// The uploads in flight, by "folder/path", with their sizes.
    func inFlightJobs() -> [PathBytes: Int64] { running.mapValues(\.size) }

    private func started(_ job: Job) -> Job {
        running[job.key] = job.record
        if job.isLarge {
            largeInFlight += 1
            if laneOpen { wakeLane() }
        }
        return job
    }

    /// The jobs of one `take` have ended (their outcomes recorded).
    func finished(_ jobs: [Job]) {
        var rechecks: [WatchedPath] = []
        for job in jobs {
            running.removeValue(forKey: job.key)
            if job.isLarge { largeInFlight -= 1 }
            // Queued again even after `stop`: nothing takes it then, but `remaining()` lists it.
            if let again = dirty.removeValue(forKey: job.key) { add(again.record, after: again.delay) }
            if let watched = recheck.removeValue(forKey: job.key), !stopped { rechecks.append(watched) }
        }
        probeInFlight = false
        if !rechecks.isEmpty { onRecheck?(rechecks) }
        // Waiters are woken only when the end of these jobs can change what they may do: a large
        // job's slot, a pause's probe, or a one-shot sync that may be done. (A small job's end
        // frees nothing a waiter waits for; what it queues again wakes a worker through `add`.)
        if !continuous || jobs.contains(where: \.isLarge) || pauseReason != nil || heldReason != nil { wakeAll() }
    }

    /// Suspends until `add`, `finished`, `stop`, `pause`/`resume`, or `until` passes.
    private func waitForChange(until: ContinuousClock.Instant?, lane: Bool) async {
        if let until, timer.map({ until < $0.at || $0.task.isCancelled }) ?? true {
            timer?.task.cancel()
            let clock = self.clock
            timer = (until, Task { [weak self] in
                do { try await Task.sleep(until: until, clock: clock) } catch { return }
                await self?.timerFired()
            })
        }
        if lane {
            await withCheckedContinuation { laneWaiter = $0 }
        } else {
            await withCheckedContinuation { waiters.append($0) }
        }
    }

    private func timerFired() {
        timer = nil
        wakeAll()
    }

    private func wakeOne() {
        if !waiters.isEmpty { waiters.removeFirst().resume() }
        if laneOpen { wakeLane() }
    }

    private func wakeLane() {
        laneWaiter?.resume()
        laneWaiter = nil
    }

    private func wakeAll() {
        let woken = waiters
        waiters.removeAll()
        for waiter in woken { waiter.resume() }
        wakeLane()
    }

    private func enqueueReady(_ entry: Entry) {
        if entry.isLarge { readyLarge.append(entry) } else { readySmall.append(entry) }
    }

    private func promoteDelayed(now: ContinuousClock.Instant) {
        guard !delayed.isEmpty else { return }
        var still: [Entry] = []
        for entry in delayed.sorted(by: { $0.due < $1.due }) {
            if entry.due <= now { enqueueReady(entry) } else { still.append(entry) }
        }
        delayed = still
    }

    /// The earlier-due of the next small and the next large job; a large one only while a worker
    /// carries none. Entries whose key is no longer waiting are dropped on the way.
    private func nextReady(smallOnly: Bool = false) -> Job? {
        while true {
            let small = readySmallHead < readySmall.count ? readySmall[readySmallHead] : nil
            let large = readyLargeHead < readyLarge.count && !smallOnly && largeInFlight < workers ? readyLarge[readyLargeHead] : nil
            let takeLarge: Bool
            switch (small, large) {
            case (nil, nil): return nil
            case (_?, nil): takeLarge = false
            case (nil, _?): takeLarge = true
            case (let s?, let l?): takeLarge = l.due < s.due
            }
            let entry: Entry
            if takeLarge {
                entry = large!
                readyLargeHead += 1
                compact(&readyLarge, &readyLargeHead)
            } else {
                entry = small!
                readySmallHead += 1
                compact(&readySmall, &readySmallHead)
            }
            // A key in flight is never started twice; it was re-queued through `dirty` instead.
            guard running[entry.key] == nil, let record = waiting.removeValue(forKey: entry.key) else { continue }
            return Job(record: record, due: entry.due)
        }
    }

    /// The next ready small job when it is a small upload (a delete waiting next stays for a
    /// worker of its own). Entries whose key is no longer waiting are dropped on the way.
    private func nextSmallUpload() -> Job? {
        while readySmallHead < readySmall.count {
            let entry = readySmall[readySmallHead]
            guard running[entry.key] == nil, let record = waiting[entry.key] else {
                readySmallHead += 1
                continue
            }
            // A delete, or a file that grew large since it was queued, goes to a worker alone.
            guard record.state != .deleting, record.size <= Self.largeFileBytes else { return nil }
            readySmallHead += 1
            compact(&readySmall, &readySmallHead)
            waiting.removeValue(forKey: entry.key)
            return Job(record: record, due: entry.due)
        }
        compact(&readySmall, &readySmallHead)
        return nil
    }

    /// Drops taken entries once they are most of the array, so memory follows the queue's length.
    private func compact(_ queue: inout [Entry], _ head: inout Int) {
        if head > 1024 && head * 2 > queue.count {
            queue.removeFirst(head)
            head = 0
        }
    }
}
