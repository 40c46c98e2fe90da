import Foundation
import Logging
import Prometheus
import ServiceLifecycle

/// `jigsync run`: watches the folders and keeps them synced until told to stop.
///
/// An event loop around the `Planner` that `sync` uses too. Start-up sets the watches **before**
/// the first reconcile, so nothing written in between is missed; then each watcher batch, timer,
/// reload and control request is routed to the planner (ledger rows and due work), the scheduler
/// (the workers' queue) and the status reporter (systemd and `status`). SIGTERM/SIGINT (through
/// swift-service-lifecycle's graceful shutdown) end the loop, give in-flight transfers `grace`,
/// then cancel them; whatever is still owed is ledger state, picked up by the next start.
public final class Daemon: Service, @unchecked Sendable {
    // @unchecked Sendable: `settings`, `watcher`, `generation`, `gone` and the rescan state are
    // touched only by `run()`'s task (the event loop); `notes` and the planner's folder table are
    // locked; everything else is immutable or Sendable.
    private(set) var settings: DaemonSettings
    private var watcher: Watcher?
    /// The generation of the current watcher; batches of any other are dropped.
    private var generation = 0
    private var gone: Set<FolderID> = []
    private var needsFallbackRescans = false
    private var lastRescan: ContinuousClock.Instant?
    private var rescanBackoff = Daemon.minimumRescanInterval
    private var pendingRescan: String?
    private var rescanTimer: Task<Void, Never>?
    private var backstopTimer: Task<Void, Never>?

    let engine: SyncEngine
    let actions: ActionRunner
    /// The Prometheus registry behind swift-metrics, when metrics are on.
    private let metricsRegistry: PrometheusCollectorRegistry?
    /// What `jigsync events` streams.
    let activity = EventHub()
    let ledger: Ledger
    let logger: Logger
    private let notifier: SystemdNotifier
    private let folders = OpenFolders()
    let scheduler: UploadScheduler
    let planner: Planner
    let notes = NoteBoard()
    private let tally: Tally
    let reporter: StatusReporter
    private let events: AsyncStream<DaemonEvent>
    let input: AsyncStream<DaemonEvent>.Continuation
    private let lostEvents = ManagedAtomicFlag()
    private let stopping = ManagedAtomicFlag()

    /// Events the queue between the watcher and the loop holds before it counts as an overflow
    /// (then the loop rescans instead of losing anything).
    static let eventQueueLimit = 4096
    /// Rescans closer together than this are merged into one; the interval doubles while
    /// overflows keep coming, up to `maximumRescanInterval`.
    static let minimumRescanInterval: Duration = .seconds(1)
    static let maximumRescanInterval: Duration = .seconds(60)

    public init(settings: DaemonSettings, ledger: Ledger, client: FileStoreClient, logger: Logger,
                notifier: SystemdNotifier? = nil) {
        self.settings = settings
        self.ledger = ledger
        self.logger = logger
        // Before anything counts: the handlers bind to the factory installed first.
        metricsRegistry = settings.metricsListen != nil ? JigsyncMetrics.bootstrapPrometheus() : nil
        let notifier = notifier ?? SystemdNotifier(logger: logger)
        self.notifier = notifier
        actions = ActionRunner(settings: settings.actions, ledger: ledger, logger: logger, service: settings.actionService, events: activity)
        engine = SyncEngine(client: client, ledger: ledger, settings: settings.engine, logger: logger,
                            deleteLimit: settings.deleteLimit, deleteWindow: settings.deleteWindow, actions: actions, events: activity)
        let scheduler = UploadScheduler(workers: settings.engine.workers, continuous: true)
        self.scheduler = scheduler
        planner = Planner(ledger: ledger, scheduler: scheduler, folders: folders, deletes: engine.deletes,
                          damage: engine.damage, versions: engine.versions, maxSize: settings.engine.maxSize, logger: logger)
        (events, input) = AsyncStream.makeStream(of: DaemonEvent.self, bufferingPolicy: .bufferingOldest(Self.eventQueueLimit))
        let notes = self.notes, deletes = engine.deletes, damage = engine.damage
        reporter = StatusReporter(notifier: notifier, ledger: ledger) {
            await Self.snapshot(scheduler: scheduler, notes: notes, deletes: deletes, damage: damage)
        }
        let reporter = self.reporter
        tally = Tally(total: 0, bytes: 0, progress: { _ in reporter.changed() })
        // A ledger that cannot record holds uploads and says so at once; they resume by themselves.
        ledger.observeWrites { state in
            if let failure = state.failure {
                logger.error("ledger writes failing, uploads paused until a write succeeds: \(failure)")
            } else {
                logger.notice("ledger writes work again; uploads resume")
            }
            Task {
                await scheduler.ledgerWrites(state)
                reporter.changed()
            }
        }
    }

