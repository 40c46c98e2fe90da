import Foundation
import Logging
import ServiceLifecycle

/// `jigsync run`: watches the folders and keeps them synced until told to stop.
///
/// Start-up sets the watches **before** the first reconcile, so nothing written in between is
/// missed; then every watcher signal goes through the same reconciler and upload workers as
/// `sync`. SIGTERM/SIGINT (through swift-service-lifecycle's graceful shutdown) stop the intake,
/// let in-flight uploads finish within the grace period, and leave the ledger consistent.
public final class Daemon: Service, @unchecked Sendable {
    // @unchecked Sendable: the mutable state below is touched only by `run()`'s task (the event
    // loop); `signals` and `lostSignals` are designed for use from the watcher's thread.
    private var settings: DaemonSettings
    /// The folders as the control socket sees them: written by a reload, read from the control
    /// thread's requests; guarded by `foldersLock`.
    private var publishedFolders: [FolderSpec]
    private let foldersLock = NSLock()
    private var watcher: Watcher?
    private let engine: SyncEngine
    private let ledger: Ledger
    private let client: FileStoreClient
    private let logger: Logger
    private let notifier: SystemdNotifier
    private let folders = OpenFolders()
    private let scheduler: UploadScheduler
    private let tally: Tally
    private let signals: AsyncStream<[WatchSignal]>
    private let signalInput: AsyncStream<[WatchSignal]>.Continuation
    private let lostSignals = ManagedAtomicFlag()
    private var deleteGuard: DeleteGuard   // guarded by guardLock: delete tasks run concurrently
    private let guardLock = NSLock()
    private var lastRescan: ContinuousClock.Instant?
    private var rescanBackoff: Duration = .seconds(1)
    private var gone: Set<Int> = []
    private let statusLine = StatusLine()
    /// Set when some folder cannot rely on events alone; the timer task then rescans often.
    private var needsFallbackRescans = false

    /// Batches of signals the queue between the watcher and the engine holds before it counts as
    /// an overflow (then the engine rescans instead of losing anything).
    static let signalQueueLimit = 4096

    public init(settings: DaemonSettings, ledger: Ledger, client: FileStoreClient, logger: Logger,
                notifier: SystemdNotifier = SystemdNotifier()) {
        self.settings = settings
        self.publishedFolders = settings.folders
        self.ledger = ledger
        self.client = client
        self.logger = logger
        self.notifier = notifier
        engine = SyncEngine(client: client, ledger: ledger, settings: settings.engine, logger: logger)
        scheduler = UploadScheduler(workers: settings.engine.workers, deadline: nil, continuous: true)
        let statusLine = self.statusLine
        let scheduler = self.scheduler
        tally = Tally(total: 0, bytes: 0, progress: { _ in statusLine.changed(scheduler: scheduler) })
        deleteGuard = DeleteGuard(limit: settings.deleteLimit, window: settings.deleteWindow)
        (signals, signalInput) = AsyncStream.makeStream(of: [WatchSignal].self, bufferingPolicy: .bufferingOldest(Self.signalQueueLimit))
        statusLine.notifier = notifier
        statusLine.ledger = ledger
    }

