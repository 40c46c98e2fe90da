import Foundation
import Glibc
import Testing

/// The daemon under stress: a lost event queue, a crash, a folder that vanishes.
@Suite("jigsync run: overflow, crashes, vanished folders", .serialized)
struct DaemonRecoveryTests {
    @Test("the daemon stopped while more files are created than the kernel queues: every file is uploaded after SIGCONT")
    func overflow() async throws {
        let queued = Int((try? String(contentsOfFile: "/proc/sys/fs/inotify/max_queued_events", encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? 16384
        let count = queued + 1000
        let h = try DaemonHarness()
        try h.start(["--workers", "8"])
        // The directories exist and are watched first (the marker is processed after them), so the
        // files below raise events in watched directories: three each, far past the kernel's queue.
        for d in 0..<50 { try FileManager.default.createDirectory(at: h.tree.appending(path: "d\(d)"), withIntermediateDirectories: true) }
        try h.write("marker.txt", "marker")
        try await h.waitStored("marker.txt", "marker")
        let pid = try #require(h.process?.processIdentifier)
        kill(pid, SIGSTOP)
        for i in 0..<count {
            try Data("\(i)".utf8).write(to: h.tree.appending(path: "d\(i % 50)/f\(i)"))
        }
        kill(pid, SIGCONT)
        try await waitUntil(timeout: .seconds(300)) { try await h.emulator.listing().count == count + 1 }
        #expect(h.stop() == 0)
        #expect(h.logText.contains("overflow"))
        let stored = try await h.emulator.listing()
        for i in stride(from: 0, to: count, by: 97) {
            #expect(stored["d\(i % 50)/f\(i)"]?.sha256 == TestFiles.hex(Data("\(i)".utf8).sha256Digest))
        }
    }

    @Test("kill -9 during a burst, files added while it is down, restart: every file uploaded intact")
    func killDuringBurst() async throws {
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "20"])
        try h.start(["--workers", "2"])
        for i in 0..<200 { _ = try TestFiles.make(size: 500 + i, in: h.tree, name: "burst\(i).bin", seed: UInt64(i)) }
        try await waitUntil { try await h.emulator.listing().count >= 10 }
        let pid = try #require(h.process?.processIdentifier)
        kill(pid, SIGKILL)
        h.process?.waitUntilExit()
        #expect(try await h.emulator.listing().count < 200)
        for i in 200..<230 { _ = try TestFiles.make(size: 500 + i, in: h.tree, name: "burst\(i).bin", seed: UInt64(i)) }

        try h.start(["--workers", "4"])
        try await waitUntil(timeout: .seconds(120)) { try await h.emulator.listing().count == 230 }
        #expect(h.stop() == 0)
        let stored = try await h.emulator.listing()
        for i in 0..<230 {
            let path = h.tree.appending(path: "burst\(i).bin").path
            #expect(stored["burst\(i).bin"]?.sha256 == (try TestFiles.sha256(ofFileAt: path)))
        }
        let summary = try h.summary()
        #expect(summary["uploading"] == 0)
        #expect(summary["uploaded"] == 230)
    }

    @Test("the watched root removed and recreated: nothing is deleted remotely, and new files are uploaded")
    func rootRemovedAndRecreated() async throws {
        let h = try DaemonHarness()
        try h.start(["--on-delete", "delete"])
        try h.write("before.txt", "before")
        try await h.waitStored("before.txt", "before")
        try FileManager.default.removeItem(at: h.tree)
        try await waitUntil { h.logText.contains("is gone") }
        // The status is written at most once a second.
        try await waitUntil {
            try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger], environment: h.emulator.clientEnvironment)
                .stdout.contains("is gone")
        }

        try FileManager.default.createDirectory(at: h.tree, withIntermediateDirectories: true)
        try await waitUntil { h.logText.contains("is back") }
        try h.write("after.txt", "after")
        try await h.waitStored("after.txt", "after")
        #expect(h.stop() == 0)
        // A vanished root is not a mass delete: the remote copy of before.txt is still there.
        #expect(try await h.emulator.listing()["before.txt"] != nil)
    }
}