    public func run() async throws {
        let control = startControlSocket()
        try await engine.restoreDamageHolds()
        let metrics = startMetrics()
        try await install(settings.folders)
        notifier.notify("READY=1")
        await reporter.reportNow()
        let workersDone = Latch()

        await withTaskGroup(of: Void.self) { group in
            group.addTask { [engine, scheduler, tally, folders] in
                await engine.runWorkers(scheduler: scheduler, tally: tally, folders: folders)
                workersDone.open()
            }
            // Actions run beside the uploads; what an earlier run left due goes first.
            group.addTask { [actions] in
                await actions.loadDue()
                await actions.run()
            }
            if let interval = notifier.watchdogInterval {
                group.addTask { [notifier] in
                    while !Task.isCancelled {
                        notifier.notify("WATCHDOG=1")
                        try? await Task.sleep(for: interval / 2)
                    }
                }
            }
            await withGracefulShutdownHandler {
                await self.eventLoop()
            } onGracefulShutdown: {
                self.stopping.set()
                self.input.finish()
            }

            notifier.notify("STOPPING=1")
            logger.info("stopping: no new uploads; waiting up to \(settings.grace.readable) for those in flight")
            reporter.stop()
            rescanTimer?.cancel()
            backstopTimer?.cancel()
            await control?.stop()
            await metrics?.stop()
            activity.close()
            await watcher?.stop()
            watcher = nil
            await scheduler.stop()
            actions.stop()
            if await !workersDone.wait(upTo: settings.grace) {
                logger.warning("in-flight uploads cut off after the grace period of \(settings.grace.readable); they stay due")
            }
            group.cancelAll()
        }
        ledger.setOwnerSocket(nil)
        try await ledger.flush()
        ledger.setOwnerNote(nil)
    }

    /// Starts the `/metrics` listener when metrics are on; a listener that cannot start is logged
    /// and the daemon goes on without it.
    private func startMetrics() -> MetricsServer? {
        guard let listen = settings.metricsListen, let registry = metricsRegistry else { return nil }
        do {
            let scheduler = self.scheduler, ledger = self.ledger
            let server = try MetricsServer(listen: listen, registry: registry) {
                // On the listener's own thread: it waits (bounded) for the async side to fill the gauges.
                let done = DispatchSemaphore(value: 0)
                Task {
                    await Self.refreshGauges(scheduler: scheduler, ledger: ledger)
                    done.signal()
                }
                _ = done.wait(timeout: .now() + 5)
            }
            server.start()
            logger.info("metrics on http://\(server.address):\(server.port)/metrics")
            return server
        } catch {
            logger.error("no metrics endpoint: \(error.reason); the daemon goes on without it")
            return nil
        }
    }

    /// The gauges that describe state, filled per scrape rather than kept on the data path.
    static func refreshGauges(scheduler: UploadScheduler, ledger: Ledger) async {
        let depth = await scheduler.depth()
        JigsyncMetrics.filesDue.record(depth.waiting)
        JigsyncMetrics.inFlight.record(depth.inFlight)
        if let counts = try? await ledger.stateCounts() {
            for state in FileState.allCases { JigsyncMetrics.rows[state]?.record(counts[state] ?? 0) }
        }
    }

    /// Asks for a reload from any thread (the SIGHUP handler); it runs between two events.
    public func requestReload() {
        input.yield(.reload(ReloadReply(nil)))
    }

    // MARK: the loop