    public func run() async throws {
        var control: ControlServer?
        if let path = settings.controlSocket {
            do {
                let server = try ControlServer(path: path) { [weak self] request in
                    await self?.answer(request) ?? ["ok": false, "error": "stopping"]
                }
                server.start()
                ledger.setOwnerSocket(path)
                control = server
            } catch {
                logger.warning("no control socket: \(error); status and retry read the ledger directly")
            }
        }
        try await attach(settings.folders)
        let specs = settings.folders
        let workers = Task { await engine.runWorkers(scheduler: scheduler, tally: tally, folders: folders) }
        let timers = startTimers()
        // Watches are set and the first reconcile starts now: ready.
        notifier.notify("READY=1")
        statusLine.changed(scheduler: scheduler)

        await withGracefulShutdownHandler {
            let started = ContinuousClock.now
            for index in specs.indices where !gone.contains(index) { await reconcile(folder: index, under: "") }
            let depth = await scheduler.depth()
            logger.info("initial reconcile done in \(ContinuousClock.now - started): \(depth.waiting + depth.inFlight) file(s) due")
            for await batch in signals {
                if lostSignals.isSet {
                    lostSignals.clear()
                    await rescanAll(reason: "the queue between watcher and engine overflowed")
                }
                for signal in Self.collapse(batch) { await handle(signal) }
                statusLine.changed(scheduler: scheduler)
            }
        } onGracefulShutdown: {
            self.signalInput.finish()
        }

        notifier.notify("STOPPING=1")
        logger.info("stopping: no new uploads; waiting up to \(settings.grace) for those in flight")
        control?.stop()
        ledger.setOwnerSocket(nil)
        timers.cancel()
        watcher?.stop()
        await scheduler.stop()
        let finished = await withTaskGroup(of: Bool.self) { group in
            group.addTask { await workers.value; return true }
            group.addTask { [grace = settings.grace] in try? await Task.sleep(for: grace); return false }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if !finished {
            logger.warning("in-flight uploads cut off after the grace period; they stay due")
            workers.cancel()
            await workers.value
        }
        try await ledger.flush()
        ledger.setOwnerNote(nil)
    }

    /// Opens the folders and sets the watches (before any reconcile of them).
    private func attach(_ specs: [FolderSpec]) async throws {
        gone = []
        for (index, spec) in specs.enumerated() {
            if spec.optional && !FileManager.default.fileExists(atPath: spec.path) {
                gone.insert(index)
                statusLine.note = "optional folder \(spec.path) is not there; it is picked up when it appears"
                logger.notice("\(spec.path) is not there (optional): watching for it")
                continue
            }
            folders.set(try await FSQueue.run { () throws(FSError) in try Folder(path: spec.path) }, for: spec.path)
        }
        let input = signalInput
        let lost = lostSignals
        let watcher = try Watcher(roots: specs.map { Watcher.Root(path: $0.path, device: folders[$0.path]?.device ?? 0) },
                                  settle: settings.settle, quiet: settings.quiet, logger: logger) { batch in
            if case .dropped = input.yield(batch) { lost.set() }
        }
        for problem in watcher.start() { await handle(problem) }
        self.watcher = watcher
        logger.info("watching \(specs.count) folder(s), \(watcher.watchCount) directories")
        for spec in specs {
            if let kind = folders[spec.path]?.remoteFileSystem() {
                needsFallbackRescans = true
                logger.warning("\(spec.path) is on \(kind): inotify sees only changes made on this machine; it is also rescanned every \(settings.fallbackRescanInterval)")
            }
        }
    }

    /// Re-reads the configuration (SIGHUP or `jigsync reload`): folders added are watched and
    /// reconciled, folders removed stop being watched, patterns, prefixes and delete policies take
    /// effect; what is due stays due. A configuration that does not load leaves the old one in force.
    private func reload() async -> [String: Any] {
        guard let load = settings.reloadFolders else {
            return ["ok": false, "error": "this daemon was started without a configuration file; restart it with new flags"]
        }
        notifier.notify("RELOADING=1")
        defer { notifier.notify("READY=1") }
        let specs: [FolderSpec]
        do {
            specs = try load()
        } catch {
            logger.error("reload refused, the running configuration stays in force: \(error)")
            return ["ok": false, "error": "\(error)"]
        }
        let old = settings.folders
        watcher?.stop()
        watcher = nil
        for spec in old where !specs.contains(where: { $0.path == spec.path }) {
            folders.set(nil, for: spec.path)
            logger.notice("no longer watching \(spec.path)")
        }
        settings.folders = specs
        foldersLock.withLock { publishedFolders = specs }
        do {
            try await attach(specs)
        } catch {
            logger.error("reload: \(error)")
            return ["ok": false, "error": "\(error)"]
        }
        // Watches are set: now a reconcile catches whatever changed meanwhile (cheap when nothing did).
        for index in specs.indices where !gone.contains(index) { await reconcile(folder: index, under: "") }
        logger.notice("configuration reloaded: \(specs.count) folder(s)")
        statusLine.changed(scheduler: scheduler)
        return ["ok": true, "folders": specs.map(\.path)]
    }

    /// Asks for a reload from any thread (the SIGHUP handler); it runs between two batches of events.
    public func requestReload() {
        signalInput.yield([.reload(reply: ReloadReply(nil))])
    }

    // MARK: control socket

    /// Answers one control request: `status`, `retry` (`paths` or `failed`), `pause`, `resume`.
    func answer(_ request: [String: Any]) async -> [String: Any] {
        switch request["command"] as? String {
        case "status":
            let depth = await scheduler.depth()
            let running = await scheduler.inFlightJobs()
            var answer: [String: Any] = [
                "ok": true, "pid": Int(getpid()), "due": depth.waiting, "uploading": depth.inFlight,
                "in_flight": running.sorted { $0.key < $1.key }.map {
                    ["path": $0.key.string, "size": $0.value, "bytes_sent": engine.progress[$0.key] ?? 0]
                },
            ]
            if let paused = await scheduler.pauseReason { answer["paused"] = paused }
            if let held = await scheduler.heldReason { answer["held"] = held }
            if let note = statusLine.note { answer["note"] = note }
            return answer
        case "retry":
            do {
                var records: [FileRecord] = []
                if let paths = request["paths"] as? [String] {
                    let specs = foldersLock.withLock { publishedFolders }
                    for path in paths {
                        guard let spec = specs.first(where: { path.hasPrefix($0.path + "/") }) else {
                            return ["ok": false, "error": "\(path) is not in a watched folder"]
                        }
                        let relative = String(path.dropFirst(spec.path.count + 1))
                        _ = try await ledger.retry(folder: spec.path, paths: [relative])
                        if let record = try await ledger.record(folder: spec.path, path: relative) { records.append(record) }
                    }
                } else {
                    let failed = try await ledger.records(inStates: [.failed])
                    _ = try await ledger.retry()
                    for record in failed { if let fresh = try await ledger.record(folder: record.folder, path: record.path) { records.append(fresh) } }
                }
                var queued = 0
                for record in records where record.state == .pending {
                    if await !scheduler.contains(folder: record.folder, path: record.path) {
                        await scheduler.add(record)
                        queued += 1
                    }
                }
                statusLine.changed(scheduler: scheduler)
                return ["ok": true, "queued": queued]
            } catch {
                return ["ok": false, "error": "\(error)"]
            }
        case "pause":
            await scheduler.hold("held by `jigsync pause`")
            statusLine.note = "uploads held by `jigsync pause`; `jigsync resume` continues"
            return ["ok": true]
        case "resume":
            await scheduler.release()
            statusLine.note = nil
            return ["ok": true]
        case "reload":
            let answer = await withCheckedContinuation { continuation in
                signalInput.yield([.reload(reply: ReloadReply(continuation))])
            }
            return answer.object
        case let other:
            return ["ok": false, "error": "unknown command \(other ?? "(none)"); known: status, retry, pause, resume"]
        }
    }

    // MARK: signals

    /// Several rescans in one batch are one rescan.
    static func collapse(_ batch: [WatchSignal]) -> [WatchSignal] {
        var seenRescan = false
        return batch.filter { signal in
            guard case .rescanAll = signal else { return true }
            defer { seenRescan = true }
            return !seenRescan
        }
    }

    private func handle(_ signal: WatchSignal) async {
        logger.trace("watch signal: \(signal)")
        switch signal {
        case .path(let watched):
            await reconcile(path: watched)
        case .directoryAppeared(let watched):
            await reconcile(folder: watched.folder, under: watched.path)
        case .directoryGone(let watched):
            await directoryGone(watched)
        case .rescanAll(let reason):
            await rescanAll(reason: reason)
        case .rootGone(let index):
            gone.insert(index)
            folders.set(nil, for: settings.folders[index].path)
            let note = "folder \(settings.folders[index].path) is gone; nothing is deleted, and it is picked up again when it reappears"
            logger.error("\(note)")
            statusLine.note = note
        case .rootBack(let index):
            let spec = settings.folders[index]
            guard let folder = try? await FSQueue.run({ () throws(FSError) in try Folder(path: spec.path) }) else { return }
            gone.remove(index)
            folders.set(folder, for: spec.path)
            statusLine.note = nil
            logger.notice("folder \(spec.path) is back")
            await reconcile(folder: index, under: "")
        case .reload(let reply):
            reply.send(await reload())
        case .unwatched(let index, let reason):
            needsFallbackRescans = true
            statusLine.note = "part of \(settings.folders[index].path) is not watched (\(reason)); it is rescanned every \(settings.fallbackRescanInterval)"
        }
    }

    private func reconcile(path watched: WatchedPath) async {
        let spec = settings.folders[watched.folder]
        guard let folder = folders[spec.path] else { return }
        do {
            let known = try await ledger.record(folder: spec.path, path: watched.path)
            let plan = try await Reconciler(spec: spec, maxSize: settings.engine.maxSize)
                .reconcile(path: watched.path, in: folder, known: known)
            await apply(plan, spec: spec)
            // A write through one name of a hard-linked file changes every name: look at them all.
            for record in plan.due where record.size > 0 {
                for other in try await ledger.records(device: record.device, inode: record.inode)
                where other.folder != record.folder || other.path != record.path {
                    guard let index = settings.folders.firstIndex(where: { $0.path == other.folder }),
                          let otherFolder = folders[other.folder] else { continue }
                    let otherPlan = try await Reconciler(spec: settings.folders[index], maxSize: settings.engine.maxSize)
                        .reconcile(path: other.path, in: otherFolder, known: other)
                    await apply(otherPlan, spec: settings.folders[index])
                }
            }
        } catch {
            logger.warning("\(spec.path)/\(watched.path): \(error)")
        }
    }

    private func reconcile(folder index: Int, under directory: String) async {
        let spec = settings.folders[index]
        guard let folder = folders[spec.path] else { return }
        do {
            let known = try await ledger.records(folder: spec.path, under: directory)
            let plan = try await Reconciler(spec: spec, maxSize: settings.engine.maxSize).reconcile(folder, known: known, under: directory)
            for problem in plan.problems { logger.warning("\(problem)") }
            await apply(plan, spec: spec)
        } catch {
            logger.warning("\(spec.path)/\(directory): \(error)")
        }
    }

    private func directoryGone(_ watched: WatchedPath) async {
        let spec = settings.folders[watched.folder]
        guard let known = try? await ledger.records(folder: spec.path, under: watched.path) else { return }
        var plan = Reconciler.Plan()
        for (_, var record) in known where record.state != .deleted {
            record.state = .deleted
            record.lastError = "no longer in the folder (the remote copy is kept)"
            plan.changedRecords.append(record)
        }
        await apply(plan, spec: spec)
    }

    private func rescanAll(reason: String) async {
        if let last = lastRescan, ContinuousClock.now - last < rescanBackoff {
            // A storm of overflows: wait out the backoff instead of rescanning back to back.
            try? await Task.sleep(until: last + rescanBackoff, clock: .continuous)
            rescanBackoff = min(rescanBackoff * 2, .seconds(60))
        } else {
            rescanBackoff = .seconds(1)
        }
        logger.notice("rescanning every folder: \(reason)")
        for index in settings.folders.indices where !gone.contains(index) { await reconcile(folder: index, under: "") }
        lastRescan = .now
    }

    /// Writes what a plan changed, queues what is due, and applies the delete policy.
    private func apply(_ plan: Reconciler.Plan, spec: FolderSpec) async {
        var changed = plan.changedRecords
        if spec.deletesRemote ?? (settings.onDelete == .delete) {
            let doomed = changed.filter { $0.state == .deleted && $0.uploadedSHA256 != nil }
            if !doomed.isEmpty {
                for index in changed.indices where changed[index].state == .deleted && changed[index].uploadedSHA256 != nil {
                    changed[index].lastError = "deleted from the folder; the remote delete is pending"
                }
                scheduleRemoteDeletes(doomed, spec: spec)
            }
        }
        ledger.save(changed)
        for record in plan.due where await !scheduler.contains(folder: record.folder, path: record.path) {
            ledger.save(record)
            await scheduler.add(record)
        }
    }

    /// A root being removed (`rm -rf`, an unmount) deletes its files first; their events arrive
    /// before the root's own. So remote deletes wait `remoteDeleteDelay`, then go out only if the
    /// folder's root is still attached: a vanished root is never a mass delete.
    static let remoteDeleteDelay: Duration = .seconds(2)

    private func scheduleRemoteDeletes(_ records: [FileRecord], spec: FolderSpec) {
        let folders = self.folders
        Task {
            try? await Task.sleep(for: Self.remoteDeleteDelay)
            guard let folder = folders[spec.path], folder.isStillAttached() else {
                self.logger.notice("\(records.count) remote delete(s) in \(spec.path) not sent: the folder itself is gone")
                self.ledger.save(records.map { var r = $0; r.lastError = "deleted from the folder; the remote copy is kept (the folder vanished)"; return r })
                return
            }
            var done: [FileRecord] = []
            for record in records {
                // Still gone? (It may have come back within the delay.)
                let current = try? await self.ledger.record(folder: record.folder, path: record.path)
                guard current?.state == .deleted else { continue }
                done.append(await self.deleteRemote(current!))
            }
            self.ledger.save(done)
        }
    }

    private func deleteRemote(_ record: FileRecord) async -> FileRecord {
        var record = record
        let (allowed, tripped) = guardLock.withLock { (deleteGuard.allow(at: .now), deleteGuard.trippedReason) }
        guard allowed else {
            let reason = tripped ?? "mass delete refused"
            record.lastError = reason
            if statusLine.note != reason {
                logger.error("\(reason)")
                statusLine.note = reason
            }
            return record
        }
        do {
            try await client.delete(key: record.key)
            record.lastError = "deleted from the folder and from the store"
            record.uploadedSHA256 = nil
            record.remoteURL = nil
        } catch where error.disposition == .notFound {
            record.lastError = "deleted from the folder; the store had no copy"
        } catch {
            record.lastError = "deleted from the folder; the remote delete failed: \(error)"
            logger.warning("\(spec(for: record)): remote delete failed: \(error)")
        }
        return record
    }

    private func spec(for record: FileRecord) -> String { record.folder + "/" + record.path }

    // MARK: timers that carry work

    /// The backstop rescan and the systemd watchdog ping, the only timers a daemon keeps.
    private func startTimers() -> Task<Void, Never> {
        let input = signalInput
        let backstop = needsFallbackRescans ? min(settings.backstopInterval, settings.fallbackRescanInterval) : settings.backstopInterval
        let notifier = self.notifier
        return Task {
            await withTaskGroup(of: Void.self) { group in
                group.addTask {
                    while !Task.isCancelled {
                        let jitter = Double.random(in: 0.9...1.1)
                        try? await Task.sleep(for: backstop * jitter)
                        if Task.isCancelled { return }
                        input.yield([.rescanAll(reason: "periodic backstop rescan")])
                    }
                }
                if let interval = notifier.watchdogInterval {
                    group.addTask {
                        while !Task.isCancelled {
                            notifier.notify("WATCHDOG=1")
                            try? await Task.sleep(for: interval / 2)
                        }
                    }
                }
            }
        }
    }
}

/// Sends `STATUS=` to systemd, and what needs attention (a pause and why, a vanished folder, a
/// refused mass delete) to the lock file for `jigsync status`, each when it changes.
///
/// `@unchecked Sendable`: all fields are guarded by `lock`.
final class StatusLine: @unchecked Sendable {
    private let lock = NSLock()
    private var lastStatus = ""
    private var lastAttention: String??
    private var _note: String?
    private var scheduler: UploadScheduler?
    var notifier: SystemdNotifier?
    var ledger: Ledger?

    var note: String? {
        get { lock.withLock { _note } }
        set {
            lock.withLock { _note = newValue }
            if let scheduler = lock.withLock({ self.scheduler }) { changed(scheduler: scheduler) }
        }
    }

    func changed(scheduler: UploadScheduler) {
        lock.withLock { self.scheduler = scheduler }
        Task {
            let depth = await scheduler.depth()
            let paused = await scheduler.pauseReason
            let note = self.note
            let attentionParts = [paused.map { "uploads paused: \($0)" }, note].compactMap { $0 }
            let attention = attentionParts.isEmpty ? nil : attentionParts.joined(separator: "; ")
            var status = "STATUS=\(depth.waiting) due, \(depth.inFlight) uploading"
            if let attention { status += "; \(attention)" }
            let (sendStatus, writeAttention) = self.lock.withLock { () -> (Bool, Bool) in
                defer { lastStatus = status; lastAttention = .some(attention) }
                return (lastStatus != status, lastAttention != .some(attention))
            }
            if sendStatus { self.notifier?.notify(status) }
            if writeAttention { self.ledger?.setOwnerNote(attention) }
        }
    }
}
