import Foundation
import Logging

/// Brings folders up to date with the store: reconcile, then upload everything due.
///
/// Shared by `jigsync sync` (once) and the daemon (continuously).
public final class SyncEngine: Sendable {
    /// What to do when a key is already stored and overwrite is off.
    public enum ConflictPolicy: String, Sendable, CaseIterable {
        case overwrite, skip
    }

    public struct Settings: Sendable {
        public var workers = 4
        public var maxSize: Int64 = 100 * 1024 * 1024
        public var onConflict: ConflictPolicy = .overwrite
        public var retry = RetryPolicy()
        public var requestsPerSecond = 50.0
        /// Pause and probe when the service rejects the key (the daemon) instead of stopping (a sync).
        public var pauseWhenRejected = false
        /// Content types by glob, before the extension table.
        public var contentTypeOverrides: [(pattern: String, type: String)] = []
        /// When a burst of changes to stored files stops overwriting (on by default).
        public var damageGuard = DamageGuardSettings()
        public init() {}
    }

    /// The outcome of a `sync`.
    public struct Report: Sendable {
        public var examined = 0
        public var unchanged = 0
        public var hashed = 0
        public var uploaded = 0
        public var bytesSent: Int64 = 0
        /// Files failed for good (until they change), with why.
        public var failed: [(path: String, reason: String)] = []
        /// Files still due when the run ended, with the last error.
        public var stillDue: [(path: String, reason: String)] = []
        /// Files whose overwrite the damage guard held (still due), as "folder/path".
        public var held: [String] = []
        /// Why, per held folder.
        public var holds: [String] = []
        /// Set when the service rejected the key or the endpoint.
        public var rejected: String?
        /// Set when the service did not answer for the whole of `--retry-for` and the run stopped:
        /// why, and for how long.
        public var unreachable: String?
        public var problems: [String] = []
    }

    /// Progress while uploading, for a progress bar.
    public struct Progress: Sendable {
        public var filesDone = 0
        public var filesTotal = 0
        public var bytesDone: Int64 = 0
        public var bytesTotal: Int64 = 0
    }

    let client: FileStoreClient
    let ledger: Ledger
    let settings: Settings
    let logger: Logger
    let contentTypes: ContentTypes
    let limiter: RateLimiter
    let progress = ProgressBoard()
    /// Which folders delete remote copies, and the mass-delete guard.
    let deletes: RemoteDeletes
    /// Which folders keep remote versions, and how many.
    let versions = RemoteVersions()
    /// The damage guard: holds overwrites in a folder whose stored files change too fast.
    let damage: DamageGuard
    /// Retries of passing failures are logged at info once a minute per file.
    let retryLog = LogThrottle()
    /// The daemon's actions after upload; nil for a one-shot `sync`.
    let actions: ActionRunner?
    /// The daemon's event stream (`jigsync events`); nil for a one-shot `sync`.
    let events: EventHub?

    public init(client: FileStoreClient, ledger: Ledger, settings: Settings, logger: Logger,
                deleteLimit: Int = DeleteGuard.defaultLimit, deleteWindow: Duration = DeleteGuard.defaultWindow,
                actions: ActionRunner? = nil, events: EventHub? = nil) {
        self.actions = actions
        self.events = events
        self.client = client
        self.ledger = ledger
        self.settings = settings
        self.logger = logger
        self.limiter = RateLimiter(requestsPerSecond: settings.requestsPerSecond)
        self.contentTypes = ContentTypes(overrides: settings.contentTypeOverrides)
        self.deletes = RemoteDeletes(limit: deleteLimit, window: deleteWindow)
        self.damage = DamageGuard(settings: settings.damageGuard)
    }

    /// Before the first plan: the damage guard takes up the holds an earlier run left in the
    /// ledger, or (`--trust-changes`) forgets them, so the changes they held are sent.
    public func restoreDamageHolds() async throws {
        if settings.damageGuard.trustChanges {
            let cleared = try await ledger.clearDamageHolds()
            if cleared > 0 { logger.notice("--trust-changes: \(cleared) damage guard hold(s) of an earlier run forgotten; their changes are sent") }
            return
        }
        let holds = try await ledger.damageHolds()
        damage.load(holds)
        for hold in holds { logger.error("\(DamageGuard.message(hold)) (or a restart with --trust-changes)") }
    }

