import Foundation
import Glibc
import Testing
@testable import JigsyncCore

/// `jigsync run` as a real process: changes on disk reach the emulator's store.
@Suite("jigsync run")
struct DaemonTests {
    @Test("create, modify, same-size rewrite and an atomic rename over are each uploaded; the temp name never is")
    func fileChanges() async throws {
        let h = try DaemonHarness()
        try h.start()
        try h.write("a.txt", "first")
        try await h.waitStored("a.txt", "first")
        try h.write("a.txt", "second version")
        try await h.waitStored("a.txt", "second version")
        try h.write("a.txt", "SECOND VERSION")   // same size
        try await h.waitStored("a.txt", "SECOND VERSION")

        // An editor's atomic save: write a temporary name, rename it over the file.
        try h.write("doc.txt", "draft")
        try await h.waitStored("doc.txt", "draft")
        let temporary = try h.write("doc.txt.new", "final text")
        #expect(rename(temporary.path, h.tree.appending(path: "doc.txt").path) == 0)
        try await h.waitStored("doc.txt", "final text")
        #expect(h.stop() == 0)
        #expect(try await h.emulator.listing()["doc.txt.new"] == nil)
    }

    @Test("mkdir -p then a write at once, a hard link made into the folder, a directory moved in")
    func newDirectoriesAndLinks() async throws {
        let h = try DaemonHarness()
        try h.start()
        try h.write("a/b/c/deep.txt", "deep")
        try await h.waitStored("a/b/c/deep.txt", "deep")

        let outside = h.root.appending(path: "outside")
        try FileManager.default.createDirectory(at: outside.appending(path: "incoming/sub"), withIntermediateDirectories: true)
        try Data("linked".utf8).write(to: outside.appending(path: "source.txt"))
        #expect(link(outside.appending(path: "source.txt").path, h.tree.appending(path: "hardlink.txt").path) == 0)
        try await h.waitStored("hardlink.txt", "linked")

        try Data("one".utf8).write(to: outside.appending(path: "incoming/one.txt"))
        try Data("two".utf8).write(to: outside.appending(path: "incoming/sub/two.txt"))
        #expect(rename(outside.appending(path: "incoming").path, h.tree.appending(path: "moved-in").path) == 0)
        try await h.waitStored("moved-in/one.txt", "one")
        try await h.waitStored("moved-in/sub/two.txt", "two")
        // Written right after the move: the new watches see it.
        try h.write("moved-in/sub/three.txt", "three")
        try await h.waitStored("moved-in/sub/three.txt", "three")
        #expect(h.stop() == 0)
    }

    @Test("a renamed directory's files are uploaded under their new keys; one moved out is no longer read")
    func directoryRenamesAndMovesOut() async throws {
        let h = try DaemonHarness()
        try h.start()
        try h.write("old/f.txt", "in a directory")
        try await h.waitStored("old/f.txt", "in a directory")
        #expect(rename(h.tree.appending(path: "old").path, h.tree.appending(path: "new").path) == 0)
        try await h.waitStored("new/f.txt", "in a directory")

        let outside = h.root.appending(path: "gone-away")
        #expect(rename(h.tree.appending(path: "new").path, outside.path) == 0)
        try Data("written outside".utf8).write(to: outside.appending(path: "f.txt"))
        try Data("new outside".utf8).write(to: outside.appending(path: "later.txt"))
        // A marker written afterwards inside proves the daemon processed everything before it.
        try h.write("marker.txt", "marker")
        try await h.waitStored("marker.txt", "marker")
        #expect(h.stop() == 0)
        let stored = try await h.emulator.listing()
        #expect(stored["new/f.txt"]?.sha256 == TestFiles.hex(Data("in a directory".utf8).sha256Digest))
        #expect(stored["new/later.txt"] == nil)
        #expect(stored["gone-away/later.txt"] == nil)
        #expect(stored.count == 3, "\(stored.keys.sorted())")   // old/f.txt (kept), new/f.txt, marker.txt
    }

