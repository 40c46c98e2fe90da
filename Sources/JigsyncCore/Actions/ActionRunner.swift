import Foundation
import Logging

/// Runs the actions the ledger owes, off the data path: an upload (or a remote delete) records
/// its due action in the same transaction as its row and hands it here without waiting; at most
/// `settings.workers` run at once, one per path at a time.
///
/// The ledger decides, not the queue: before a run the action row must still be due for that
/// version and the file's row must still say that version is stored (or, for a delete, that the
/// file is deleted); otherwise the action is `superseded`. A newer version replaces the queued
/// one, so an action runs for the newest stored content only. A non-zero exit or a timeout is
/// retried with backoff up to `retries`, then `failed` with the exit status and the last lines of
/// standard error. On shutdown running children are stopped and their rows stay due.
///
/// `@unchecked Sendable`: `commands`, `ready`, `running`, `processes`, `waiters` and `stopped`
/// are guarded by `lock`; the rest is immutable.
public final class ActionRunner: @unchecked Sendable {
    private let settings: ActionSettings
    private let ledger: Ledger
    private let logger: Logger
    private let service: ActionService
    private let events: EventHub?
    private let lock = NSLock()
    private var commands: [FolderID: [String]] = [:]
    /// Due actions not running, at most one per path (the newest version).
    private var ready: [ActionRecord] = []
    /// Paths with a run in progress ("folder\0path").
    private var running: Set<String> = []
    private var processes: [ObjectIdentifier: ActionProcess] = [:]
    private var waiters: [CheckedContinuation<Void, Never>] = []
    private var stopped = false

    public init(settings: ActionSettings, ledger: Ledger, logger: Logger, service: ActionService, events: EventHub? = nil) {
        self.events = events
        self.settings = settings
        self.ledger = ledger
        self.logger = logger
        self.service = service
    }

    /// The folders' commands (at start and on every reload).
    public func setCommands(_ specs: [FolderSpec]) {
        let table = Dictionary(specs.compactMap { spec in spec.onUpload.map { (spec.id, $0) } }, uniquingKeysWith: { a, _ in a })
        lock.withLock { commands = table }
    }

    /// The action a row's new state owes, or nil when its folder has none (then nothing is written).
    func action(for record: FileRecord, event: ActionRecord.Event) -> ActionRecord? {
        guard lock.withLock({ commands[FolderID(record.folder)] }) != nil else { return nil }
        let uploaded = event == .uploaded
        return ActionRecord(folder: record.folder, path: record.path, event: event, key: record.key,
                            sha256: uploaded ? record.uploadedSHA256 : nil, size: uploaded ? record.uploadedSize : nil,
                            contentType: record.contentType, url: record.remoteURL,
                            dueAt: Int64(Date().timeIntervalSince1970 * 1_000_000_000))
    }

    /// Queues a due action (replacing a queued older version of the same path).
    func enqueue(_ action: ActionRecord) {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            guard !stopped else { return [] }
            ready.removeAll { $0.folder == action.folder && $0.path == action.path }
            ready.append(action)
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    /// Queues what an earlier run left due (at start).
    public func loadDue() async {
        do {
            for action in try await ledger.actions(in: .due) { enqueue(action) }
        } catch {
            logger.error("cannot read the due actions from the ledger: \(error); they run after the next start")
        }
    }

    /// Makes failed actions due again (`jigsync retry --actions`); returns how many.
    public func retryFailed() async throws -> Int {
        let due = try await ledger.retryActions()
        for action in due { enqueue(action) }
        return due.count
    }

    /// Runs `settings.workers` workers until `stop()`.
    public func run() async {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<max(1, settings.workers) {
                group.addTask {
                    while let action = await self.next() {
                        await self.execute(action)
                        self.finished(action)
                    }
                }
            }
        }
    }

    /// No new runs; running children are stopped (their rows stay due, run after a restart).
    public func stop() {
        let (waiting, running) = lock.withLock { () -> ([CheckedContinuation<Void, Never>], [ActionProcess]) in
            stopped = true
            defer { waiters.removeAll() }
            return (waiters, Array(processes.values))
        }
        for process in running { process.cancel() }
        for waiter in waiting { waiter.resume() }
    }

    // MARK: the workers

    private static func pathKey(_ a: ActionRecord) -> String { a.folder + "\u{0}" + a.path }

