/// The ledger's tables, their migrations and the mapping between rows and `FileRecord`.
enum LedgerSchema {
    /// `PRAGMA application_id` of a jigsync ledger ("JSYN"), so another SQLite file is recognised.
    static let applicationID: Int64 = 0x4A53_594E
    /// The schema version this build writes (`PRAGMA user_version`).
    static let version: Int64 = 6

    /// Migrations by the version they lead to; each runs in its own transaction.
    static let migrations: [Int64: String] = [
        1: """
        CREATE TABLE files (
            id INTEGER PRIMARY KEY,
            folder TEXT NOT NULL,
            path TEXT NOT NULL,
            key TEXT NOT NULL,
            size INTEGER NOT NULL,
            mtime_ns INTEGER NOT NULL,
            ctime_ns INTEGER NOT NULL,
            inode INTEGER NOT NULL,
            device INTEGER NOT NULL,
            sha256 TEXT,
            content_type TEXT,
            state TEXT NOT NULL,
            last_error TEXT,
            last_http_status INTEGER,
            attempts INTEGER NOT NULL DEFAULT 0,
            next_attempt_at INTEGER,
            remote_url TEXT,
            uploaded_sha256 TEXT,
            uploaded_size INTEGER,
            uploaded_at INTEGER,
            examined_at_ns INTEGER NOT NULL,
            UNIQUE (folder, path)
        );
        CREATE INDEX files_by_inode ON files (device, inode);
        CREATE INDEX files_by_state ON files (state);
        """,
        2: "ALTER TABLE files ADD COLUMN unconfirmed_send INTEGER NOT NULL DEFAULT 0;",
        // A folder whose overwrites the damage guard holds: kept across restarts, so a restart
        // does not silently overwrite what the guard stopped (its rows stay `pending`).
        3: "CREATE TABLE damage_holds (folder TEXT PRIMARY KEY, reason TEXT NOT NULL, since_ms INTEGER NOT NULL);",
        // The remote versions of files (`versions: N`): the API cannot list keys, so the ledger does.
        4: "CREATE TABLE versions (key TEXT PRIMARY KEY, folder TEXT NOT NULL, path TEXT NOT NULL, sha256 TEXT NOT NULL, size INTEGER NOT NULL, stored_at_ms INTEGER NOT NULL);",
        // The actions owed after a stored version (or a remote delete): one row per path, replaced
        // by the next version. Kept apart from `files` so a ledger without actions pays nothing.
        5: """
        CREATE TABLE actions (
            folder TEXT NOT NULL,
            path TEXT NOT NULL,
            event TEXT NOT NULL,
            key TEXT NOT NULL,
            sha256 TEXT,
            size INTEGER,
            content_type TEXT,
            url TEXT,
            state TEXT NOT NULL,
            attempts INTEGER NOT NULL DEFAULT 0,
            last_error TEXT,
            exit_status INTEGER,
            due_at INTEGER NOT NULL,
            PRIMARY KEY (folder, path)
        );
        """,
        // The rows directly in one directory, for a reconcile that goes a directory at a time
        // (`directoryOfPath`: the path up to its last "/", "" for a file in the root). An index
        // on an expression adds no column to the table and is never touched by an update that
        // leaves `folder` and `path` alone, which is every write but the first of a path.
        6: "CREATE INDEX files_by_directory ON files (folder, \(directoryOfPath));",
    ]

    /// The directory part of `path` as the prefix of its files' paths ("a/b/" for "a/b/c", ""
    /// for "c"): `rtrim` strips every character but "/" from the right. A query uses the index
    /// `files_by_directory` only when it spells the expression exactly like this.
    static let directoryOfPath = "rtrim(path, replace(path, '/', ''))"

    /// The distinct directories (as prefixes) holding rows not `deleted` of a folder, at or
    /// beneath `prefix`: the whole folder, or a range on the `(folder, path)` index
    /// ("a/" ≤ path < "a0": "0" follows "/").
    static func liveDirectories(under prefix: String) -> String {
        "SELECT DISTINCT \(directoryOfPath) FROM files WHERE folder = ? AND state <> 'deleted'"
            + (prefix.isEmpty ? "" : " AND path >= ? AND path < ?")
    }

    static func liveDirectoriesBindings(folder: String, under prefix: String) -> [SQLiteValue?] {
        prefix.isEmpty ? [.text(folder)] : [.text(folder), .text(prefix), .text(String(prefix.dropLast()) + "0")]
    }

    static let actionColumns = "folder, path, event, key, sha256, size, content_type, url, state, attempts, last_error, exit_status, due_at"

