import Foundation

/// The ledger read from outside the owner: `status`, `key`, `url`.
///
/// Opens read-only, never recovers, never writes, and reads in chunks (each its own short read
/// transaction) so a long listing cannot hold back the owner's WAL checkpoints.
public final class LedgerReader {
    public let path: String
    private let connection: SQLiteConnection
    /// The columns of a row as this ledger's schema has them.
    private let columns: String
    /// The ledger's schema version (`PRAGMA user_version`).
    private let version: Int64
    /// Whether the ledger has the `actions` table (schema 5 and later).
    private let hasActions: Bool
    /// Rows per read transaction.
    static let chunkSize = 500

    /// Counts and times over the whole ledger.
    public struct Summary: Sendable {
        public var counts: [FileState: Int] = [:]
        /// Bytes of the remote copies of uploaded files.
        public var uploadedBytes: Int64 = 0
        /// Unix milliseconds of the latest upload.
        public var lastUploadAt: Int64?
        /// Wall-clock nanoseconds when the oldest due file was examined.
        public var oldestDueExaminedAt: Int64?
    }

    public init(path: String) throws(LedgerError) {
        guard FileManager.default.fileExists(atPath: path) else {
            throw LedgerError(.failed, path: path, message: "does not exist (nothing has been synced with it yet)")
        }
        self.path = path
        connection = try SQLiteConnection(path: path, readOnly: true)
        let applicationID = try connection.integer("PRAGMA application_id")
        guard applicationID == LedgerSchema.applicationID else {
            throw LedgerError(.notALedger, path: path, message: "is not a jigsync ledger")
        }
        version = try connection.integer("PRAGMA user_version")
        columns = LedgerSchema.columns(readingVersion: version)
        hasActions = version >= 5
    }

    /// The stored versions of one file, newest first (none in a ledger older than the table).
    public func versions(folder: String, path: String) throws(LedgerError) -> [StoredVersion] {
        guard version >= 4 else { return [] }
        let statement = try connection.statement(LedgerSchema.versionsOfPath)
        defer { statement.reset() }
        statement.bind([.text(folder), .text(path)])
        var versions: [StoredVersion] = []
        while try statement.step() { versions.append(LedgerSchema.version(from: statement)) }
        return versions
    }

    /// The damage guard's holds (none in a ledger older than the table).
    public func damageHolds() throws(LedgerError) -> [DamageHold] {
        guard version >= 3 else { return [] }
        let statement = try connection.statement("SELECT folder, reason, since_ms FROM damage_holds")
        defer { statement.reset() }
        var holds: [DamageHold] = []
        while try statement.step() {
            holds.append(DamageHold(folder: statement.text(0) ?? "", reason: statement.text(1) ?? "", since: statement.int64(2)))
        }
        return holds
    }

    /// Actions by state, and the rows in `listed` states (the failed ones, for `status`).
    public func actions(listing listed: [ActionRecord.State] = [.failed]) throws(LedgerError) -> (counts: [ActionRecord.State: Int], rows: [ActionRecord]) {
        guard hasActions else { return ([:], []) }
        var counts: [ActionRecord.State: Int] = [:]
        let grouped = try connection.statement("SELECT state, count(*) FROM actions GROUP BY state")
        defer { grouped.reset() }
        while try grouped.step() {
            if let state = grouped.text(0).flatMap(ActionRecord.State.init(rawValue:)) { counts[state] = Int(grouped.int64(1)) }
        }
        guard !listed.isEmpty else { return (counts, []) }
        let list = listed.map { "'\($0.rawValue)'" }.joined(separator: ",")
        let statement = try connection.statement("SELECT \(LedgerSchema.actionColumns) FROM actions WHERE state IN (\(list)) ORDER BY folder, path LIMIT 1000")
        defer { statement.reset() }
        var rows: [ActionRecord] = []
        while try statement.step() { rows.append(LedgerSchema.action(from: statement)) }
        return (counts, rows)
    }

    public func summary() throws(LedgerError) -> Summary {
        var summary = Summary()
        let counts = try connection.statement("SELECT state, count(*) FROM files GROUP BY state")
        defer { counts.reset() }
        while try counts.step() {
            if let state = counts.text(0).flatMap(FileState.init(rawValue:)) { summary.counts[state] = Int(counts.int64(1)) }
        }
        let uploaded = try connection.statement("SELECT sum(uploaded_size), max(uploaded_at) FROM files WHERE state = 'uploaded'")
        defer { uploaded.reset() }
        if try uploaded.step() {
            summary.uploadedBytes = uploaded.optionalInt64(0) ?? 0
            summary.lastUploadAt = uploaded.optionalInt64(1)
        }
        let due = try connection.statement("SELECT min(examined_at_ns) FROM files WHERE state IN ('pending', 'uploading')")
        defer { due.reset() }
        if try due.step() { summary.oldestDueExaminedAt = due.optionalInt64(0) }
        return summary
    }

