import Foundation
import Glibc
@testable import JigsyncCore
import Testing

/// Uploads sent as a chain (a worker's batch of small files: one hand-off to the curl thread):
/// each file's result is its own, and what the emulator stored is what each result says.
@Suite("Upload chains")
struct ChainTests {
    let scratch = TemporaryDirectory.make(prefix: "chain")

    @Test("a chain of 40 uploads stores each file's bytes under its key, one result per file in order")
    func storesEach() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let files = try (0..<40).map { try TestFiles.make(size: 1000 + $0 * 37, in: scratch, name: "f\($0)", seed: UInt64($0)) }
        let folder = try Folder(path: scratch.path)
        let uploads = try files.enumerated().map { index, file in
            FileStoreClient.ChainedUpload(file: try ReadableFile(path: file.path), options: .init(key: "chain/\(index).bin", overwrite: true),
                                          checkingAfterAnswer: { try? folder.lstat("f\(index)") })
        }
        let results = await client.upload(chain: uploads)
        #expect(results.count == 40)
        let listing = try await emulator.listing()
        for (index, (file, result)) in zip(files, results).enumerated() {
            let stored = try result.get()
            #expect(stored.key == "chain/\(index).bin")
            #expect(stored.sentSHA256 == file.sha256)
            #expect(stored.checkedAfterAnswer?.size == Int64(1000 + index * 37))
            #expect(listing["chain/\(index).bin"]?.sha256 == file.sha256)
            #expect(listing["chain/\(index).bin"]?.size == Int64(1000 + index * 37))
        }
        #expect(listing.count == 40)
    }

    @Test("one upload refused in the middle of a chain fails alone; the others are stored")
    func oneFails() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let taken = try TestFiles.make(size: 10, in: scratch, seed: 99)
        _ = try await client.upload(ReadableFile(path: taken.path), options: .init(key: "taken"))
        let files = try (0..<5).map { try TestFiles.make(size: 300, in: scratch, seed: UInt64($0)) }
        let keys = ["a", "b", "taken", "d", "e"]
        let uploads = try zip(files, keys).map { file, key in
            FileStoreClient.ChainedUpload(file: try ReadableFile(path: file.path), options: .init(key: key, overwrite: false))
        }
        let results = await client.upload(chain: uploads)
        let listing = try await emulator.listing()
        for (index, key) in keys.enumerated() where key != "taken" {
            #expect(try results[index].get().sentSHA256 == files[index].sha256)
            #expect(listing[key]?.sha256 == files[index].sha256)
        }
        guard case .failure(let error) = results[2] else {
            Issue.record("the upload to an existing key without overwrite was taken as stored")
            return
        }
        #expect(error.disposition == .conflict)
        #expect(listing["taken"]?.sha256 == taken.sha256)
    }

    @Test("cancelling a chain ends the upload in flight and those not started as cancelled")
    func cancellation() async throws {
        let listener = try SilentListener()
        let configuration = StoreConfiguration(baseURL: "http://127.0.0.1:\(listener.port)", apiKey: APIKey("k"))
        let client = FileStoreClient(configuration: configuration)
        let files = try (0..<3).map { try TestFiles.make(size: 100, in: scratch, seed: UInt64($0)) }
        let uploads = try files.enumerated().map { index, file in
            FileStoreClient.ChainedUpload(file: try ReadableFile(path: file.path), options: .init(key: "k\(index)"))
        }
        let task = Task { await client.upload(chain: uploads) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let results = await task.value
        #expect(results.count == 3)
        for result in results {
            guard case .failure(let error) = result else {
                Issue.record("an upload of a cancelled chain succeeded")
                continue
            }
            #expect(error.disposition == .cancelled)
        }
    }

    @Test("after an upload that gets no answer, the rest of its chain is not tried: each says not sent, at once")
    func noAnswerEndsTheChain() async throws {
        // A port nobody listens on: every connection is refused.
        let probe = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(probe, $0, length) } }
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(probe, $0, &length) } }
        close(probe)
        let port = UInt16(bigEndian: address.sin_port)
        let client = FileStoreClient(configuration: StoreConfiguration(baseURL: "http://127.0.0.1:\(port)", apiKey: APIKey("k")))
        let files = try (0..<4).map { try TestFiles.make(size: 100, in: scratch, seed: UInt64($0)) }
        let uploads = try files.enumerated().map { index, file in
            FileStoreClient.ChainedUpload(file: try ReadableFile(path: file.path), options: .init(key: "k\(index)"))
        }
        let results = await client.upload(chain: uploads)
        let dispositions = results.map { result -> StoreError.Disposition? in
            if case .failure(let error) = result { return error.disposition }
            return nil
        }
        #expect(dispositions == [.retryLater, .notSent, .notSent, .notSent])
    }

    @Test("the scheduler hands a worker its share of small uploads; a delete or a large file goes alone")
    func schedulerBatches() async throws {
        let scheduler = UploadScheduler(workers: 2)
        func row(_ path: String, size: Int64 = 10, state: FileState = .pending) -> FileRecord {
            let stat = FileStat(kind: .regular, size: size, mtimeNanoseconds: 0, ctimeNanoseconds: 0, inode: 1, device: 1)
            return FileRecord(folder: "/f", path: path, key: path, stat: stat, state: state, examinedAt: 0)
        }
        for index in 0..<10 { await scheduler.add(row("s\(index)")) }
        await scheduler.add(row("gone", state: .deleting))
        for index in 10..<14 { await scheduler.add(row("s\(index)")) }
        await scheduler.add(row("big", size: UploadScheduler.largeFileBytes + 1))

        // 15 ready for 2 workers: a share is at least 8 small uploads (when there are), in order.
        let first = await scheduler.take(upTo: 32)
        #expect(first.map(\.record.path) == (0..<8).map { "s\($0)" })
        // The share stops at the delete: it goes to a worker alone.
        let second = await scheduler.take(upTo: 32)
        #expect(second.map(\.record.path) == ["s8", "s9"])
        let third = await scheduler.take(upTo: 32)
        #expect(third.map(\.record.path) == ["gone"])
        // One at a time where the limiter spaces requests.
        let single = await scheduler.take(upTo: 1)
        #expect(single.map(\.record.path) == ["s10"])
        // The 3 small left go together (fewer than the smallest share); the large file alone.
        let rest = await scheduler.take(upTo: 32)
        #expect(rest.map(\.record.path) == ["s11", "s12", "s13"])
        #expect(await scheduler.depth().inFlight == 8 + 2 + 1 + 1 + 3)
        let large = await scheduler.take(upTo: 32)
        #expect(large.map(\.record.path) == ["big"])
        await scheduler.finished(first + second + third + single + rest + large)
        #expect(await scheduler.depth().inFlight == 0)
    }

    @Test("with many ready, a share is the ready ones divided among the workers, up to the batch limit")
    func sharesOfMany() async throws {
        let scheduler = UploadScheduler(workers: 4)
        let stat = FileStat(kind: .regular, size: 10, mtimeNanoseconds: 0, ctimeNanoseconds: 0, inode: 1, device: 1)
        for index in 0..<400 {
            await scheduler.add(FileRecord(folder: "/f", path: "s\(index)", key: "s\(index)", stat: stat, state: .pending, examinedAt: 0))
        }
        #expect(await scheduler.take(upTo: 32).count == 32)   // 399 / 4 = 99: the limit
        #expect(await scheduler.take(upTo: 16).count == 16)
        // 352 left: 351 / 4 = 87, the limit; ...; 128 left: 127 / 4 = 31; 97 left: 96 / 4 = 24; ...;
        // 32 left: 31 / 4 = 7, but at least the smallest share of 8.
        var counts: [Int] = []
        while true {
            let taken = await scheduler.take(upTo: 32).count
            counts.append(taken)
            if taken == 0 || counts.reduce(0, +) == 352 { break }
        }
        #expect(counts == [32, 32, 32, 32, 32, 32, 32, 31, 24, 18, 13, 10, 8, 8, 8, 8])
    }

    @Test("large files may take every worker; while they hold more than half, the small lane takes small files, and only then")
    func smallLane() async throws {
        let scheduler = UploadScheduler(workers: 2, continuous: true)
        func row(_ path: String, size: Int64 = 10) -> FileRecord {
            let stat = FileStat(kind: .regular, size: size, mtimeNanoseconds: 0, ctimeNanoseconds: 0, inode: 1, device: 1)
            return FileRecord(folder: "/f", path: path, key: path, stat: stat, state: .pending, examinedAt: 0)
        }
        await scheduler.add(row("big1", size: UploadScheduler.largeFileBytes + 1))
        await scheduler.add(row("big2", size: UploadScheduler.largeFileBytes + 1))
        await scheduler.add(row("s1"))
        // Both workers may carry a large file (they were due first).
        let big1 = await scheduler.take(upTo: 1)
        let big2 = await scheduler.take(upTo: 1)
        #expect(big1.map(\.record.path) == ["big1"])
        #expect(big2.map(\.record.path) == ["big2"])
        // Large files hold both workers: the lane takes the small one.
        let s1 = await scheduler.take(upTo: 32, lane: true)
        #expect(s1.map(\.record.path) == ["s1"])
        await scheduler.finished(s1)

        // One large of two workers: the lane stays shut, a small file goes to a worker.
        await scheduler.finished(big1)
        let lane = Task { await scheduler.take(upTo: 32, lane: true) }
        await scheduler.add(row("s2"))
        #expect(await scheduler.depth().waiting == 1)
        let s2 = await scheduler.take(upTo: 32)
        #expect(s2.map(\.record.path) == ["s2"])
        await scheduler.stop()
        #expect(await lane.value.isEmpty)
    }
}
