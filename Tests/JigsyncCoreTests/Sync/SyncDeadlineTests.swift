import Foundation
import Testing

/// `--retry-for` bounds how long a failing file is retried, never a run that is making progress.
@Suite("jigsync sync: long runs", .serialized)
struct SyncDeadlineTests {
    @Test("7,000 files at the API's enforced 50 requests/s: one sync past --retry-for, exit 0, a short output, next to no 429")
    func longRunAtTheRateLimit() async throws {
        // The emulator enforces the documented 50/s; jigsync keeps its own default limit of 50/s.
        let h = try SyncHarness(emulatorArguments: ["--rate-limit", "50"])
        for i in 0..<7000 {
            try h.write("d\(i % 70)/f\(i).txt", "file \(i)")
        }
        let run = try h.sync(["--retry-for", "30s"])
        #expect(run.status == 0, "\(run.stdout.suffix(2000)) \(run.stderr.suffix(2000))")
        let lines = (run.stdout + run.stderr).split(separator: "\n")
        #expect(lines.count <= 40, "\(lines.count) lines of output")
        #expect(SyncHarness.count("uploaded", in: run.stdout) == 7000, "\(run.stdout)")
        let stored = try await h.emulator.listing()
        #expect(stored.count == 7000)
        // Paced evenly under the limit, not in bursts: the server's one-second windows are never
        // overrun (a bucket that started full sent 50 at once and met 25 429s in the first window).
        let refused = try await h.emulator.injectedFaults()["429_rate_limit"] ?? 0
        #expect(refused < 5, "\(refused) requests refused by the enforced limit")
        for i in stride(from: 0, to: 7000, by: 97) {
            #expect(stored["d\(i % 70)/f\(i).txt"]?.sha256 == TestFiles.hex(Data("file \(i)".utf8).sha256Digest))
        }
    }

    @Test("a dead endpoint: files given up after --retry-for, at most 20 listed, the rest counted")
    func deadEndpointListsAtMostTwenty() async throws {
        let h = try SyncHarness()
        for i in 0..<50 { try h.write("f\(i).txt", "\(i)") }
        var environment = h.emulator.clientEnvironment
        environment["JIGSAWSTACK_API_URL"] = "http://127.0.0.1:9"   // discard port: connection refused
        let run = try h.sync(["--retry-for", "3s"], environment: environment)
        #expect(run.status == 1)
        let due = run.stdout.split(separator: "\n").filter { $0.hasPrefix("still due:") }
        #expect(due.count == 20, "\(run.stdout)")
        #expect(run.stdout.contains("… and 30 more (jigsync status --state pending)"), "\(run.stdout)")
        #expect(try h.summary()["pending"] == 50)
        #expect(run.stderr.contains("jigsync: the service did not answer for"), "\(run.stderr)")
    }

    @Test("a service that takes connections and never answers: sync pauses after three, probes once per backoff, stops after --retry-for with one line; every file stays due")
    func unansweringService() async throws {
        let h = try SyncHarness()
        for i in 0..<200 { try h.write("f\(i).txt", "file \(i)") }
        let silent = try LyingServer(modes: ["hangup"])
        let started = ContinuousClock.now
        let run = try h.sync(["--retry-for", "4s"], environment: silent.clientEnvironment)
        let took = ContinuousClock.now - started
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("jigsync: the service did not answer for"), "\(run.stderr)")
        #expect(run.stderr.contains("the files not uploaded stay due"), "\(run.stderr)")
        // One line per condition, not one per file (the last build printed 201 lines here).
        #expect(!run.stderr.contains("still failing after the retry period"), "\(run.stderr)")
        #expect(run.stderr.split(separator: "\n").count <= 3, "\(run.stderr)")
        #expect(took < .seconds(20), "\(took)")
        // Three unanswered, the requests in flight then, and one probe per backoff (1 s, 2 s, then
        // the last as --retry-for ends): the last build sent 405 for these 200 files.
        let requests = try await silent.log().requests
        #expect(requests.count <= 20, "\(requests.count) requests")
        #expect(try await silent.log().stored.isEmpty)
        #expect(try h.summary()["pending"] == 200)
    }

    @Test("the service answers again within --retry-for: the pause ends and every file is stored with its bytes")
    func serviceComesBack() async throws {
        let h = try SyncHarness()
        var expected: [String: String] = [:]
        for i in 0..<50 {
            try h.write("f\(i).txt", "file \(i)")
            expected["f\(i).txt"] = TestFiles.hex(Data("file \(i)".utf8).sha256Digest)
        }
        let flaky = try LyingServer(modes: ["hangup", "hangup", "hangup", "hangup", "hangup", "ok"])
        let run = try h.sync(["--retry-for", "60s"], environment: flaky.clientEnvironment)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains("uploads paused: the service does not answer"), "\(run.stderr)")
        let log = try await flaky.log()
        #expect(log.stored.mapValues(\.sha256) == expected)
        #expect(try h.summary()["uploaded"] == 50)
    }

    @Test("a file rewritten in place faster than it can be sent: sync leaves it due after --retry-for and ends (it resent it for ever); the other files are stored")
    func fileThatNeverHoldsStill() async throws {
        let h = try SyncHarness()
        try h.write("calm.txt", "left alone")
        let busy = h.tree.appending(path: "db.bin")
        try Data(repeating: 7, count: 20_000_000).write(to: busy)
        let writing = LockedFlag(true)
        let writer = Thread {
            var generator = SystemRandomNumberGenerator()
            // At most 90 s: a sync that resends for ever then ends, and the test fails, not hangs.
            let stop = Date().addingTimeInterval(90)
            while writing.value, Date() < stop {
                guard let handle = try? FileHandle(forUpdating: busy) else { return }
                try? handle.seek(toOffset: UInt64.random(in: 0..<19_000_000, using: &generator))
                try? handle.write(contentsOf: Data(repeating: UInt8.random(in: 0...255, using: &generator), count: 4096))
                try? handle.close()
                Thread.sleep(forTimeInterval: 0.02)
            }
        }
        writer.start()
        defer { writing.value = false }
        let started = ContinuousClock.now
        let run = try h.sync(["--retry-for", "3s"])
        writing.value = false
        #expect(ContinuousClock.now - started < .seconds(60))
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")
        #expect(run.stdout.contains("still due: \(busy.path)"), "\(run.stdout)")
        #expect(try await h.emulator.listing()["calm.txt"]?.sha256 == TestFiles.hex(Data("left alone".utf8).sha256Digest))
        #expect(try h.summary()["pending"] == 1)
    }
}

/// A flag two threads share.
final class LockedFlag: @unchecked Sendable {   // `stored` is guarded by `lock`
    private let lock = NSLock()
    private var stored: Bool
    init(_ value: Bool) { stored = value }
    var value: Bool {
        get { lock.withLock { stored } }
        set { lock.withLock { stored = newValue } }
    }
}