    /// Reconciles every folder and uploads until nothing is due. A file that keeps failing for a
    /// passing reason is retried until `retryFor` has passed since its first failure, then left
    /// due; a run that is making progress goes on to the end, however long that takes.
    public func syncOnce(_ specs: [FolderSpec], retryFor: Duration,
                         progress: (@Sendable (Progress) -> Void)? = nil) async throws -> Report {
        var report = Report()
        let folders = OpenFolders()
        let scheduler = UploadScheduler(workers: settings.workers, retryFor: retryFor)
        let planner = Planner(ledger: ledger, scheduler: scheduler, folders: folders, deletes: deletes,
                              damage: damage, versions: versions, maxSize: settings.maxSize, logger: logger)
        planner.setFolders(specs, deleteByDefault: false)
        try await restoreDamageHolds()
        for spec in specs {
            let folder = try await FSQueue.run { () throws(FSError) in try Folder(path: spec.path) }
            folders.set(folder, for: spec.path)
            guard let plan = await planner.reconcile(spec.id) else { continue }
            report.examined += plan.examined
            report.unchanged += plan.unchanged
            report.hashed += plan.hashed
            report.problems += plan.problems
        }
        let depth = await scheduler.remaining()
        let tally = Tally(total: depth.count, bytes: depth.reduce(0) { $0 + $1.size }, progress: progress)

        await runWorkers(scheduler: scheduler, tally: tally, folders: folders)
        try await ledger.flush()

        let final = await tally.snapshot()
        report.uploaded = final.uploaded
        report.bytesSent = final.bytesSent
        report.rejected = final.rejected
        report.unreachable = final.unreachable
        report.failed = final.failed
        report.stillDue = final.gaveUp
        report.held = damage.heldPaths
        report.holds = damage.heldFolders.map { DamageGuard.message($0.hold, files: $0.files) }
        for record in await scheduler.remaining() {
            report.stillDue.append((record.folder + "/" + record.path, record.lastError ?? "not attempted: the run stopped"))
        }
        // Rows of earlier runs that are still failed count too.
        let reported = Set(report.failed.map(\.path))
        for record in try await ledger.records(inStates: [.failed]) where !reported.contains(record.folder + "/" + record.path) {
            if specs.contains(where: { $0.path == record.folder }) {
                report.failed.append((record.folder + "/" + record.path, record.lastError ?? "failed"))
            }
        }
        return report
    }
}

extension SyncEngine {
    /// Runs `settings.workers` upload workers, and the small lane's (which sends only while
    /// large files hold more than half the workers), until the scheduler hands out no more jobs.
    func runWorkers(scheduler: UploadScheduler, tally: Tally, folders: OpenFolders) async {
        await withTaskGroup(of: Void.self) { group in
            for lane in Array(repeating: false, count: max(1, settings.workers)) + [true] {
                group.addTask {
                    await Uploader(engine: self, scheduler: scheduler, tally: tally, lane: lane).run(folders: folders)
                }
            }
        }
    }
}

/// Bytes sent so far by each upload in flight, by "folder/path", for live status.
///
/// `@unchecked Sendable`: `sent` is guarded by `lock` (written from the curl thread).
final class ProgressBoard: @unchecked Sendable {
    private let lock = NSLock()
    private var sent: [PathBytes: Int64] = [:]

    func update(_ key: PathBytes, _ bytes: Int64) { lock.withLock { sent[key] = bytes } }
    func remove(_ key: PathBytes) { _ = lock.withLock { sent.removeValue(forKey: key) } }
    subscript(key: PathBytes) -> Int64? { lock.withLock { sent[key] } }
}

/// The open folder roots by path; the daemon replaces one when its root comes back.
///
/// `@unchecked Sendable`: `folders` is guarded by `lock`.
final class OpenFolders: @unchecked Sendable {
    private let lock = NSLock()
    private var folders: [String: Folder] = [:]

    subscript(path: String) -> Folder? { lock.withLock { folders[path] } }

    func set(_ folder: Folder?, for path: String) { lock.withLock { folders[path] = folder } }
}

/// Counts shared by the workers of one run.
actor Tally {
    struct Snapshot: Sendable {
        var uploaded = 0
        var bytesSent: Int64 = 0
        var failed: [(path: String, reason: String)] = []
        var rejected: String?
        var unreachable: String?
        /// Files a one-shot sync stopped retrying (still due), with the last error.
        var gaveUp: [(path: String, reason: String)] = []
    }

    private var state = Snapshot()
    private var progress: SyncEngine.Progress
    private let report: (@Sendable (SyncEngine.Progress) -> Void)?

    init(total: Int, bytes: Int64, progress: (@Sendable (SyncEngine.Progress) -> Void)?) {
        self.progress = SyncEngine.Progress(filesTotal: total, bytesTotal: bytes)
        self.report = progress
    }

    func uploaded(bytes: Int64) {
        state.uploaded += 1
        state.bytesSent += bytes
        progress.filesDone += 1
        progress.bytesDone += bytes
        report?(progress)
    }

    func failed(_ path: String, _ reason: String) {
        // A daemon runs for months: keep the first failures for a summary, count the rest.
        if state.failed.count < 10_000 { state.failed.append((path, reason)) }
        progress.filesDone += 1
        report?(progress)
    }

    /// Something an observer shows changed without a file finishing (a delete held or sent).
    func noteChange() { report?(progress) }

    func gaveUp(_ path: String, _ reason: String) {
        if state.gaveUp.count < 10_000 { state.gaveUp.append((path, reason)) }
        progress.filesDone += 1
        report?(progress)
    }

    /// Records the rejection; true the first time, so it is logged once.
    func rejected(_ reason: String) -> Bool {
        defer { state.rejected = reason }
        report?(progress)
        return state.rejected == nil
    }

    /// Records that the service did not answer for `lasted` (the run stops); the first says it.
    func unreachable(_ reason: String, lasted: Duration) {
        guard state.unreachable == nil else { return }
        state.unreachable = "the service did not answer for \(lasted.readable) (\(reason))"
        report?(progress)
    }

    func snapshot() -> Snapshot { state }
}