    /// A new version's action replaces the row, unless the row is that same version already run
    /// (an identical re-upload is not a new version).
    static let actionDue = """
        INSERT INTO actions (\(actionColumns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT (folder, path) DO UPDATE SET
            event = excluded.event, key = excluded.key, sha256 = excluded.sha256, size = excluded.size,
            content_type = excluded.content_type, url = excluded.url, state = excluded.state,
            attempts = excluded.attempts, last_error = excluded.last_error, exit_status = excluded.exit_status,
            due_at = excluded.due_at
        WHERE NOT (actions.state = 'done' AND actions.event = excluded.event AND actions.sha256 IS excluded.sha256)
        """

    /// An outcome, only while the row still names the version that ran.
    static let actionOutcome = """
        UPDATE actions SET state = ?, attempts = ?, last_error = ?, exit_status = ?
        WHERE folder = ? AND path = ? AND event = ? AND sha256 IS ? AND due_at = ?
        """

    static func actionBindings(_ a: ActionRecord) -> [SQLiteValue?] {
        [.text(a.folder), .text(a.path), .text(a.event.rawValue), .text(a.key), a.sha256.sqlite, a.size.sqlite,
         a.contentType.sqlite, a.url.sqlite, .text(a.state.rawValue), .integer(Int64(a.attempts)), a.lastError.sqlite,
         a.exitStatus.map { .integer(Int64($0)) }, .integer(a.dueAt)]
    }

    static func outcomeBindings(_ a: ActionRecord) -> [SQLiteValue?] {
        [.text(a.state.rawValue), .integer(Int64(a.attempts)), a.lastError.sqlite, a.exitStatus.map { .integer(Int64($0)) },
         .text(a.folder), .text(a.path), .text(a.event.rawValue), a.sha256.sqlite, .integer(a.dueAt)]
    }

    /// Reads a row selected with `actionColumns`.
    static func action(from s: SQLiteStatement) -> ActionRecord {
        var a = ActionRecord(folder: s.text(0) ?? "", path: s.text(1) ?? "",
                             event: ActionRecord.Event(rawValue: s.text(2) ?? "") ?? .uploaded, key: s.text(3) ?? "",
                             sha256: s.text(4), size: s.optionalInt64(5), contentType: s.text(6), url: s.text(7),
                             state: ActionRecord.State(rawValue: s.text(8) ?? "") ?? .due, dueAt: s.int64(12))
        a.attempts = Int(s.int64(9))
        a.lastError = s.text(10)
        a.exitStatus = s.optionalInt64(11).map { Int($0) }
        return a
    }

    static let columns = """
        folder, path, key, size, mtime_ns, ctime_ns, inode, device, sha256, content_type, state, last_error,
        last_http_status, attempts, next_attempt_at, remote_url, uploaded_sha256, uploaded_size, uploaded_at, examined_at_ns,
        unconfirmed_send
        """

    /// `columns` for a ledger of an older schema (read-only readers never migrate): what a
    /// column added since reads as.
    static func columns(readingVersion version: Int64) -> String {
        version >= 2 ? columns : columns.replacingOccurrences(of: "unconfirmed_send", with: "0")
    }

    static let versionColumns = "folder, path, key, sha256, size, stored_at_ms"

    /// Reads a row selected with `versionColumns`.
    static func version(from s: SQLiteStatement) -> StoredVersion {
        StoredVersion(folder: s.text(0) ?? "", path: s.text(1) ?? "", key: s.text(2) ?? "", sha256: s.text(3) ?? "",
                      size: s.int64(4), storedAt: s.int64(5))
    }

    /// The versions of one file, newest first.
    static let versionsOfPath = "SELECT \(versionColumns) FROM versions WHERE folder = ? AND path = ? ORDER BY stored_at_ms DESC, key DESC"

    private static let insertFiles = """
        INSERT INTO files (\(columns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT (folder, path) DO UPDATE SET
        """
    /// What the file system showed: a plan's to write.
    private static let localAssignments = """
            key = excluded.key, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns,
            inode = excluded.inode, device = excluded.device, sha256 = excluded.sha256,
            content_type = excluded.content_type, state = excluded.state, last_error = excluded.last_error,
            last_http_status = excluded.last_http_status, attempts = excluded.attempts,
            next_attempt_at = excluded.next_attempt_at, examined_at_ns = excluded.examined_at_ns
        """
    /// What the store holds: only a worker that talked to it writes these.
    private static let remoteAssignments = """
            remote_url = excluded.remote_url, uploaded_sha256 = excluded.uploaded_sha256,
            uploaded_size = excluded.uploaded_size, uploaded_at = excluded.uploaded_at,
            unconfirmed_send = excluded.unconfirmed_send
        """

    static let upsert = insertFiles + "\n" + localAssignments + ",\n" + remoteAssignments