    @Test("editor temp files are never uploaded")
    func editorTempFiles() async throws {
        let h = try DaemonHarness()
        try h.start()
        for name in [".notes.txt.swp", "notes.txt~", ".#notes.txt", "4913", "download.part", "x.crdownload"] {
            try h.write(name, "temp")
        }
        try h.write("notes.txt", "the real file")
        try await h.waitStored("notes.txt", "the real file")
        try await Task.sleep(for: .milliseconds(200))
        #expect(h.stop() == 0)
        #expect(try await h.emulator.listing().keys.sorted() == ["notes.txt"])
        #expect(try h.summary()["excluded"] == 6)
    }

    @Test("deletes: keep leaves the remote copy, delete removes it, and the mass-delete guard holds back the rest")
    func deletes() async throws {
        let keep = try DaemonHarness()
        try keep.start()
        let kept = try keep.write("k.txt", "keep me")
        try await keep.waitStored("k.txt", "keep me")
        try FileManager.default.removeItem(at: kept)
        try keep.write("marker.txt", "m")
        try await keep.waitStored("marker.txt", "m")
        try await waitUntil { try keep.summary()["deleted"] == 1 }
        #expect(keep.stop() == 0)
        #expect(try await keep.emulator.listing()["k.txt"] != nil)

        let h = try DaemonHarness()
        try h.start(["--on-delete", "delete", "--delete-limit", "3"])
        for i in 0..<8 { try h.write("d/\(i).txt", "file \(i)") }
        for i in 0..<8 { try await h.waitStored("d/\(i).txt", "file \(i)") }
        try FileManager.default.removeItem(at: h.tree.appending(path: "d/0.txt"))
        try await waitUntil { try await h.emulator.listing()["d/0.txt"] == nil }
        for i in 1..<8 { try FileManager.default.removeItem(at: h.tree.appending(path: "d/\(i).txt")) }
        // 3 deletes allowed in the window, 5 held back: their rows stay `deleting`, and the check says so.
        try await waitUntil { try h.summary()["deleted"] == 3 && h.summary()["deleting"] == 5 }
        try await waitUntil {
            try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger], environment: h.emulator.clientEnvironment)
                .stdout.contains("mass delete refused")
        }
        #expect(try await h.emulator.listing().count == 5)
        try await waitUntil {
            let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"])
            return check.status == 1 && check.stdout.contains("5 remote delete(s) held")
        }
        // Released by the operator: every owed delete goes out.
        let retry = try ProcessRun.run(Products.jigsync, ["retry", "--deletes", "--ledger", h.ledger])
        #expect(retry.status == 0, "\(retry.stderr)")
        try await waitUntil { try await h.emulator.listing().isEmpty }
        try await waitUntil { try h.summary()["deleted"] == 8 }
        #expect(h.stop() == 0)
    }

    @Test("SIGTERM during uploads: exit 0 and no row left uploading")
    func gracefulStop() async throws {
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "300"])
        try h.start(["--workers", "2"])
        for i in 0..<20 { try h.write("f\(i).txt", "content \(i)") }
        try await waitUntil { try await h.emulator.listing().count >= 2 }
        #expect(h.stop() == 0)
        let summary = try h.summary()
        #expect(summary["uploading"] == 0)
        #expect((summary["uploaded"] ?? 0) + (summary["pending"] ?? 0) == 20)
        #expect(try await h.emulator.listing().count == summary["uploaded"])
    }

    @Test("a rejected API key pauses uploads: status says why, nothing is failed, the key is never shown")
    func rejectedKeyPauses() async throws {
        let h = try DaemonHarness()
        let wrong = "sk-wrong-\(UUID().uuidString)"
        try h.start(environment: ["JIGSAWSTACK_API_KEY": wrong])
        for i in 0..<5 { try h.write("f\(i).txt", "\(i)") }
        let status = { try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger], environment: h.emulator.clientEnvironment).stdout }
        try await waitUntil { try status().contains("uploads paused") }
        #expect(try status().contains("rejected the API key"))
        let summary = try h.summary()
        #expect(summary["failed"] == 0)
        #expect(summary["pending"] == 5)
        #expect(h.stop() == 0)
        #expect(!h.logText.contains(wrong))
        #expect(try await h.emulator.listing().isEmpty)
    }

    @Test("sd_notify: READY=1, then STATUS=, then STOPPING=1")
    func notifySocket() async throws {
        let socketPath = TemporaryDirectory.make(prefix: "notify").appending(path: "notify.sock").path
        let listener = try NotifyListener(path: socketPath)
        let h = try DaemonHarness()
        try h.start(environment: ["NOTIFY_SOCKET": socketPath])
        try h.write("x.txt", "x")
        try await h.waitStored("x.txt", "x")
        #expect(h.stop() == 0)
        let messages = listener.drain()
        let ready = messages.firstIndex { $0.contains("READY=1") }
        let status = messages.firstIndex { $0.hasPrefix("STATUS=") }
        let stopping = messages.firstIndex { $0.contains("STOPPING=1") }
        #expect(ready != nil && status != nil && stopping != nil, "\(messages)")
        if let ready, let status, let stopping { #expect(ready < status && status < stopping, "\(messages)") }
    }
}

