import Foundation
@testable import JigsyncCore
import Testing

/// A worker's writes go as an UPDATE of the row with the same inode, and as the upsert otherwise:
/// either way the row ends as the record says.
@Suite("ledger writes")
struct LedgerWriteTests {
    @Test("a worker's write: the same inode updated in place, another inode or no row upserted, the plan's write keeps the stored state")
    func workerWrites() async throws {
        let path = TemporaryDirectory.make(prefix: "ledger-writes").appending(path: "ledger.db").path
        let ledger = try Ledger(path: path)
        func stat(inode: UInt64, size: Int64) -> FileStat {
            FileStat(kind: .regular, size: size, mtimeNanoseconds: 10, ctimeNanoseconds: 20, inode: inode, device: 7)
        }
        // The plan's row, then the worker's `uploading` and `uploaded` of the same inode.
        ledger.save(FileRecord(folder: "/f", path: "a/same", key: "a/same", stat: stat(inode: 1, size: 5), state: .pending, examinedAt: 1),
                    keepingRemoteState: true)
        var sent = FileRecord(folder: "/f", path: "a/same", key: "a/same", stat: stat(inode: 1, size: 6), state: .uploading, examinedAt: 2)
        sent.unconfirmedSend = true
        sent.contentType = "text/plain"
        let committed = await ledger.commitSending([sent])
        #expect(committed.failure == nil)
        var row = try #require(try await ledger.record(folder: "/f", path: "a/same"))
        #expect(row.state == .uploading && row.unconfirmedSend && row.size == 6 && row.contentType == "text/plain" && row.examinedAt == 2)
        sent.state = .uploaded
        sent.unconfirmedSend = false
        sent.sha256 = String(repeating: "a", count: 64)
        sent.uploadedSHA256 = sent.sha256
        sent.uploadedSize = 6
        sent.uploadedAt = 1_000
        sent.remoteURL = "https://example/a/same"
        sent.lastHTTPStatus = 200
        ledger.save([sent])
        try await ledger.flush()
        row = try #require(try await ledger.record(folder: "/f", path: "a/same"))
        #expect(row == sent)

        // Another inode at the path (replaced between the plan and the send): the upsert writes it.
        var replaced = sent
        replaced.inode = 2
        replaced.mtimeNanoseconds = 30
        replaced.state = .pending
        ledger.save([replaced])
        try await ledger.flush()
        row = try #require(try await ledger.record(folder: "/f", path: "a/same"))
        #expect(row == replaced)
        #expect(row.inode == 2)

        // No row yet: inserted.
        let fresh = FileRecord(folder: "/f", path: "b/new", key: "b/new", stat: stat(inode: 3, size: 1), state: .failed, examinedAt: 3)
        ledger.save([fresh])
        try await ledger.flush()
        #expect(try await ledger.record(folder: "/f", path: "b/new") == fresh)

        // The plan's write of the same inode keeps what the row says the store holds.
        var planned = replaced
        planned.uploadedSHA256 = nil
        planned.remoteURL = nil
        planned.state = .pending
        ledger.save(planned, keepingRemoteState: true)
        try await ledger.flush()
        row = try #require(try await ledger.record(folder: "/f", path: "a/same"))
        #expect(row.uploadedSHA256 == sent.uploadedSHA256 && row.remoteURL == sent.remoteURL)
        // An upload going out from a stale job (it predates the upload recorded above): the row's
        // stored state wins, in place (same inode) or through the upsert (another inode, no row).
        var stale = FileRecord(folder: "/f", path: "a/same", key: "a/same", stat: stat(inode: 2, size: 6), state: .uploading, examinedAt: 5)
        stale.unconfirmedSend = true
        var moved = FileRecord(folder: "/f", path: "b/new", key: "b/new", stat: stat(inode: 9, size: 1), state: .uploading, examinedAt: 5)
        moved.unconfirmedSend = true
        var absent = FileRecord(folder: "/f", path: "c/none", key: "c/none", stat: stat(inode: 4, size: 1), state: .uploading, examinedAt: 5)
        absent.unconfirmedSend = true
        let batch = await ledger.commitSending([stale, moved, absent])
        #expect(batch.failure == nil)
        #expect(batch.records[0].uploadedSHA256 == sent.uploadedSHA256 && batch.records[0].remoteURL == sent.remoteURL)
        #expect(batch.records.allSatisfy { $0.unconfirmedSend })
        for record in batch.records {
            let stored = try #require(try await ledger.record(folder: "/f", path: record.path))
            #expect(stored == record, "\(record.path)")
            #expect(stored.state == .uploading && stored.unconfirmedSend, "\(record.path)")
        }
        #expect(try await ledger.record(folder: "/f", path: "b/new")?.inode == 9)
        // One row per path throughout.
        let reader = try LedgerReader(path: path)
        #expect(try reader.records(folder: "/f", inDirectories: ["a/", "b/", "c/"]).map(\.count) == [1, 1, 1])
    }
}
