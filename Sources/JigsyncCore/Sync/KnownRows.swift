/// The ledger's rows as a folder reconcile reads them: a few directories at a time, never a
/// whole folder.
public protocol KnownRows {
    /// For each directory in `prefixes` ("" for the root, else "a/b/"), the rows of the files
    /// directly in it, by path.
    func rows(inDirectories prefixes: [String]) async throws -> [[PathBytes: FileRecord]]
    /// The directories at or beneath `prefix` holding rows not `deleted`, as prefixes.
    func directoriesWithLiveRows(under prefix: String) async throws -> [String]
    /// The row of one path, if any.
    func row(at path: String) async throws -> FileRecord?
}

/// A folder's rows in the owner's ledger (`sync` and `run`).
struct LedgerRows: KnownRows {
    let ledger: Ledger
    let folder: String

    func rows(inDirectories prefixes: [String]) async throws -> [[PathBytes: FileRecord]] {
        try await ledger.records(folder: folder, inDirectories: prefixes)
    }

    func directoriesWithLiveRows(under prefix: String) async throws -> [String] {
        try await ledger.directoriesWithLiveRows(folder: folder, under: prefix)
    }

    func row(at path: String) async throws -> FileRecord? {
        try await ledger.record(folder: folder, path: path)
    }
}

/// A folder's rows read through a read-only `LedgerReader` (`--dry-run`), or none when there is
/// no ledger yet.
struct ReaderRows: KnownRows {
    let reader: LedgerReader?
    let folder: String

    func rows(inDirectories prefixes: [String]) throws -> [[PathBytes: FileRecord]] {
        try reader?.records(folder: folder, inDirectories: prefixes) ?? prefixes.map { _ in [:] }
    }

    func directoriesWithLiveRows(under prefix: String) throws -> [String] {
        try reader?.directoriesWithLiveRows(folder: folder, under: prefix) ?? []
    }

    func row(at path: String) throws -> FileRecord? {
        try reader?.record(folder: folder, path: path)
    }
}