/// A Unix datagram socket standing in for systemd's notification socket.
final class NotifyListener {
    private let fd: Int32

    init(path: String) throws {
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in path.utf8.enumerated() { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard bound == 0 else { throw TestFailure("bind \(path): \(errno)") }
    }

    deinit { close(fd) }

    /// Every datagram received so far, in order.
    func drain() -> [String] {
        var messages: [String] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
            guard n > 0 else { return messages }
            messages.append(String(decoding: buffer[0..<n], as: UTF8.self))
        }
    }
}

@Suite("Watcher building blocks")
struct WatcherUnitTests {
    @Test("the coalescer makes a path due a settle after its last complete write, or after a quiet period of writes")
    func coalescer() {
        var coalescer = Coalescer(settle: .milliseconds(20), quiet: .seconds(2))
        let start = ContinuousClock.now
        let file = WatchedPath(folder: FolderID("/tree"), path: "a.txt")
        let open = WatchedPath(folder: FolderID("/tree"), path: "log.txt")
        coalescer.note(file, .writing, at: start)
        coalescer.note(file, .settled, at: start + .milliseconds(5))
        coalescer.note(open, .writing, at: start)
        #expect(coalescer.takeDue(at: start + .milliseconds(10)).isEmpty)
        #expect(coalescer.nextDeadline() == start + .milliseconds(25))
        #expect(coalescer.takeDue(at: start + .milliseconds(25)) == [file])
        coalescer.note(open, .writing, at: start + .seconds(1))
        #expect(coalescer.takeDue(at: start + .seconds(2)).isEmpty)
        #expect(coalescer.takeDue(at: start + .seconds(3)) == [open])
        #expect(coalescer.isEmpty)
        #expect(coalescer.nextDeadline() == nil)
    }

    @Test("a file written every second and never closed is due 30 s after its first write, then again once quiet")
    func coalescerLongestQuiet() {
        var coalescer = Coalescer(settle: .milliseconds(20), quiet: .seconds(2))
        let start = ContinuousClock.now
        let log = WatchedPath(folder: FolderID("/tree"), path: "app.log")
        var taken: [Int] = []
        for second in 0...40 {
            let now = start + .seconds(second)
            if !coalescer.takeDue(at: now).isEmpty { taken.append(second) }
            coalescer.note(log, .writing, at: now)
        }
        // Every write pushed the quiet deadline on; the longest wait did not move.
        #expect(taken == [30])
        #expect(coalescer.nextDeadline() == start + .seconds(42))
        #expect(coalescer.takeDue(at: start + .seconds(42)) == [log])
        // A write-complete event after writes: due a settle later, and the next writes start anew.
        coalescer.note(log, .writing, at: start + .seconds(50))
        coalescer.note(log, .settled, at: start + .seconds(51))
        #expect(coalescer.nextDeadline() == start + .seconds(51) + .milliseconds(20))
    }

    @Test("paths join without doubled or trailing slashes")
    func join() {
        #expect(Watcher.join("", "a") == "a")
        #expect(Watcher.join("a", "") == "a")
        #expect(Watcher.join("a/b", "c") == "a/b/c")
    }
}
