import Foundation
@testable import JigsyncCore
import Testing

@Suite("ledger rows by directory")
struct LedgerDirectoryTests {
    @Test("rows are read a directory at a time (not its subdirectories, not another folder's), and the directories with live rows are listed")
    func byDirectory() async throws {
        let path = TemporaryDirectory.make(prefix: "ledger-dirs").appending(path: "ledger.db").path
        let ledger = try Ledger(path: path)
        let stat = FileStat(kind: .regular, size: 1, mtimeNanoseconds: 1, ctimeNanoseconds: 1, inode: 1, device: 1)
        func row(_ folder: String, _ path: String, _ state: FileState = .uploaded) -> FileRecord {
            FileRecord(folder: folder, path: path, key: path, stat: stat, state: state, examinedAt: 1)
        }
        ledger.save([row("/f", "top"), row("/f", "a/x"), row("/f", "a/y"), row("/f", "a/b/z"), row("/f", "ab/w"),
                     row("/f", "gone/old", .deleted), row("/g", "a/other"), row("/f", "caf\u{E9}/n"), row("/f", "cafe\u{301}/d")])
        try await ledger.flush()
        let rows = try await ledger.records(folder: "/f", inDirectories: ["", "a/", "a/b/", "missing/", "caf\u{E9}/"])
        #expect(rows.map { $0.keys.map(\.string).sorted() } == [["top"], ["a/x", "a/y"], ["a/b/z"], [], ["caf\u{E9}/n"]])
        let all = try await ledger.directoriesWithLiveRows(folder: "/f", under: "")
        #expect(Set(all.map { PathBytes($0) }) == Set(["", "a/", "a/b/", "ab/", "caf\u{E9}/", "cafe\u{301}/"].map { PathBytes($0) }))
        #expect(Set(try await ledger.directoriesWithLiveRows(folder: "/f", under: "a/")) == ["a/", "a/b/"])
        // The read-only reader finds the same through the same index.
        let reader = try LedgerReader(path: path)
        #expect(try reader.records(folder: "/f", inDirectories: ["a/"]).map { $0.keys.map(\.string).sorted() } == [["a/x", "a/y"]])
        #expect(try reader.storedCount(folder: "/f") == 0)
    }
}
