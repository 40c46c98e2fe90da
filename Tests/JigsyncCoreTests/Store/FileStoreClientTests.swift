import Foundation
import Glibc
import JigsyncCore
import Testing

/// The client against a real emulator process on loopback; every check reads what the emulator stored.
@Suite("FileStoreClient against the emulator")
struct FileStoreClientTests {
    let scratch = TemporaryDirectory.make(prefix: "client")

    @Test("round trip: the bytes stored and read back equal the file, and the hash reported is the one stored")
    func roundTrip() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 3 * 1024 * 1024 + 17, in: scratch)

        let result = try await client.upload(ReadableFile(path: file.path),
                                             options: .init(key: "docs/report.bin", overwrite: true, contentType: "application/x-test"))
        #expect(result.key == "docs/report.bin")
        #expect(result.sentBytes == 3 * 1024 * 1024 + 17)
        #expect(result.sentSHA256 == file.sha256)
        let stored = try #require(try await emulator.listing()["docs/report.bin"])
        #expect(stored.sha256 == file.sha256)
        #expect(stored.size == result.sentBytes)
        #expect(stored.content_type == "application/x-test")

        let back = scratch.appending(path: "back.bin").path
        let destination = try WritableFile(creatingAt: back)
        let download = try await client.read(key: "docs/report.bin", into: destination)
        try destination.commit()
        #expect(download.sha256 == file.sha256)
        #expect(try TestFiles.sha256(ofFileAt: back) == file.sha256)
        #expect(download.contentType == "application/x-test")
    }

    @Test("uploads, reads and deletes taking turns on reused curl handles: none carries the one before's method or body")
    func handlesReused() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        for round in 0..<4 {
            let file = try TestFiles.make(size: 1000 * (round + 1) + round, in: scratch)
            let key = "turns/\(round).bin"
            let sent = try await client.upload(ReadableFile(path: file.path), options: .init(key: key, overwrite: true))
            #expect(sent.sentSHA256 == file.sha256)
            #expect(try await emulator.listing()[key]?.sha256 == file.sha256)
            let back = scratch.appending(path: "back-\(round).bin").path
            let destination = try WritableFile(creatingAt: back)
            let download = try await client.read(key: key, into: destination)
            try destination.commit()
            #expect(download.sha256 == file.sha256)
            if round > 0 {
                try await client.delete(key: "turns/\(round - 1).bin")
                #expect(try await emulator.listing()["turns/\(round - 1).bin"] == nil)
            }
            #expect(try await emulator.listing()[key]?.sha256 == file.sha256, "the delete took the wrong key")
        }
    }

    @Test("a 0-byte file uploads and reads back empty")
    func emptyFile() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 0, in: scratch)
        let result = try await client.upload(ReadableFile(path: file.path), options: .init(key: "empty"))
        #expect(result.sentBytes == 0)
        let stored = try #require(try await emulator.listing()["empty"])
        #expect(stored.size == 0)
        #expect(stored.sha256 == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
    }

    @Test("upload without a key: the server's random key is returned and stored")
    func randomKey() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 100, in: scratch)
        let result = try await client.upload(ReadableFile(path: file.path), options: .init(temporaryPublicURL: true))
        #expect(!result.key.isEmpty)
        #expect(try await emulator.listing()[result.key]?.sha256 == file.sha256)
        #expect(result.temporaryPublicURL != nil)
    }

    @Test("keys with /, spaces, unicode, ?, #, %, + round-trip to the same stored key", arguments: [
        "a/b/c.txt", "with space.txt", "unicodé/日本語 ファイル.txt", "q?x=1&y=2", "hash#frag", "per%cent%20", "plus+sign", "semi;colon,comma", "~tilde'quote\"",
    ])
    func oddKeys(key: String) async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 1000, in: scratch)
        let result = try await client.upload(ReadableFile(path: file.path), options: .init(key: key))
        #expect(result.key == key)
        #expect(try await emulator.listing().keys.sorted() == [key])
        let back = scratch.appending(path: UUID().uuidString).path
        let destination = try WritableFile(creatingAt: back)
        let download = try await client.read(key: key, into: destination)
        try destination.commit()
        #expect(download.sha256 == file.sha256)
        #expect(try TestFiles.sha256(ofFileAt: back) == file.sha256)
        try await client.delete(key: key)
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("an existing key without overwrite is a conflict; with overwrite it replaces the bytes")
    func conflictAndOverwrite() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let first = try TestFiles.make(size: 500, in: scratch, seed: 1)
        let second = try TestFiles.make(size: 700, in: scratch, seed: 2)
        _ = try await client.upload(ReadableFile(path: first.path), options: .init(key: "k"))
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: second.path), options: .init(key: "k"))
        }
        #expect(error?.disposition == .conflict)
        #expect(error?.status == 400)
        #expect(error?.isTransient == false)
        #expect(try await emulator.listing()["k"]?.sha256 == first.sha256)

        _ = try await client.upload(ReadableFile(path: second.path), options: .init(key: "k", overwrite: true))
        let stored = try await emulator.listing()["k"]
        #expect(stored?.sha256 == second.sha256)
        #expect(stored?.writes == 2)
    }

    @Test("a wrong API key is a configuration error that never shows the key")
    func wrongKey() async throws {
        let emulator = try EmulatorProcess()
        let wrong = "wrong-secret-\(UUID().uuidString)"
        let client = FileStoreClient(configuration: emulator.storeConfiguration(apiKey: wrong))
        let file = try TestFiles.make(size: 10, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .fixConfiguration)
        #expect(error?.status == 401)
        #expect(error?.isTransient == false)
        let text = "\(String(describing: error)) \(String(reflecting: error)) \(client.configuration)"
        #expect(!text.contains(wrong))
        #expect(!text.contains(EmulatorProcess.apiKey))
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("a wrong base URL (404 from the upload endpoint) is a configuration error")
    func wrongBaseURL() async throws {
        let emulator = try EmulatorProcess()
        var configuration = emulator.storeConfiguration()
        configuration.baseURL += "/nothing-here"
        let client = FileStoreClient(configuration: configuration)
        let file = try TestFiles.make(size: 10, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .fixConfiguration)
        #expect(error?.status == 404)
    }

    @Test("a missing key on read and delete is not-found")
    func notFound() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let back = scratch.appending(path: "nothing").path
        let readError = await #expect(throws: StoreError.self) {
            try await client.read(key: "missing", into: WritableFile(creatingAt: back))
        }
        #expect(readError?.disposition == .notFound)
        let deleteError = await #expect(throws: StoreError.self) { try await client.delete(key: "missing") }
        #expect(deleteError?.disposition == .notFound)
    }
}
