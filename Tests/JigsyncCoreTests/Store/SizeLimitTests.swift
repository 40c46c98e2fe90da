import Foundation
import JigsyncCore
import Testing

/// The 100 MiB limit from both sides. Serialized: each test writes and sends 100 MiB.
@Suite("100 MB limit", .serialized)
struct SizeLimitTests {
    static let limit = 100 * 1024 * 1024

    @Test("a file of exactly 100 MiB is stored whole, hash equal")
    func atLimit() async throws {
        let scratch = TemporaryDirectory.make(prefix: "limit")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: Self.limit, in: scratch)
        let result = try await client.upload(ReadableFile(path: file.path), options: .init(key: "big.bin"))
        #expect(result.sentBytes == Int64(Self.limit))
        #expect(result.sentSHA256 == file.sha256)
        let stored = try #require(try await emulator.listing()["big.bin"])
        #expect(stored.size == Int64(Self.limit))
        #expect(stored.sha256 == file.sha256)
    }

    @Test("100 MiB + 1 byte is refused with 413, a permanent fix-the-file error, and nothing is stored")
    func overLimit() async throws {
        let scratch = TemporaryDirectory.make(prefix: "limit")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: Self.limit + 1, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "too-big.bin"))
        }
        #expect(error?.status == 413)
        #expect(error?.disposition == .fixFile)
        #expect(error?.isTransient == false)
        #expect(try await emulator.listing().isEmpty)
    }
}
