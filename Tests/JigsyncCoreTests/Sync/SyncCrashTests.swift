import Foundation
import Glibc
import Testing

/// Ownership and crashes: one owner at a time, and `kill -9` loses nothing.
@Suite("jigsync sync: ownership and crashes", .serialized)
struct SyncCrashTests {
    @Test("a second sync on the same ledger refuses, naming the first one's pid")
    func secondOwnerRefused() async throws {
        let h = try SyncHarness(emulatorArguments: ["--latency-ms", "200"])
        // 300 files one at a time at 200 ms each: the first sync owns the ledger for a minute,
        // far longer than the checks below take even on a loaded machine; it is killed after them.
        for i in 0..<300 { try h.write("f\(i).txt", "file \(i)") }
        let first = try h.startSync(["--workers", "1"])
        defer { if first.isRunning { kill(first.processIdentifier, SIGKILL) } }
        try await waitUntil { try await h.emulator.listing().count >= 1 }
        let second = try h.sync()
        #expect(second.status == 2)
        #expect(second.stderr.contains("ledger in use by pid \(first.processIdentifier)"), "\(second.stderr)")
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger], environment: h.emulator.clientEnvironment)
        #expect(status.stdout.contains("pid \(first.processIdentifier)"))
        #expect(first.isRunning)
    }

    @Test("kill -9 in the middle of a sync, files added while it is down, sync again: all uploaded intact, none left uploading")
    func killDuringSync() async throws {
        let h = try SyncHarness(emulatorArguments: ["--latency-ms", "30"])
        for i in 0..<150 { _ = try TestFiles.make(size: 2000 + i, in: h.tree, name: "f\(i).bin", seed: UInt64(i)) }
        let first = try h.startSync(["--workers", "2"])
        try await waitUntil { try await h.emulator.listing().count >= 20 }
        kill(first.processIdentifier, SIGKILL)
        first.waitUntilExit()
        let partial = try await h.emulator.listing().count
        #expect(partial < 150)
        for i in 150..<170 { _ = try TestFiles.make(size: 3000 + i, in: h.tree, name: "f\(i).bin", seed: UInt64(i)) }

        let run = try h.sync()
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let stored = try await h.emulator.listing()
        let local = try h.localHashes()
        #expect(stored.count == 170)
        for (path, hash) in local { #expect(stored[path]?.sha256 == hash, "\(path)") }
        let summary = try h.summary()
        #expect(summary["uploading"] == 0)
        #expect(summary["pending"] == 0)
        #expect(summary["uploaded"] == 170)
    }
}

/// Polls a condition the test cannot be notified of (another process's progress), with a bound.
/// A miss is recorded at the caller's line, so a failure names the wait that timed out.
func waitUntil(timeout: Duration = .seconds(30), sourceLocation: SourceLocation = #_sourceLocation,
               _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(20))
    }
    Issue.record("condition not met within \(timeout)", sourceLocation: sourceLocation)
    throw TestFailure("condition not met within \(timeout)")
}