    /// `upsert`'s change to a row that exists with the same inode, as an UPDATE (the parameters
    /// are numbered as `columns`, so `bind` serves both): a worker's writes (`uploading`, then the
    /// outcome) go to a row the plan wrote, and this is cheaper than the upsert — no insert tried
    /// first, and the `(device, inode)` index is left alone. No row changed: the upsert follows.
    static let updateSameInode = """
        UPDATE files SET key = ?3, size = ?4, mtime_ns = ?5, ctime_ns = ?6, sha256 = ?9, content_type = ?10,
            state = ?11, last_error = ?12, last_http_status = ?13, attempts = ?14, next_attempt_at = ?15,
            remote_url = ?16, uploaded_sha256 = ?17, uploaded_size = ?18, uploaded_at = ?19, examined_at_ns = ?20,
            unconfirmed_send = ?21
        WHERE folder = ?1 AND path = ?2 AND inode = ?7 AND device = ?8
        """

    /// `upsert` for a planner's row: an existing row keeps what it says the store holds.
    static let upsertKeepingRemoteState = insertFiles + "\n" + localAssignments

    /// Binds `r` to an `upsert` (or `upsertKeepingRemoteState`), in `columns` order: one call
    /// per column, no array of values built per row (a plan writes thousands of rows at a time).
    static func bind(_ r: FileRecord, to s: SQLiteStatement) {
        s.bind(1, r.folder)
        s.bind(2, r.path)
        s.bind(3, r.key)
        s.bind(4, r.size)
        s.bind(5, r.mtimeNanoseconds)
        s.bind(6, r.ctimeNanoseconds)
        s.bind(7, Int64(bitPattern: r.inode))
        s.bind(8, Int64(bitPattern: r.device))
        s.bind(9, r.sha256)
        s.bind(10, r.contentType)
        s.bind(11, r.state.rawValue)
        s.bind(12, r.lastError)
        s.bind(13, r.lastHTTPStatus.map { Int64($0) })
        s.bind(14, Int64(r.attempts))
        s.bind(15, r.nextAttemptAt)
        s.bind(16, r.remoteURL)
        s.bind(17, r.uploadedSHA256)
        s.bind(18, r.uploadedSize)
        s.bind(19, r.uploadedAt)
        s.bind(20, r.examinedAt)
        s.bind(21, Int64(r.unconfirmedSend ? 1 : 0))
    }

    /// One path's row: bind the folder, then the relative path.
    static let selectByPath = "SELECT \(columns) FROM files WHERE folder = ? AND path = ?"

    /// What a row says the store holds (`FileRecord.takeStoredState`), by path: read for every
    /// upload as it goes out, so only these columns.
    static let selectStoredStateByPath =
        "SELECT remote_url, uploaded_sha256, uploaded_size, uploaded_at, unconfirmed_send FROM files WHERE folder = ? AND path = ?"

    /// Reads a row selected with `selectStoredStateByPath` into `r`.
    static func takeStoredState(from s: SQLiteStatement, into r: inout FileRecord) {
        r.remoteURL = s.text(0)
        r.uploadedSHA256 = s.text(1)
        r.uploadedSize = s.optionalInt64(2)
        r.uploadedAt = s.optionalInt64(3)
        r.unconfirmedSend = s.int64(4) != 0
    }

    /// Every row a statement selecting `columns` steps to, by the bytes of its path.
    static func recordsByPath(_ statement: SQLiteStatement) throws(LedgerError) -> [PathBytes: FileRecord] {
        var rows: [PathBytes: FileRecord] = [:]
        while try statement.step() {
            let record = record(from: statement)
            rows[PathBytes(record.path)] = record
        }
        return rows
    }

    /// Reads a row selected with `columns` (starting at column `offset`).
    static func record(from s: SQLiteStatement, offset: Int32 = 0) -> FileRecord {
        let stat = FileStat(kind: .regular, size: s.int64(offset + 3), mtimeNanoseconds: s.int64(offset + 4),
                            ctimeNanoseconds: s.int64(offset + 5), inode: UInt64(bitPattern: s.int64(offset + 6)),
                            device: UInt64(bitPattern: s.int64(offset + 7)))
        var r = FileRecord(folder: s.text(offset) ?? "", path: s.text(offset + 1) ?? "", key: s.text(offset + 2) ?? "",
                           stat: stat, state: FileState(rawValue: s.text(offset + 10) ?? "") ?? .pending,
                           examinedAt: s.int64(offset + 19))
        r.sha256 = s.text(offset + 8)
        r.contentType = s.text(offset + 9)
        r.lastError = s.text(offset + 11)
        r.lastHTTPStatus = s.optionalInt64(offset + 12).map { Int($0) }
        r.attempts = Int(s.int64(offset + 13))
        r.nextAttemptAt = s.optionalInt64(offset + 14)
        r.remoteURL = s.text(offset + 15)
        r.uploadedSHA256 = s.text(offset + 16)
        r.uploadedSize = s.optionalInt64(offset + 17)
        r.uploadedAt = s.optionalInt64(offset + 18)
        r.unconfirmedSend = s.int64(offset + 20) != 0
        return r
    }
}
