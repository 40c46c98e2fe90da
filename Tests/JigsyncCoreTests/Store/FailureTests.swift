import Foundation
import Glibc
import JigsyncCore
import Testing

/// How the client classifies what goes wrong on the wire.
@Suite("FileStoreClient failures")
struct FailureTests {
    let scratch = TemporaryDirectory.make(prefix: "failures")

    @Test("500 is transient and nothing is stored")
    func serverError() async throws {
        let emulator = try EmulatorProcess(arguments: ["--fail-rate", "1"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 1000, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .retryLater)
        #expect(error?.status == 500)
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("429 with the reset header is transient and carries a wait of at most a second")
    func throttled() async throws {
        let emulator = try EmulatorProcess(arguments: ["--throttle-rate", "1"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 1000, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .retryLater)
        #expect(error?.status == 429)
        let wait = try #require(error?.retryAfter)
        // The reset is the end of the emulator's one-second window, read against its Date header
        // (whole seconds), so the wait is between 0 and 2 s.
        #expect(wait >= .zero && wait <= .seconds(2))
    }

    @Test("--retry-after-rate 1: the 429 carries Retry-After: 1, which wins over the reset header; /_emulator/faults counts it")
    func throttledWithRetryAfter() async throws {
        let emulator = try EmulatorProcess(arguments: ["--throttle-rate", "1", "--retry-after-rate", "1"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 1000, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.status == 429)
        #expect(error?.retryAfter == .seconds(1))
        #expect(try await emulator.injectedFaults() == ["429_retry_after": 1])
    }

    @Test("the emulator's rate limit answers 429 past N requests per second")
    func rateLimit() async throws {
        let emulator = try EmulatorProcess(arguments: ["--rate-limit", "3"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 10, in: scratch)
        // Twelve requests at once land in one or two one-second windows: at most six pass.
        let outcomes = await withTaskGroup(of: StoreError?.self) { group in
            for i in 0..<12 {
                group.addTask {
                    do {
                        _ = try await client.upload(ReadableFile(path: file.path), options: .init(key: "k\(i)"))
                        return nil
                    } catch let error as StoreError {
                        return error
                    } catch {
                        return StoreError(.fixFile, message: "\(error)")
                    }
                }
            }
            return await group.reduce(into: []) { $0.append($1) }
        }
        let throttled = outcomes.compactMap { $0 }
        #expect(throttled.allSatisfy { $0.status == 429 && $0.disposition == .retryLater && $0.retryAfter != nil })
        #expect(throttled.count >= 6)
        #expect(try await emulator.listing().count == 12 - throttled.count)
    }

    @Test("a connection dropped mid-body is transient and leaves nothing stored")
    func connectionReset() async throws {
        let emulator = try EmulatorProcess(arguments: ["--reset-rate", "1"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 8 * 1024 * 1024, in: scratch)
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .retryLater)
        #expect(error?.status == nil)
        #expect(try await emulator.listing().isEmpty)
        let incoming = try FileManager.default.contentsOfDirectory(atPath: emulator.dataDirectory.appending(path: "incoming").path)
        #expect(incoming.isEmpty)
    }

    @Test("a server that accepts and never answers is aborted by the timeout")
    func silentServer() async throws {
        let listener = try SilentListener()
        var configuration = StoreConfiguration(baseURL: "http://127.0.0.1:\(listener.port)", apiKey: APIKey("k"))
        configuration.sendStallTimeout = .milliseconds(500)
        configuration.responseTimeout = .milliseconds(800)
        let client = FileStoreClient(configuration: configuration)
        let file = try TestFiles.make(size: 1000, in: scratch)
        let started = ContinuousClock.now
        let error = await #expect(throws: StoreError.self) {
            try await client.upload(ReadableFile(path: file.path), options: .init(key: "x"))
        }
        #expect(error?.disposition == .retryLater)
        // The configured 800 ms response timeout fired (its message says so), well before the
        // defaults (30 s stall, 120 s answer) would have.
        #expect(error?.message.contains("no answer within") == true, "\(String(describing: error))")
        #expect(ContinuousClock.now - started < .seconds(25))
    }

    @Test("a file truncated while it is sent ends as 'changed', not a network error")
    func truncatedWhileSending() async throws {
        // The emulator holds its answer (and so stops reading) for 4 s; the client fills the socket
        // buffers and waits, the test truncates the file, and the next read comes up short. The
        // margin is wide so a loaded machine still changes the file before the body is complete.
        let emulator = try EmulatorProcess(arguments: ["--latency-ms", "4000"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 64 * 1024 * 1024, in: scratch)
        let source = try ReadableFile(path: file.path)
        let upload = Task { try await client.upload(source, options: .init(key: "shrinking")) }
        try await Task.sleep(for: .milliseconds(300))
        #expect(truncate(file.path, 1024 * 1024) == 0)
        let error = await #expect(throws: StoreError.self) { _ = try await upload.value }
        #expect(error?.disposition == .fileChanged)
        #expect(error?.message.contains("shrank") == true)
        #expect(try await emulator.listing().isEmpty)
    }

    @Test("a small file (sent whole with the headers) that shrank, grew or was rewritten after it was opened ends as 'changed', nothing stored")
    func smallFileChangedBeforeSending() async throws {
        let emulator = try EmulatorProcess()
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        for (name, change) in [("shrank", { (path: String) in truncate(path, 10) == 0 }),
                               ("grew", { (path: String) in truncate(path, 9_000) == 0 }),
                               ("modified", { (path: String) in
                                   var times = [timespec(tv_sec: 1_000_000, tv_nsec: 0), timespec(tv_sec: 1_000_000, tv_nsec: 0)]
                                   return utimensat(AT_FDCWD, path, &times, 0) == 0 })] {
            let file = try TestFiles.make(size: 4_096, in: scratch)
            let source = try ReadableFile(path: file.path)   // its stat is taken here
            #expect(change(file.path), "\(name)")
            let error = await #expect(throws: StoreError.self, "\(name)") {
                _ = try await client.upload(source, options: .init(key: "small-\(name)"))
            }
            #expect(error?.disposition == .fileChanged, "\(name): \(String(describing: error))")
            #expect(error?.message.contains(name) == true, "\(name): \(String(describing: error))")
        }
        #expect(try await emulator.listing().isEmpty)
        // And one left alone goes up with its bytes, through the same path.
        let file = try TestFiles.make(size: 4_096, in: scratch)
        let result = try await client.upload(ReadableFile(path: file.path), options: .init(key: "small-unchanged"))
        #expect(result.sentSHA256 == file.sha256)
        #expect(try await emulator.listing()["small-unchanged"]?.sha256 == file.sha256)
    }

    @Test("a file that grows while it is sent ends as 'changed'")
    func grownWhileSending() async throws {
        let emulator = try EmulatorProcess(arguments: ["--latency-ms", "4000"])
        let client = FileStoreClient(configuration: emulator.storeConfiguration())
        let file = try TestFiles.make(size: 64 * 1024 * 1024, in: scratch)
        let source = try ReadableFile(path: file.path)
        let upload = Task { try await client.upload(source, options: .init(key: "growing")) }
        try await Task.sleep(for: .milliseconds(300))
        let handle = try #require(FileHandle(forWritingAtPath: file.path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data(repeating: 7, count: 4096))
        try handle.close()
        let error = await #expect(throws: StoreError.self) { _ = try await upload.value }
        #expect(error?.disposition == .fileChanged)
    }

    @Test("cancelling the task aborts the transfer")
    func cancellation() async throws {
        let listener = try SilentListener()
        let configuration = StoreConfiguration(baseURL: "http://127.0.0.1:\(listener.port)", apiKey: APIKey("k"))
        let client = FileStoreClient(configuration: configuration)
        let file = try TestFiles.make(size: 1000, in: scratch)
        let task = Task { try await client.upload(ReadableFile(path: file.path), options: .init(key: "x")) }
        try await Task.sleep(for: .milliseconds(200))
        task.cancel()
        let error = await #expect(throws: StoreError.self) { _ = try await task.value }
        #expect(error?.disposition == .cancelled)
    }
}

/// A TCP listener on loopback that never accepts: the kernel completes the handshake and
/// buffers what the client sends, and no answer ever comes.
final class SilentListener {
    let port: UInt16
    private let fd: Int32

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        self.fd = fd
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw TestFailure("cannot listen: \(errno)") }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        port = UInt16(bigEndian: address.sin_port)
    }

    deinit { close(fd) }
}
