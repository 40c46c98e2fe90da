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
    }
}