    /// Folders the ledger knows.
    public func folders() throws(LedgerError) -> [String] {
        let statement = try connection.statement("SELECT DISTINCT folder FROM files")
        defer { statement.reset() }
        var folders: [String] = []
        while try statement.step() { if let folder = statement.text(0) { folders.append(folder) } }
        return folders
    }

    /// The row of one file.
    public func record(folder: String, path: String) throws(LedgerError) -> FileRecord? {
        let statement = try connection.statement("SELECT \(columns) FROM files WHERE folder = ? AND path = ?")
        defer { statement.reset() }
        statement.bind([.text(folder), .text(path)])
        return try statement.step() ? LedgerSchema.record(from: statement) : nil
    }

    /// The row of the file at an absolute path, found through the folders the ledger knows.
    public func record(atAbsolutePath absolute: String) throws(LedgerError) -> FileRecord? {
        for folder in try folders().sorted(by: { $0.count > $1.count }) where absolute.hasPrefix(folder + "/") {
            if let record = try record(folder: folder, path: String(absolute.dropFirst(folder.count + 1))) { return record }
        }
        return nil
    }

    /// For each directory of `folder` in `prefixes` ("" for the root, else "a/b/"), the rows of
    /// the files directly in it. A ledger older than schema 6 has no index by directory: the
    /// directory's range of the `(folder, path)` index is read and filtered instead.
    public func records(folder: String, inDirectories prefixes: [String]) throws(LedgerError) -> [[PathBytes: FileRecord]] {
        var result: [[PathBytes: FileRecord]] = []
        for prefix in prefixes {
            let statement: SQLiteStatement
            if version >= 6 {
                statement = try connection.statement("SELECT \(columns) FROM files WHERE folder = ? AND \(LedgerSchema.directoryOfPath) = ?")
                statement.bind([.text(folder), .text(prefix)])
            } else if prefix.isEmpty {
                statement = try connection.statement("SELECT \(columns) FROM files WHERE folder = ? AND instr(path, '/') = 0")
                statement.bind([.text(folder)])
            } else {
                statement = try connection.statement(
                    "SELECT \(columns) FROM files WHERE folder = ? AND path >= ? AND path < ? AND \(LedgerSchema.directoryOfPath) = ?")
                statement.bind([.text(folder), .text(prefix), .text(String(prefix.dropLast()) + "0"), .text(prefix)])
            }
            defer { statement.reset() }
            result.append(try LedgerSchema.recordsByPath(statement))
        }
        return result
    }

    /// The directories of `folder` at or beneath `prefix` holding rows not `deleted`, as prefixes.
    public func directoriesWithLiveRows(folder: String, under prefix: String) throws(LedgerError) -> [String] {
        let statement = try connection.statement(LedgerSchema.liveDirectories(under: prefix))
        defer { statement.reset() }
        statement.bind(LedgerSchema.liveDirectoriesBindings(folder: folder, under: prefix))
        var directories: [String] = []
        while try statement.step() { directories.append(statement.text(0) ?? "") }
        return directories
    }

    /// The number of rows of `folder` whose content the store holds (the damage guard's base).
    public func storedCount(folder: String) throws(LedgerError) -> Int {
        let statement = try connection.statement("SELECT count(*) FROM files WHERE folder = ? AND uploaded_sha256 IS NOT NULL")
        defer { statement.reset() }
        statement.bind([.text(folder)])
        return try statement.step() ? Int(statement.int64(0)) : 0
    }

    /// Calls `body` with every row (in the given states, if any), a chunk per read transaction.
    public func forEach(states: [FileState]? = nil, folder: String? = nil, _ body: (FileRecord) throws -> Void) throws {
        var filter = states.map { " AND state IN (" + $0.map { "'\($0.rawValue)'" }.joined(separator: ",") + ")" } ?? ""
        if folder != nil { filter += " AND folder = ?" }
        let statement = try connection.statement("SELECT id, \(columns) FROM files WHERE id > ?\(filter) ORDER BY id LIMIT \(Self.chunkSize)")
        var lastID: Int64 = 0
        while true {
            statement.reset()
            statement.bind([.integer(lastID)] + (folder.map { [.text($0)] } ?? []))
            var chunk: [FileRecord] = []
            while try statement.step() {
                lastID = statement.int64(0)
                chunk.append(LedgerSchema.record(from: statement, offset: 1))
            }
            statement.reset()   // ends the read transaction before the caller works on the chunk
            for record in chunk { try body(record) }
            if chunk.count < Self.chunkSize { return }
        }
    }
}