    private func next() async -> ActionRecord? {
        while true {
            let taken = lock.withLock { () -> ActionRecord?? in
                if stopped { return .some(nil) }
                guard let index = ready.firstIndex(where: { !running.contains(Self.pathKey($0)) }) else { return nil }
                let action = ready.remove(at: index)
                running.insert(Self.pathKey(action))
                return .some(action)
            }
            if let taken { return taken }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let now = lock.withLock { () -> Bool in
                    if stopped || ready.contains(where: { !running.contains(Self.pathKey($0)) }) { return true }
                    waiters.append(continuation)
                    return false
                }
                if now { continuation.resume() }
            }
        }
    }

    private func finished(_ action: ActionRecord) {
        let waiting = lock.withLock { () -> [CheckedContinuation<Void, Never>] in
            running.remove(Self.pathKey(action))
            defer { waiters.removeAll() }
            return waiters
        }
        for waiter in waiting { waiter.resume() }
    }

    private func execute(_ queued: ActionRecord) async {
        // The ledger decides: the row must still be due for this version.
        guard var action = try? await ledger.action(folder: queued.folder, path: queued.path), action.state == .due,
              action.dueAt == queued.dueAt, action.event == queued.event, action.sha256 == queued.sha256 else { return }
        let file = try? await ledger.record(folder: action.folder, path: action.path)
        let current: Bool
        switch action.event {
        case .uploaded: current = file?.state == .uploaded && file?.uploadedSHA256 == action.sha256
        case .deleted: current = file?.state == .deleted
        }
        guard current else {
            action.state = .superseded
            action.lastError = "not run: the file changed before its turn (the action runs for the new version once it is stored)"
            JigsyncMetrics.action("superseded")
            ledger.saveOutcome(action)
            return
        }
        guard let command = lock.withLock({ commands[FolderID(action.folder)] }) else {
            action.state = .superseded
            action.lastError = "not run: the folder no longer has an action"
            JigsyncMetrics.action("superseded")
            ledger.saveOutcome(action)
            return
        }
        let key = action.key.escapedForDisplay
        let logger = self.logger, secret = service.apiKey
        let process = ActionProcess(argv: command, environment: environment(for: action), directory: action.folder,
                                    timeout: settings.timeout) { stream, line in
            let text = (secret?.redact(line) ?? line).escapedForDisplay
            logger.log(level: stream == .stderr ? .notice : .info, "action \(key): \(text)")
        }
        let registered = lock.withLock { () -> Bool in
            guard !stopped else { return false }
            processes[ObjectIdentifier(process)] = process
            return true
        }
        guard registered else { return }
        let started = ContinuousClock.now
        let outcome = await process.run()
        lock.withLock { _ = processes.removeValue(forKey: ObjectIdentifier(process)) }

        let failure: String
        switch outcome.ending {
        case .cancelled:
            return   // shutting down: still due, runs after the restart
        case .exited(0):
            action.state = .done
            action.attempts += 1
            action.lastError = nil
            action.exitStatus = 0
            ledger.saveOutcome(action)
            JigsyncMetrics.action("done")
            events?.publish(DaemonActivity(.actionDone, path: action.folder + "/" + action.path, key: action.key, sha256: action.sha256))
            logger.info("action \(key) (\(action.event.rawValue)) done in \(started.duration(to: .now).readable)")
            return
        case .exited(let status):
            action.exitStatus = Int(status)
            failure = "exited with status \(status)"
        case .signalled(let signal):
            action.exitStatus = 128 + Int(signal)
            failure = "killed by signal \(signal)"
        case .timedOut:
            action.exitStatus = nil
            failure = "timed out after \(settings.timeout.readable) (its process group was killed)"
        case .couldNotStart(let reason):
            action.exitStatus = nil
            failure = reason
        }
        action.attempts += 1
        let stderr = outcome.stderrTail.map { (secret?.redact($0) ?? $0) }.joined(separator: "\n")
        action.lastError = "action " + failure + (stderr.isEmpty ? "" : "; stderr:\n" + stderr)
        if action.attempts > settings.retries {
            action.state = .failed
            ledger.saveOutcome(action)
            JigsyncMetrics.action("failed")
            events?.publish(DaemonActivity(.actionFailed, path: action.folder + "/" + action.path, key: action.key,
                                           sha256: action.sha256, reason: action.lastError))
            logger.warning("action \(key) failed \(action.attempts) time(s), given up: \(failure); `jigsync retry --actions` runs it again")
            return
        }
        ledger.saveOutcome(action)
        JigsyncMetrics.action("retried")
        let delay = settings.retry.delay(attempt: action.attempts, serverWait: nil)
        logger.info("action \(key): \(failure); retry \(action.attempts) of \(settings.retries) in \(delay.readable)")
        let retried = action
        Task { [weak self] in
            do { try await Task.sleep(for: delay) } catch { return }
            self?.enqueue(retried)
        }
    }

    /// The child's environment: a few variables of the daemon's own (PATH, HOME, locale), the
    /// file's, and the service's; nothing else of the daemon's leaks in.
    func environment(for action: ActionRecord) -> [String: String] {
        let inherited = ProcessInfo.processInfo.environment
        var environment: [String: String] = [:]
        for name in ["PATH", "HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "USER", "LOGNAME", "TMPDIR"] {
            if let value = inherited[name] { environment[name] = value }
        }
        if environment["PATH"] == nil { environment["PATH"] = "/usr/local/bin:/usr/bin:/bin" }
        environment["JIGSYNC_EVENT"] = action.event.rawValue
        environment["JIGSYNC_KEY"] = action.key
        environment["JIGSYNC_PATH"] = action.folder + "/" + action.path
        environment["JIGSYNC_FOLDER"] = action.folder
        if let sha = action.sha256 { environment["JIGSYNC_SHA256"] = sha }
        if let size = action.size { environment["JIGSYNC_SIZE"] = String(size) }
        if let type = action.contentType { environment["JIGSYNC_CONTENT_TYPE"] = type }
        if let url = action.url {
            environment["JIGSYNC_URL"] = url
            if let publicKey = service.publicKey, action.event == .uploaded {
                let encoded = publicKey.addingPercentEncoding(withAllowedCharacters: .urlQueryAllowed) ?? publicKey
                environment["JIGSYNC_PUBLIC_URL"] = url + (url.contains("?") ? "&" : "?") + "x-api-key=" + encoded
            }
        }
        environment["JIGSAWSTACK_API_URL"] = service.baseURL
        if let key = service.apiKey { environment["JIGSAWSTACK_API_KEY"] = key.secret }
        return environment
    }
}
