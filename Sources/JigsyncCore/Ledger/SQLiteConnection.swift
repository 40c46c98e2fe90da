import CSQLite
import Foundation

/// One SQLite connection; owns the handle and its cached prepared statements.
///
/// Not thread-safe: each connection is used from one serial queue (the ledger's writer queue)
/// or one thread (a read-only `status`).
final class SQLiteConnection {
    let path: String
    private let db: OpaquePointer
    private var statements: [StatementText: SQLiteStatement] = [:]

    /// Opens `path`; `readOnly` never creates, never writes, never recovers.
    init(path: String, readOnly: Bool) throws(LedgerError) {
        _ = Self.configured
        var handle: OpaquePointer?
        let flags = readOnly ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE)
        let rc = sqlite3_open_v2(path, &handle, flags | SQLITE_OPEN_NOMUTEX, nil)
        guard rc == SQLITE_OK, let handle else {
            let message = handle.map { String(cString: sqlite3_errmsg($0)) } ?? "cannot open"
            sqlite3_close_v2(handle)
            throw LedgerError(.failed, path: path, message: message, code: rc)
        }
        self.db = handle
        self.path = path
        sqlite3_extended_result_codes(db, 1)
        // Another process (a daemon's writes, a status reader) may hold a lock briefly.
        sqlite3_busy_timeout(db, 5000)
    }

    /// Process-wide settings, made once before the first open (SQLite takes them only before it
    /// initializes): no memory statistics, so an allocation does not take a global mutex (each
    /// ledger write allocates a few dozen times; counted, that lock was ~5 % of the writer's time).
    private static let configured: Void = { _ = jigsync_sqlite_disable_memstatus() }()

    deinit {
        statements.removeAll()   // finalize before closing
        sqlite3_close_v2(db)
    }

    /// Runs SQL without results (several statements allowed).
    func execute(_ sql: String) throws(LedgerError) {
        var error: UnsafeMutablePointer<CChar>?
        let rc = sqlite3_exec(db, sql, nil, nil, &error)
        guard rc == SQLITE_OK else {
            let message = error.map { String(cString: $0) } ?? lastMessage
            sqlite3_free(error)
            throw self.error(rc, message, sql: sql)
        }
    }

    /// Rows changed by the last INSERT, UPDATE or DELETE.
    var changes: Int32 { sqlite3_changes(db) }

    /// A cached prepared statement, reset and with its bindings cleared.
    func statement(_ sql: String) throws(LedgerError) -> SQLiteStatement {
        if let cached = statements[StatementText(sql)] {
            cached.reset()
            return cached
        }
        var stmt: OpaquePointer?
        let rc = sqlite3_prepare_v3(db, sql, -1, UInt32(SQLITE_PREPARE_PERSISTENT), &stmt, nil)
        guard rc == SQLITE_OK, let stmt else { throw error(rc, lastMessage, sql: sql) }
        let statement = SQLiteStatement(stmt, connection: self)
        statements[StatementText(sql)] = statement
        return statement
    }

    /// Runs `body` in a `BEGIN IMMEDIATE` transaction: the write lock is taken up front, so a
    /// reader cannot make the commit fail halfway.
    ///
    /// `BEGIN` and `COMMIT` are prepared once (cached) rather than parsed by `sqlite3_exec` at
    /// each transaction: every upload commits two.
    func transaction<T>(_ body: () throws(LedgerError) -> T) throws(LedgerError) -> T {
        try run("BEGIN IMMEDIATE")
        do {
            let result = try body()
            try run("COMMIT")
            return result
        } catch {
            try? run("ROLLBACK")
            throw error
        }
    }

    /// Runs one cached statement without results, and resets it.
    private func run(_ sql: String) throws(LedgerError) {
        let statement = try statement(sql)
        defer { statement.reset() }
        try statement.step()
    }

    /// A single integer from a query (a pragma, a count).
    func integer(_ sql: String) throws(LedgerError) -> Int64 {
        let statement = try statement(sql)
        defer { statement.reset() }   // an unfinished statement would keep a read transaction open
        guard try statement.step() else { return 0 }
        return statement.int64(0)
    }

    var lastMessage: String { String(cString: sqlite3_errmsg(db)) }

    func error(_ rc: Int32, _ message: String, sql: String? = nil) -> LedgerError {
        let primary = rc & 0xFF
        if primary == SQLITE_NOTADB || primary == SQLITE_CORRUPT {
            return LedgerError(.notALedger, path: path,
                               message: "is damaged or not a SQLite database (\(message)); move it aside and run again to start a new ledger",
                               code: rc)
        }
        let context = sql.map { " in `\($0.prefix(80))`" } ?? ""
        if primary == SQLITE_FULL {
            return LedgerError(.failed, path: path, message: "the file system holding the ledger is full (\(message)\(context)); free space there", code: rc)
        }
        return LedgerError(.failed, path: path, message: "\(message)\(context)", code: rc)
    }
}

