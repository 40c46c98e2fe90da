import Foundation
import Glibc

/// The ledger as its owner sees it: the one process that may write (the daemon or a `sync`).
///
/// Opening takes the lock beside the file, creates or migrates the schema, and recovers rows a
/// crash left `uploading`. Every statement runs on `queue`, the writer's own serial queue, so
/// SQLite never blocks the cooperative pool. Writes are queued and flushed in `BEGIN IMMEDIATE`
/// transactions: whatever accumulated while the previous flush ran goes in the next one, so a
/// burst of changes costs a few commits, and an idle ledger costs nothing.
///
/// A flush that fails (a full disk, the file deleted or replaced under the owner) is an error at
/// once, not at shutdown: its rows stay queued, `writeState` says why, the observer hears it, and
/// a timer retries with a growing delay until a commit goes through (then the observer hears that
/// too). While writes succeed there is no timer.
///
/// `@unchecked Sendable`: `connection` is used only on `queue`; `pendingWrites`,
/// `flushScheduled`, the write state, the retry state and the observer are guarded by `lock`.
public final class Ledger: @unchecked Sendable {
    public let path: String
    /// Rows found `uploading` at open and put back to `pending`.
    public let recoveredCount: Int

    private let ownership: LedgerLock
    private let connection: SQLiteConnection
    private let queue = WorkThreads(name: "jigsync-ledger", maximumThreads: 1)
    private let lock = NSLock()
    private var pendingWrites: [PendingWrite] = []
    /// Writes to the `actions` table, committed in the same transaction as `pendingWrites`.
    private var pendingActions: [ActionWrite] = []
    private var flushScheduled = false
    /// The file SQLite opened (device, inode): a path that names another file, or none, means
    /// the ledger was deleted or replaced under us, and a commit would go nowhere anyone reads.
    private let identity: (device: UInt64, inode: UInt64)
    private var writeFailure: LedgerError?
    private var writeSequence = 0
    private let retryDelay: LedgerRetryDelay
    private var nextRetryDelay: Duration
    private var retryScheduled = false
    private var writeObserver: (@Sendable (LedgerWriteState) -> Void)?

    /// The default location: `$STATE_DIRECTORY/ledger.db` under systemd, else
    /// `$XDG_STATE_HOME/jigsync/ledger.db`, else `~/.local/state/jigsync/ledger.db`.
    public static func defaultPath(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let state = environment["STATE_DIRECTORY"]?.split(separator: ":").first, !state.isEmpty {
            return "\(state)/ledger.db"
        }
        if let xdg = environment["XDG_STATE_HOME"], xdg.hasPrefix("/") {
            return "\(xdg)/jigsync/ledger.db"
        }
        let home = environment["HOME"] ?? NSHomeDirectory()
        return "\(home)/.local/state/jigsync/ledger.db"
    }

