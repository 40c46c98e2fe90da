import Foundation
@testable import JigsyncCore
import Testing

/// Rows kept in memory, counting how many a reconcile asks for at once.
private final class CountingRows: KnownRows {
    var rows: [String: FileRecord]
    /// The most rows one `rows(inDirectories:)` call returned.
    var largestRead = 0

    init(_ rows: [FileRecord]) {
        self.rows = Dictionary(uniqueKeysWithValues: rows.map { ($0.path, $0) })
    }

    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "" }
        return String(path[...slash])
    }

    func rows(inDirectories prefixes: [String]) -> [[PathBytes: FileRecord]] {
        let result = prefixes.map { prefix in
            Dictionary(uniqueKeysWithValues: rows.values.filter { Self.directory(of: $0.path) == prefix }.map { (PathBytes($0.path), $0) })
        }
        largestRead = max(largestRead, result.reduce(0) { $0 + $1.count })
        return result
    }

    func directoriesWithLiveRows(under prefix: String) -> [String] {
        Array(Set(rows.values.filter { $0.state != .deleted && $0.path.hasPrefix(prefix) }.map { Self.directory(of: $0.path) }))
    }

    func row(at path: String) -> FileRecord? { rows[path] }
}

@Suite("Folder reconcile")
struct ReconcilerTests {
    private static func row(_ folder: String, _ path: String) -> FileRecord {
        let stat = FileStat(kind: .regular, size: 1, mtimeNanoseconds: 1, ctimeNanoseconds: 1, inode: 1, device: 1)
        var record = FileRecord(folder: folder, path: path, key: path, stat: stat, state: .uploaded, examinedAt: 1)
        record.uploadedSHA256 = String(repeating: "0", count: 64)
        return record
    }

    @Test("a folder is compared a batch of directories at a time; files gone, directories gone and a file now a directory become deleted")
    func directoryAtATime() async throws {
        let root = TemporaryDirectory.make(prefix: "reconcile")
        let directories = 150, perDirectory = 3
        for d in 0..<directories {
            let directory = root.appending(path: String(format: "d%03d", d))
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            for f in 0..<perDirectory { try Data("\(d)-\(f)".utf8).write(to: directory.appending(path: "f\(f)")) }
        }
        try FileManager.default.createDirectory(at: root.appending(path: "d000/now-a-directory"), withIntermediateDirectories: true)
        let spec = FolderSpec(path: root.path)
        let gone = ["d000/removed", "vanished/a", "vanished/deeper/b", "d000/now-a-directory"]
        var stale = Self.row(root.path, "d001/also-removed")
        stale.state = .deleted   // already deleted: stays as it is
        let known = CountingRows(gone.map { Self.row(root.path, $0) } + [stale])
        // Rows of every file on disk, so the whole folder is known.
        for d in 0..<directories {
            for f in 0..<perDirectory {
                let path = String(format: "d%03d/f%d", d, f)
                known.rows[path] = Self.row(root.path, path)
            }
        }
        var plans = 0
        var due: Set<String> = []
        var deleted: Set<String> = []
        let folder = try Folder(path: root.path)
        let totals = try await Reconciler(spec: spec, maxSize: 1 << 20).reconcile(folder, known: known) { plan in
            plans += 1
            due.formUnion(plan.due.map(\.path))
            deleted.formUnion(plan.changedRecords.filter { $0.state == .deleted }.map(\.path))
        }
        #expect(totals.examined == directories * perDirectory)
        #expect(deleted == Set(gone))
        #expect(due.count == directories * perDirectory)   // their stat differs from the rows': hashed, then due
        #expect(plans >= directories / Reconciler.batchDirectories)
        // Never the folder's rows at once: at most a batch of directories' worth.
        #expect(known.largestRead <= Reconciler.batchDirectories * perDirectory + 3)   // d000 holds three more rows
        #expect(known.largestRead < known.rows.count / 2)
    }

    @Test("a directory reconciled alone marks only the rows beneath it, and a file's row where it now is")
    func underDirectory() async throws {
        let root = TemporaryDirectory.make(prefix: "reconcile-under")
        try FileManager.default.createDirectory(at: root.appending(path: "a/b"), withIntermediateDirectories: true)
        try Data("x".utf8).write(to: root.appending(path: "a/b/kept"))
        let known = CountingRows(["a", "a/b/gone", "a/c/gone", "ab/outside", "other/outside"].map { Self.row(root.path, $0) })
        var deleted: Set<String> = []
        var due: Set<String> = []
        _ = try await Reconciler(spec: FolderSpec(path: root.path), maxSize: 1 << 20)
            .reconcile(try Folder(path: root.path), under: "a", known: known) { plan in
                due.formUnion(plan.due.map(\.path))
                deleted.formUnion(plan.changedRecords.filter { $0.state == .deleted }.map(\.path))
            }
        #expect(deleted == ["a", "a/b/gone", "a/c/gone"])
        #expect(due == ["a/b/kept"])
    }
}