/// SQL text as the key of the statement cache, hashed by its length and its last bytes only:
/// an upsert is a kilobyte of text, hashed whole at each of the two or three statements every
/// upload runs. Equal texts still compare whole; texts that differ only early collide and are
/// told apart by that comparison.
private struct StatementText: Hashable {
    let sql: String
    init(_ sql: String) { self.sql = sql }

    func hash(into hasher: inout Hasher) {
        let bytes = sql.utf8
        hasher.combine(bytes.count)
        let hashedContiguously: Void? = bytes.withContiguousStorageIfAvailable {
            hasher.combine(bytes: UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: $0.suffix(48))))
        }
        if hashedContiguously == nil { for byte in bytes.suffix(48) { hasher.combine(byte) } }
    }
}

/// A prepared statement; finalized when released.
final class SQLiteStatement {
    private let stmt: OpaquePointer
    private unowned let connection: SQLiteConnection

    init(_ stmt: OpaquePointer, connection: SQLiteConnection) {
        self.stmt = stmt
        self.connection = connection
    }

    deinit { sqlite3_finalize(stmt) }

    func reset() {
        sqlite3_reset(stmt)
        sqlite3_clear_bindings(stmt)
    }

    /// Binds parameters by position (1-based), `nil` as NULL.
    func bind(_ values: [SQLiteValue?]) {
        for (index, value) in values.enumerated() {
            let position = Int32(index + 1)
            switch value {
            case nil: sqlite3_bind_null(stmt, position)
            case .integer(let v)?: bind(position, v)
            case .text(let v)?: bind(position, v)
            }
        }
    }

    /// Binds text at `position` (1-based), `nil` as NULL. SQLite copies it: the Swift string's
    /// storage is only lent for the call.
    func bind(_ position: Int32, _ value: String?) {
        guard var value else {
            sqlite3_bind_null(stmt, position)
            return
        }
        value.withUTF8 { bytes in
            guard let base = bytes.baseAddress else {
                sqlite3_bind_text(stmt, position, "", 0, jigsync_sqlite_transient())   // a nil pointer would bind NULL
                return
            }
            base.withMemoryRebound(to: CChar.self, capacity: bytes.count) {
                _ = sqlite3_bind_text(stmt, position, $0, Int32(bytes.count), jigsync_sqlite_transient())
            }
        }
    }

    /// Binds an integer at `position` (1-based), `nil` as NULL.
    func bind(_ position: Int32, _ value: Int64?) {
        guard let value else {
            sqlite3_bind_null(stmt, position)
            return
        }
        sqlite3_bind_int64(stmt, position, value)
    }

    /// Steps once; true when a row is available.
    @discardableResult
    func step() throws(LedgerError) -> Bool {
        let rc = sqlite3_step(stmt)
        switch rc {
        case SQLITE_ROW: return true
        case SQLITE_DONE: return false
        default: throw connection.error(rc, connection.lastMessage)
        }
    }

    func int64(_ column: Int32) -> Int64 { sqlite3_column_int64(stmt, column) }

    func optionalInt64(_ column: Int32) -> Int64? {
        sqlite3_column_type(stmt, column) == SQLITE_NULL ? nil : sqlite3_column_int64(stmt, column)
    }

    func text(_ column: Int32) -> String? {
        guard let pointer = sqlite3_column_text(stmt, column) else { return nil }
        return String(cString: pointer)
    }
}

/// A value to bind.
enum SQLiteValue {
    case integer(Int64)
    case text(String)
}

extension Optional where Wrapped == String {
    var sqlite: SQLiteValue? { map { .text($0) } }
}

extension Optional where Wrapped == Int64 {
    var sqlite: SQLiteValue? { map { .integer($0) } }
}