    /// Opens the ledger at `path` as its owner.
    /// - Parameter retryDelay: how soon a failed write is tried again (tests shorten it).
    public init(path: String, retryDelay: LedgerRetryDelay = .standard) throws(LedgerError) {
        self.path = path
        self.retryDelay = retryDelay
        nextRetryDelay = retryDelay.initial
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            do {
                try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true,
                                                        attributes: [.posixPermissions: 0o700])
            } catch {
                throw LedgerError(.failed, path: path, message: "cannot create its directory: \(error.localizedDescription)")
            }
        }
        ownership = try LedgerLock(ledgerPath: path)
        try Self.checkHeader(path)
        // Create it 0600 before SQLite does (SQLite gives its -wal and -shm files the same mode).
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0o600)
        guard fd >= 0 else { throw LedgerError(.failed, path: path, message: String(cString: strerror(errno))) }
        var created = stat()
        fstat(fd, &created)
        close(fd)
        identity = (UInt64(created.st_dev), UInt64(created.st_ino))
        connection = try SQLiteConnection(path: path, readOnly: false)
        // SQLite opened the path after we did: it must still be the same file.
        try Self.checkIdentity(path, identity)
        try Self.migrate(connection)
        try connection.execute("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")
        let recover = try connection.statement("UPDATE files SET state = 'pending' WHERE state = 'uploading'")
        try recover.step()
        recoveredCount = Int(try connection.integer("SELECT changes()"))
    }

    /// Refuses a file that is not SQLite at all before SQLite touches it.
    private static func checkHeader(_ path: String) throws(LedgerError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)
        guard fd >= 0 else { return }   // does not exist yet
        defer { close(fd) }
        var header = [UInt8](repeating: 0, count: 16)
        let n = read(fd, &header, 16)
        if n == 0 { return }   // empty: a new ledger
        guard n == 16, header == Array("SQLite format 3\0".utf8) else {
            throw LedgerError(.notALedger, path: path,
                              message: "is not a jigsync ledger (not a SQLite database); it was left untouched: move it aside or pass another --ledger")
        }
    }

    private static func migrate(_ connection: SQLiteConnection) throws(LedgerError) {
        let applicationID = try connection.integer("PRAGMA application_id")
        let version = try connection.integer("PRAGMA user_version")
        let tables = try connection.integer("SELECT count(*) FROM sqlite_master")
        if applicationID != LedgerSchema.applicationID && (tables > 0 || version > 0) {
            throw LedgerError(.notALedger, path: connection.path,
                              message: "is a SQLite database but not a jigsync ledger; it was left untouched: move it aside or pass another --ledger")
        }
        if version > LedgerSchema.version {
            throw LedgerError(.tooNew, path: connection.path,
                              message: "was written by a newer jigsync (schema \(version), this one knows \(LedgerSchema.version)); upgrade jigsync")
        }
        var current = version
        while current < LedgerSchema.version {
            let next = current + 1
            try connection.transaction { () throws(LedgerError) in
                try connection.execute(LedgerSchema.migrations[next]!)
                try connection.execute("PRAGMA application_id = \(LedgerSchema.applicationID); PRAGMA user_version = \(next);")
            }
            current = next
        }
    }

    /// The pid and start time of the process that owns the ledger at `path`, if one does.
    public static func owner(ofLedgerAt path: String) -> (pid: Int32, since: Date, socket: String?, note: String?)? {
        LedgerLock.owner(ofLedgerAt: path)
    }

    /// Tells `status` (through the lock file) what the owner wants known: why uploads are
    /// paused, a folder that is gone, a refused mass delete. nil clears it.
    public func setOwnerNote(_ note: String?) {
        lock.withLock { ownership.write(note: note) }
    }

    /// Tells other processes where the owner's control socket is.
    public func setOwnerSocket(_ path: String?) {
        lock.withLock { ownership.socketPath = path }
    }

    // MARK: reads

    /// The row of one path, if any (queued writes first, so a row saved a moment ago is seen).
    public func record(folder: String, path: String) async throws(LedgerError) -> FileRecord? {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement(LedgerSchema.selectByPath)
            defer { statement.reset() }
            statement.bind([.text(folder), .text(path)])
            return try statement.step() ? LedgerSchema.record(from: statement) : nil
        }
    }

    /// The rows of several paths of `folder` (those that have one), read in one trip to the
    /// ledger's queue (queued writes first).
    public func records(folder: String, paths: [String]) async throws(LedgerError) -> [PathBytes: FileRecord] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement(LedgerSchema.selectByPath)
            defer { statement.reset() }
            var rows: [PathBytes: FileRecord] = [:]
            for path in paths {
                statement.reset()
                statement.bind([.text(folder), .text(path)])
                if try statement.step() { rows[PathBytes(path)] = LedgerSchema.record(from: statement) }
            }
            return rows
        }
    }

    /// Every name of an inode (hard links), across folders.
    public func records(device: UInt64, inode: UInt64) async throws(LedgerError) -> [FileRecord] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement("SELECT \(LedgerSchema.columns) FROM files WHERE device = ? AND inode = ?")
            defer { statement.reset() }
            statement.bind([.integer(Int64(bitPattern: device)), .integer(Int64(bitPattern: inode))])
            var rows: [FileRecord] = []
            while try statement.step() { rows.append(LedgerSchema.record(from: statement)) }
            return rows
        }
    }

    /// For each directory of `folder` in `prefixes` ("" for the root, else "a/b/"), the rows of
    /// the files directly in it: one indexed query per directory (`files_by_directory`), all in
    /// one trip to the ledger's queue, so a reconcile holds the rows of the directories it is
    /// comparing and never a folder's.
    public func records(folder: String, inDirectories prefixes: [String]) async throws(LedgerError) -> [[PathBytes: FileRecord]] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement(
                "SELECT \(LedgerSchema.columns) FROM files WHERE folder = ? AND \(LedgerSchema.directoryOfPath) = ?")
            defer { statement.reset() }
            var result: [[PathBytes: FileRecord]] = []
            result.reserveCapacity(prefixes.count)
            for prefix in prefixes {
                statement.reset()
                statement.bind([.text(folder), .text(prefix)])
                result.append(try LedgerSchema.recordsByPath(statement))
            }
            return result
        }
    }

    /// The directories of `folder` at or beneath `prefix` ("" for all, else "a/b/") that hold
    /// rows of files not `deleted`, as prefixes: after a walk, those it did not list are gone.
    public func directoriesWithLiveRows(folder: String, under prefix: String) async throws(LedgerError) -> [String] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement(LedgerSchema.liveDirectories(under: prefix))
            defer { statement.reset() }
            statement.bind(LedgerSchema.liveDirectoriesBindings(folder: folder, under: prefix))
            var directories: [String] = []
            while try statement.step() { directories.append(statement.text(0) ?? "") }
            return directories
        }
    }

    /// Rows in the given states across all folders (due work left by an earlier run).
    public func records(inStates states: [FileState]) async throws(LedgerError) -> [FileRecord] {
        try await onQueue { () throws(LedgerError) in
            let list = states.map { "'\($0.rawValue)'" }.joined(separator: ",")
            self.flushPending()
            let statement = try self.connection.statement("SELECT \(LedgerSchema.columns) FROM files WHERE state IN (\(list))")
            defer { statement.reset() }
            var rows: [FileRecord] = []
            while try statement.step() { rows.append(LedgerSchema.record(from: statement)) }
            return rows
        }
    }

    /// The number of rows of `folder` whose content the store holds (the damage guard's base).
    public func storedCount(folder: String) async throws(LedgerError) -> Int {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement("SELECT count(*) FROM files WHERE folder = ? AND uploaded_sha256 IS NOT NULL")
            defer { statement.reset() }
            statement.bind([.text(folder)])
            return try statement.step() ? Int(statement.int64(0)) : 0
        }
    }

    /// The damage guard's holds, as an earlier run left them.
    public func damageHolds() async throws(LedgerError) -> [DamageHold] {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement("SELECT folder, reason, since_ms FROM damage_holds")
            defer { statement.reset() }
            var holds: [DamageHold] = []
            while try statement.step() {
                holds.append(DamageHold(folder: statement.text(0) ?? "", reason: statement.text(1) ?? "", since: statement.int64(2)))
            }
            return holds
        }
    }

    /// Records a hold (committed before it returns: a crash right after must not forget it).
    public func saveDamageHold(_ hold: DamageHold) async throws(LedgerError) {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement(
                "INSERT INTO damage_holds (folder, reason, since_ms) VALUES (?, ?, ?) ON CONFLICT (folder) DO UPDATE SET reason = excluded.reason, since_ms = excluded.since_ms")
            defer { statement.reset() }
            statement.bind([.text(hold.folder), .text(hold.reason), .integer(hold.since)])
            _ = try statement.step()
        }
    }

    /// Forgets the hold of `folder`, or every hold (`--trust-changes`); returns how many there were.
    @discardableResult
    public func clearDamageHolds(folder: String? = nil) async throws(LedgerError) -> Int {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement(
                folder == nil ? "DELETE FROM damage_holds" : "DELETE FROM damage_holds WHERE folder = ?")
            defer { statement.reset() }
            if let folder { statement.bind([.text(folder)]) }
            _ = try statement.step()
            return Int(try self.connection.integer("SELECT changes()"))
        }
    }

    /// The stored versions of one file, newest first.
    public func versions(folder: String, path: String) async throws(LedgerError) -> [StoredVersion] {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement(LedgerSchema.versionsOfPath)
            defer { statement.reset() }
            statement.bind([.text(folder), .text(path)])
            var versions: [StoredVersion] = []
            while try statement.step() { versions.append(LedgerSchema.version(from: statement)) }
            return versions
        }
    }

    /// Records a stored version (committed before it returns).
    public func saveVersion(_ v: StoredVersion) async throws(LedgerError) {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement(
                "INSERT OR REPLACE INTO versions (\(LedgerSchema.versionColumns)) VALUES (?, ?, ?, ?, ?, ?)")
            defer { statement.reset() }
            statement.bind([.text(v.folder), .text(v.path), .text(v.key), .text(v.sha256), .integer(v.size), .integer(v.storedAt)])
            _ = try statement.step()
        }
    }

    /// Forgets a version whose remote copy was deleted.
    public func deleteVersion(key: String) async throws(LedgerError) {
        try await onQueue { () throws(LedgerError) in
            let statement = try self.connection.statement("DELETE FROM versions WHERE key = ?")
            defer { statement.reset() }
            statement.bind([.text(key)])
            _ = try statement.step()
        }
    }

    // MARK: writes

    /// Queues a row to be written; rows queued together are committed in one transaction.
    /// - Parameter keepingRemoteState: for a planner's row: what the store holds (`uploaded_sha256`,
    ///   its size, time and URL, `unconfirmed_send`) stays as the row says. Only the worker that
    ///   talked to the store knows it; a plan read before that worker recorded its upload would
    ///   otherwise forget the copy, and a later delete would leave it behind.
    public func save(_ record: FileRecord, keepingRemoteState: Bool = false) {
        save([record], keepingRemoteState: keepingRemoteState)
    }

    public func save(_ records: [FileRecord], keepingRemoteState: Bool = false) {
        save(records, keepingRemoteState: keepingRemoteState, actions: [])
    }

    /// Queues a row and the action its new state owes: both are committed in one transaction, so
    /// a crash can never leave a stored version without its due action.
    public func save(_ record: FileRecord, action: ActionRecord?) {
        save([record], keepingRemoteState: false, actions: action.map { [.due($0)] } ?? [])
    }

    /// Queues rows with the actions their new states owe (one per row at most), in one transaction.
    public func save(_ records: [FileRecord], actions: [ActionRecord]) {
        save(records, keepingRemoteState: false, actions: actions.map { .due($0) })
    }

    /// Queues the outcome of an action run (written only if the row still names that version).
    func saveOutcome(_ action: ActionRecord) {
        save([], keepingRemoteState: false, actions: [.outcome(action)])
    }

    private func save(_ records: [FileRecord], keepingRemoteState: Bool, actions: [ActionWrite]) {
        guard !records.isEmpty || !actions.isEmpty else { return }
        let schedule = lock.withLock {
            // Appended in place: a plan's batch is a thousand rows, and a mapped array of them
            // would be one more copy of every row.
            for record in records { pendingWrites.append(PendingWrite(record: record, keepsRemoteState: keepingRemoteState)) }
            pendingActions.append(contentsOf: actions)
            // While writes fail, the retry timer takes these along; no attempt per save.
            guard !retryScheduled else { return false }
            defer { flushScheduled = true }
            return !flushScheduled
        }
        if schedule { queue.async { self.flushPending() } }
    }

    /// Waits until everything queued so far is committed; throws why it could not be (the rows
    /// stay queued and are retried).
    public func flush() async throws(LedgerError) {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            if let error = self.lock.withLock({ self.writeFailure }) { throw error }
        }
    }

    /// Writes `record` and waits until it is committed: for a row that must be on disk before
    /// anything else happens (an upload is recorded `uploading` before a byte is sent).
    public func commit(_ record: FileRecord) async throws(LedgerError) {
        save(record)
        try await flush()
    }

    /// Records the uploads of a batch about to go out, in one trip to the ledger's queue and one
    /// transaction: each row takes what the store holds (its URL, `uploaded_sha256`, size and time,
    /// `unconfirmed_send`) from the ledger's own row — a job's copy may predate an upload recorded
    /// since, and a delete that follows must know of that copy — and is committed before this
    /// returns: nothing is sent that cannot be recorded. Returns the rows as merged (in the order
    /// given), and why they could not be committed (then they stay queued and are retried, like
    /// every write).
    public func commitSending(_ records: [FileRecord]) async -> (records: [FileRecord], failure: LedgerError?) {
        guard !records.isEmpty else { return ([], nil) }
        let outcome: Result<([FileRecord], LedgerError?), LedgerError> = await queue.perform { () -> Result<([FileRecord], LedgerError?), LedgerError> in
            var merged = records
            do throws(LedgerError) {
                self.flushPending()
                let statement = try self.connection.statement(LedgerSchema.selectStoredStateByPath)
                for index in merged.indices {
                    statement.reset()
                    statement.bind(1, merged[index].folder)
                    statement.bind(2, merged[index].path)
                    if try statement.step() {
                        let sending = merged[index].unconfirmedSend
                        LedgerSchema.takeStoredState(from: statement, into: &merged[index])
                        merged[index].unconfirmedSend = merged[index].unconfirmedSend || sending
                    }
                    statement.reset()
                }
            } catch {
                return .failure(error)
            }
            self.lock.withLock { self.pendingWrites.append(contentsOf: merged.map { PendingWrite(record: $0, keepsRemoteState: false) }) }
            self.flushPending()
            return .success((merged, self.lock.withLock { self.writeFailure }))
        }
        switch outcome {
        case .success(let (merged, failure)): return (merged, failure)
        case .failure(let error): return (records, error)
        }
    }

    /// Whether writes go through now, and why not.
    public var writeState: LedgerWriteState {
        lock.withLock { LedgerWriteState(sequence: writeSequence, failure: writeFailure) }
    }

    /// Calls `observer` (on the ledger's queue; it must not block) each time writes start
    /// failing or work again. One observer at a time; nil removes it.
    public func observeWrites(_ observer: (@Sendable (LedgerWriteState) -> Void)?) {
        lock.withLock { writeObserver = observer }
    }

    /// Makes failed rows (or the rows at `paths` of `folder`) due again; returns how many changed.
    public func retry(folder: String? = nil, paths: [String]? = nil) async throws(LedgerError) -> Int {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            return try self.connection.transaction { () throws(LedgerError) -> Int in
                if let folder, let paths {
                    let statement = try self.connection.statement(
                        "UPDATE files SET state = 'pending', attempts = 0, next_attempt_at = NULL WHERE folder = ? AND path = ? AND state IN ('failed', 'pending')")
                    var changed = 0
                    for path in paths {
                        statement.reset()
                        statement.bind([.text(folder), .text(path)])
                        try statement.step()
                        changed += Int(try self.connection.integer("SELECT changes()"))
                    }
                    return changed
                }
                try self.connection.execute("UPDATE files SET state = 'pending', attempts = 0, next_attempt_at = NULL WHERE state = 'failed'")
                return Int(try self.connection.integer("SELECT changes()"))
            }
        }
    }

    /// Rows by state (for the metrics' gauges, per scrape).
    public func stateCounts() async throws(LedgerError) -> [FileState: Int] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement("SELECT state, count(*) FROM files GROUP BY state")
            defer { statement.reset() }
            var counts: [FileState: Int] = [:]
            while try statement.step() {
                if let state = statement.text(0).flatMap(FileState.init(rawValue:)) { counts[state] = Int(statement.int64(1)) }
            }
            return counts
        }
    }

    // MARK: actions

    /// The action row of one path, if any (queued writes first).
    public func action(folder: String, path: String) async throws(LedgerError) -> ActionRecord? {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement("SELECT \(LedgerSchema.actionColumns) FROM actions WHERE folder = ? AND path = ?")
            defer { statement.reset() }
            statement.bind([.text(folder), .text(path)])
            return try statement.step() ? LedgerSchema.action(from: statement) : nil
        }
    }

    /// Actions in `state` (the due ones left by an earlier run, at start).
    public func actions(in state: ActionRecord.State) async throws(LedgerError) -> [ActionRecord] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            let statement = try self.connection.statement("SELECT \(LedgerSchema.actionColumns) FROM actions WHERE state = ?")
            defer { statement.reset() }
            statement.bind([.text(state.rawValue)])
            var rows: [ActionRecord] = []
            while try statement.step() { rows.append(LedgerSchema.action(from: statement)) }
            return rows
        }
    }

    /// Makes failed actions due again (`jigsync retry --actions`); returns them.
    public func retryActions() async throws(LedgerError) -> [ActionRecord] {
        try await onQueue { () throws(LedgerError) in
            self.flushPending()
            return try self.connection.transaction { () throws(LedgerError) -> [ActionRecord] in
                try self.connection.execute("UPDATE actions SET state = 'due', attempts = 0 WHERE state = 'failed'")
                let statement = try self.connection.statement("SELECT \(LedgerSchema.actionColumns) FROM actions WHERE state = 'due'")
                defer { statement.reset() }
                var rows: [ActionRecord] = []
                while try statement.step() { rows.append(LedgerSchema.action(from: statement)) }
                return rows
            }
        }
    }

    /// On `queue`: writes every queued row in one transaction. On failure the rows go back to
    /// the front of the queue (only the newest row of each path: memory follows the files, not
    /// the attempts) and a retry is scheduled; the observer hears of each change of state.
    private func flushPending() {
        // Taken, not copied: `removeAll(keepingCapacity:)` on an array still referenced by the
        // batch allocated a new buffer of the batch's size at every flush.
        var batch: [PendingWrite] = []
        let actions = lock.withLock {
            defer { pendingActions.removeAll(); flushScheduled = false }
            swap(&batch, &pendingWrites)
            return pendingActions
        }
        guard !batch.isEmpty || !actions.isEmpty else { return }
        do throws(LedgerError) {
            try Self.checkIdentity(path, identity)
            try connection.transaction { () throws(LedgerError) in
                let whole = try connection.statement(LedgerSchema.upsert)
                let keepingRemote = try connection.statement(LedgerSchema.upsertKeepingRemoteState)
                let sameInode = try connection.statement(LedgerSchema.updateSameInode)
                for write in batch {
                    if !write.keepsRemoteState {
                        // A worker's write, almost always to the row the plan wrote.
                        sameInode.reset()
                        LedgerSchema.bind(write.record, to: sameInode)
                        try sameInode.step()
                        if connection.changes > 0 { continue }
                    }
                    let statement = write.keepsRemoteState ? keepingRemote : whole
                    statement.reset()
                    LedgerSchema.bind(write.record, to: statement)
                    try statement.step()
                }
                for write in actions {
                    let (sql, values) = switch write {
                    case .due(let a): (LedgerSchema.actionDue, LedgerSchema.actionBindings(a))
                    case .outcome(let a): (LedgerSchema.actionOutcome, LedgerSchema.outcomeBindings(a))
                    }
                    let statement = try connection.statement(sql)
                    statement.reset()
                    statement.bind(values)
                    try statement.step()
                    statement.reset()
                }
            }
            let (observer, state) = lock.withLock { () -> ((@Sendable (LedgerWriteState) -> Void)?, LedgerWriteState?) in
                guard writeFailure != nil else { return (nil, nil) }
                writeFailure = nil
                writeSequence += 1
                nextRetryDelay = retryDelay.initial
                return (writeObserver, LedgerWriteState(sequence: writeSequence, failure: nil))
            }
            if let state { observer?(state) }
            // The emptied buffer goes back for the next rows (unless some came meanwhile): a
            // steady stream of writes reuses one buffer instead of growing a new one each flush.
            batch.removeAll(keepingCapacity: true)
            lock.withLock { if pendingWrites.isEmpty { swap(&batch, &pendingWrites) } }
        } catch {
            let (observer, state, delay) = lock.withLock {
                () -> ((@Sendable (LedgerWriteState) -> Void)?, LedgerWriteState?, Duration?) in
                pendingWrites = Self.newestPerPath(batch + pendingWrites)
                pendingActions = actions + pendingActions
                var changed: LedgerWriteState?
                if writeFailure?.message != error.message {
                    writeSequence += 1
                    changed = LedgerWriteState(sequence: writeSequence, failure: error)
                }
                writeFailure = error
                guard !retryScheduled else { return (writeObserver, changed, nil) }
                retryScheduled = true
                defer { nextRetryDelay = min(nextRetryDelay * 2, retryDelay.maximum) }
                return (writeObserver, changed, nextRetryDelay)
            }
            if let state { observer?(state) }
            if let delay {
                queue.async(after: delay) {
                    self.lock.withLock { self.retryScheduled = false }
                    self.flushPending()
                }
            }
        }
    }

    /// One queued row, and whether it leaves the row's remote state alone (a planner's write).
    private struct PendingWrite {
        var record: FileRecord
        var keepsRemoteState: Bool
    }

    /// The last row queued for each path, in the order of those last rows: writing them is the
    /// same as writing all of them in order (a last write that keeps the remote state takes it
    /// from the write before it).
    private static func newestPerPath(_ writes: [PendingWrite]) -> [PendingWrite] {
        var newest: [String: (index: Int, write: PendingWrite)] = [:]
        for (index, var write) in writes.enumerated() {
            let path = write.record.folder + "\u{0}" + write.record.path
            if write.keepsRemoteState, let before = newest[path]?.write {
                write.record.takeStoredState(from: before.record)
                write.keepsRemoteState = before.keepsRemoteState
            }
            newest[path] = (index, write)
        }
        return newest.values.sorted { $0.index < $1.index }.map(\.write)
    }

    /// Throws unless `path` still names the file the ledger opened: a ledger deleted or replaced
    /// under a running owner would take commits that nobody will ever read.
    private static func checkIdentity(_ path: String, _ identity: (device: UInt64, inode: UInt64)) throws(LedgerError) {
        var named = stat()
        guard Glibc.lstat(path, &named) == 0 else {
            let reason = errno == ENOENT ? "was deleted while jigsync had it open" : "cannot be checked: \(String(cString: strerror(errno)))"
            throw LedgerError(.failed, path: path, message: "\(reason); new rows are kept in memory and written when it is back "
                              + "(put it back, or restart jigsync to start a new ledger from the folders)")
        }
        guard UInt64(named.st_dev) == identity.device, UInt64(named.st_ino) == identity.inode else {
            throw LedgerError(.failed, path: path, message: "was replaced by another file while jigsync had it open; new rows are kept "
                              + "in memory and written when the original is back (or restart jigsync to use the new file)")
        }
    }

    private func onQueue<T: Sendable>(_ work: @escaping @Sendable () throws(LedgerError) -> T) async throws(LedgerError) -> T {
        try await queue.perform(work)
    }
}
