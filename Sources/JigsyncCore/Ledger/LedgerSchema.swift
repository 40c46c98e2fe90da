/// The ledger's tables, their migrations and the mapping between rows and `FileRecord`.
enum LedgerSchema {
    /// `PRAGMA application_id` of a jigsync ledger ("JSYN"), so another SQLite file is recognised.
    static let applicationID: Int64 = 0x4A53_594E
    /// The schema version this build writes (`PRAGMA user_version`).
    static let version: Int64 = 2

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
    ]

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

    static let upsert = """
        INSERT INTO files (\(columns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT (folder, path) DO UPDATE SET
            key = excluded.key, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns,
            inode = excluded.inode, device = excluded.device, sha256 = excluded.sha256,
            content_type = excluded.content_type, state = excluded.state, last_error = excluded.last_error,
            last_http_status = excluded.last_http_status, attempts = excluded.attempts,
            next_attempt_at = excluded.next_attempt_at, remote_url = excluded.remote_url,
            uploaded_sha256 = excluded.uploaded_sha256, uploaded_size = excluded.uploaded_size,
            uploaded_at = excluded.uploaded_at, examined_at_ns = excluded.examined_at_ns,
            unconfirmed_send = excluded.unconfirmed_send
        """

    /// `upsert` for a planner's row: an existing row keeps what it says the store holds.
    static let upsertKeepingRemoteState = """
        INSERT INTO files (\(columns)) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)
        ON CONFLICT (folder, path) DO UPDATE SET
            key = excluded.key, size = excluded.size, mtime_ns = excluded.mtime_ns, ctime_ns = excluded.ctime_ns,
            inode = excluded.inode, device = excluded.device, sha256 = excluded.sha256,
            content_type = excluded.content_type, state = excluded.state, last_error = excluded.last_error,
            last_http_status = excluded.last_http_status, attempts = excluded.attempts,
            next_attempt_at = excluded.next_attempt_at, examined_at_ns = excluded.examined_at_ns
        """

    static func bindings(_ r: FileRecord) -> [SQLiteValue?] {
        [.text(r.folder), .text(r.path), .text(r.key), .integer(r.size), .integer(r.mtimeNanoseconds),
         .integer(r.ctimeNanoseconds), .integer(Int64(bitPattern: r.inode)), .integer(Int64(bitPattern: r.device)),
         r.sha256.sqlite, r.contentType.sqlite, .text(r.state.rawValue), r.lastError.sqlite,
         r.lastHTTPStatus.map { .integer(Int64($0)) }, .integer(Int64(r.attempts)), r.nextAttemptAt.sqlite,
         r.remoteURL.sqlite, r.uploadedSHA256.sqlite, r.uploadedSize.sqlite, r.uploadedAt.sqlite, .integer(r.examinedAt),
         .integer(r.unconfirmedSend ? 1 : 0)]
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