    private func eventLoop() async {
        let started = ContinuousClock.now
        let input = self.input, lost = lostEvents
        await scheduler.setRecheckHandler { paths in
            if case .dropped = input.yield(.recheck(paths)) { lost.set() }
        }
        for spec in settings.folders where !gone.contains(spec.id) {
            if stopping.isSet { return }
            await planner.reconcile(spec.id)
        }
        engine.damage.endTrust()
        let depth = await scheduler.depth()
        logger.info("initial reconcile done in \(started.duration(to: .now).readable): \(counted(depth.waiting + depth.inFlight, "file")) due")
        reporter.changed()
        armBackstop()
        for await event in events {
            if stopping.isSet { return }   // what is still queued is dropped: the ledger holds it
            if lostEvents.isSet {
                lostEvents.clear()
                JigsyncMetrics.overflows.increment()
                await requestRescan("the queue between watcher and engine overflowed")
            }
            switch event {
            case .watch(let batch):
                guard batch.generation == generation else { continue }   // a replaced watcher's
                // Paths that follow each other are planned together (a batch of events costs one
                // plan, not one per file); other signals keep their place between them.
                var paths: [WatchedPath] = []
                for signal in Self.collapse(batch.signals) {
                    if stopping.isSet { return }
                    if case .path(let watched) = signal {
                        paths.append(watched)
                        continue
                    }
                    if !paths.isEmpty {
                        await planner.reconcile(paths: paths)
                        paths.removeAll()
                    }
                    await handle(signal)
                }
                if !paths.isEmpty, !stopping.isSet { await planner.reconcile(paths: paths) }
            case .rescanDue:
                rescanTimer = nil
                if let reason = pendingRescan { await rescanAll(reason) }
            case .backstop:
                await rescanAll(needsFallbackRescans ? "fallback rescan (part of a folder is not watched)" : "periodic backstop rescan")
                armBackstop()
            case .reload(let reply):
                reply.send(await reload())
            case .recheck(let paths):
                await planner.reconcile(paths: paths)
            }
            reporter.changed()
        }
    }

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
            await planner.reconcile(paths: [watched])
        case .directoryAppeared(let watched), .directoryChanged(let watched):
            await planner.reconcile(watched.folder, under: watched.path)
        case .directoryGone(let watched):
            await planner.directoryGone(watched)
        case .rescanAll(let reason):
            JigsyncMetrics.overflows.increment()
            await requestRescan(reason)
        case .rootGone(let id):
            gone.insert(id)
            folders.set(nil, for: id.path)
            let note = "folder \(id.path) is gone; nothing is deleted, and it is picked up again when it reappears"
            logger.error("\(note)")
            notes.set("folder \(id.path)", .broken, note)
        case .rootBack(let id):
            guard let folder = try? await FSQueue.run({ () throws(FSError) in try Folder(path: id.path) }) else { return }
            gone.remove(id)
            folders.set(folder, for: id.path)
            notes.remove("folder \(id.path)")
            logger.notice("folder \(id.path) is back")
            await planner.reconcile(id)
        case .unwatched(let id, let reason):
            notes.set("unwatched \(id.path)", .degraded,
                      "part of \(id.path.escapedForDisplay) is not watched (\(reason)); it is rescanned every \(settings.fallbackRescanInterval.readable)")
            if !needsFallbackRescans {
                needsFallbackRescans = true
                armBackstop()   // now at the fallback interval, not the next hourly backstop
            }
        }
    }

    // MARK: folders and watchers

    /// Opens the folders and sets their watches with a new watcher generation, before any
    /// reconcile of them. The old watcher (on a reload) stops only once the new one watches, and a
    /// configuration whose folders or watcher cannot be set up leaves everything as it was.
    private func install(_ specs: [FolderSpec]) async throws {
        var opened: [FolderID: Folder] = [:]
        var absent: Set<FolderID> = []
        for spec in specs {
            if spec.optional && !FileManager.default.fileExists(atPath: spec.path) {
                absent.insert(spec.id)
                continue
            }
            opened[spec.id] = try await FSQueue.run { () throws(FSError) in try Folder(path: spec.path) }
        }
        let next = generation + 1
        let input = self.input, lost = lostEvents
        let roots = specs.map { Watcher.Root(id: $0.id, path: $0.path, device: opened[$0.id]?.device ?? 0) }
        let watcher = try Watcher(roots: roots, generation: next, settle: settings.settle, quiet: settings.quiet, logger: logger) { batch in
            if case .dropped = input.yield(.watch(batch)) { lost.set() }
        }
        // From here on the new configuration is in force.
        generation = next
        let problems = await watcher.start()
        let old = self.watcher
        self.watcher = watcher
        await old?.stop()

        let kept = Set(specs.map(\.id))
        for spec in settings.folders where !kept.contains(spec.id) {
            folders.set(nil, for: spec.path)
            await scheduler.forget(folder: spec.id)
            notes.removeAll(about: spec.path)
            logger.notice("no longer watching \(spec.path)")
        }
        settings.folders = specs
        actions.setCommands(specs)
        planner.setFolders(specs, deleteByDefault: settings.onDelete == .delete)
        gone = absent
        for spec in specs {
            if let folder = opened[spec.id] {
                folders.set(folder, for: spec.path)
                notes.remove("folder \(spec.path)")
            } else {
                folders.set(nil, for: spec.path)
                notes.set("folder \(spec.path)", .degraded, "optional folder \(spec.path) is not there; it is picked up when it appears")
                logger.notice("\(spec.path) is not there (optional): watching for it")
            }
        }
        for problem in problems { await handle(problem) }
        logger.info("watching \(specs.count) folder(s), \(watcher.watchCount) directories")
        JigsyncMetrics.watches.record(watcher.watchCount)
        for spec in specs {
            if let kind = opened[spec.id]?.remoteFileSystem() {
                needsFallbackRescans = true
                logger.warning("\(spec.path) is on \(kind): inotify sees only changes made on this machine; it is also rescanned every \(settings.fallbackRescanInterval.readable)")
            }
        }
    }

    /// Re-reads the configuration (SIGHUP or `jigsync reload`): folders added are watched and
    /// reconciled, folders removed stop being watched (their queued work is dropped, their rows
    /// stay), patterns, prefixes and delete policies take effect. A configuration that does not
    /// load, or whose folders cannot be opened, leaves the old one in force.
    private func reload() async -> ControlResponse {
        guard let load = settings.reloadFolders else {
            return .refused("this daemon was started without a configuration file; restart it with new flags")
        }
        notifier.notify("RELOADING=1")
        defer { notifier.notify("READY=1") }
        do {
            try await install(try load())
        } catch {
            logger.error("reload refused, the running configuration stays in force: \(error)")
            return .refused("\(error)")
        }
        // Watches are set: now a reconcile catches whatever changed meanwhile (cheap when nothing did).
        for spec in settings.folders where !gone.contains(spec.id) {
            if stopping.isSet { break }
            await planner.reconcile(spec.id)
        }
        logger.notice("configuration reloaded: \(settings.folders.count) folder(s)")
        return ControlResponse(folders: settings.folders.map(\.path))
    }

    // MARK: rescans and timers

    /// Rescans now, or, when the last rescan was less than the backoff ago, once the backoff has
    /// passed: a storm of overflows costs one rescan per interval, and the loop never sleeps.
    private func requestRescan(_ reason: String) async {
        let now = ContinuousClock.now
        if let last = lastRescan {
            if now - last >= rescanBackoff * 4 {
                rescanBackoff = Self.minimumRescanInterval   // the storm is over
            } else if now - last < rescanBackoff {
                if pendingRescan == nil {
                    rescanBackoff = min(rescanBackoff * 2, Self.maximumRescanInterval)
                    rescanTimer = fire(.rescanDue, at: last + rescanBackoff)
                }
                pendingRescan = reason
                return
            }
        }
        await rescanAll(reason)
    }

    private func rescanAll(_ reason: String) async {
        pendingRescan = nil
        rescanTimer?.cancel()
        rescanTimer = nil
        logger.notice("rescanning every folder: \(reason)")
        JigsyncMetrics.rescans.increment()
        for spec in settings.folders where !gone.contains(spec.id) {
            if stopping.isSet { return }
            await planner.reconcile(spec.id)
        }
        lastRescan = .now
    }

    /// Arms the next backstop rescan: hourly (jittered ±10 %), or at the fallback interval while
    /// part of a folder cannot rely on events.
    private func armBackstop() {
        backstopTimer?.cancel()
        let interval = needsFallbackRescans ? min(settings.backstopInterval, settings.fallbackRescanInterval) : settings.backstopInterval
        backstopTimer = fire(.backstop, at: .now + interval * Double.random(in: 0.9...1.1))
    }

    /// A timer that carries work: sleeps until `deadline`, then hands `event` to the loop.
    /// Cancelled when replaced and at shutdown.
    private func fire(_ event: DaemonEvent, at deadline: ContinuousClock.Instant) -> Task<Void, Never> {
        let input = self.input
        return Task {
            do { try await Task.sleep(until: deadline, clock: .continuous) } catch { return }
            input.yield(event)
        }
    }

    /// The status line for systemd and the attention for `status`, from what the daemon knows now.
    static func snapshot(scheduler: UploadScheduler, notes: NoteBoard, deletes: RemoteDeletes,
                         damage: DamageGuard) async -> (status: String, attention: Attention) {
        let depth = await scheduler.depth()
        var items: [Attention.Item] = []
        if let paused = await scheduler.pauseReason { items.append(.init(level: .broken, message: "uploads paused: \(paused)")) }
        if let held = await scheduler.heldReason { items.append(.init(level: .degraded, message: "uploads \(held)")) }
        if let failure = await scheduler.ledgerFailure {
            items.append(.init(level: .broken, message: "uploads paused: ledger writes failing: \(failure)"))
        }
        if let held = deletes.heldDeletes {
            items.append(.init(level: .degraded, message: "\(held.reason): \(held.count) remote delete(s) held; `jigsync retry --deletes` lets them go"))
        }
        for (hold, files) in damage.heldFolders {
            items.append(.init(level: .broken, message: DamageGuard.message(hold, files: files)))
        }
        items += notes.items
        let attention = Attention(items)
        var status = "\(depth.waiting) due, \(depth.inFlight) uploading"
        if !items.isEmpty { status += "; " + attention.summary }
        return (status, attention)
    }
}

/// What the daemon's loop handles, in order.
enum DaemonEvent: Sendable {
    /// A batch from a watcher (dropped unless it is of the current generation).
    case watch(WatchBatch)
    /// The rescan backoff has passed: run the rescan that was asked for meanwhile.
    case rescanDue
    /// Time for the periodic backstop (or fallback) rescan.
    case backstop
    /// Re-read the configuration; the answer goes to the reply.
    case reload(ReloadReply)
    /// Paths an event named while they were in flight, now that their transfers have ended.
    case recheck([WatchedPath])
}

