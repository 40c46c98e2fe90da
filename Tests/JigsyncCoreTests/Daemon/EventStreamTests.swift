import Foundation
import Glibc
@testable import JigsyncCore
import Testing

/// `jigsync events`: what the running daemon does, streamed through its control socket.
@Suite("jigsync events", .serialized)
struct EventStreamTests {
    /// Lines a child process prints, collected on a thread of their own.
    final class LineCollector: @unchecked Sendable {
        // @unchecked Sendable: `lines` is guarded by `lock`.
        private let lock = NSLock()
        private var lines: [String] = []

        init(_ pipe: Pipe) {
            let handle = pipe.fileHandleForReading
            Thread {
                var pending = Data()
                while true {
                    let chunk = handle.availableData
                    if chunk.isEmpty { return }
                    pending.append(chunk)
                    while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                        let line = String(decoding: pending[pending.startIndex..<newline], as: UTF8.self)
                        pending.removeSubrange(pending.startIndex...newline)
                        self.lock.withLock { self.lines.append(line) }
                    }
                }
            }.start()
        }

        var objects: [[String: Any]] {
            lock.withLock { lines }.compactMap { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any] }
        }
    }

    @Test("a --follow client sees the upload of a dropped file (with the stored hash), a pause and a resume, and ends when the daemon stops")
    func follow() async throws {
        let h = try DaemonHarness()
        try h.start()
        let follower = Process()
        follower.executableURL = Products.jigsync
        follower.arguments = ["events", "--follow", "--json", "--ledger", h.ledger]
        let out = Pipe()
        follower.standardOutput = out
        follower.standardInput = FileHandle.nullDevice
        let collector = LineCollector(out)
        try follower.run()
        defer { if follower.isRunning { kill(follower.processIdentifier, SIGKILL) } }
        try await waitUntil { collector.objects.contains { $0["event"] as? String == "live" } }

        try h.write("dropped.txt", "dropped into the folder")
        try await h.waitStored("dropped.txt", "dropped into the folder")
        let stored = try #require(try await h.emulator.listing()["dropped.txt"])
        try await waitUntil { collector.objects.contains { $0["event"] as? String == "uploaded" && $0["key"] as? String == "dropped.txt" } }
        let uploaded = try #require(collector.objects.first { $0["event"] as? String == "uploaded" })
        #expect(uploaded["sha256"] as? String == stored.sha256)
        #expect(uploaded["path"] as? String == h.tree.path + "/dropped.txt")
        #expect(uploaded["size"] as? Int == 23)

        for command in ["pause", "resume"] {
            #expect(try ProcessRun.run(Products.jigsync, [command, "--ledger", h.ledger]).status == 0)
        }
        try await waitUntil { collector.objects.contains { $0["event"] as? String == "resumed" } }
        let kinds = collector.objects.compactMap { $0["event"] as? String }
        #expect(kinds.firstIndex(of: "paused")! < kinds.firstIndex(of: "resumed")!)

        #expect(h.stop() == 0)
        try await waitUntil(timeout: .seconds(10)) { !follower.isRunning }
        #expect(follower.terminationStatus == 0)
    }

    @Test("without --follow: the recent events, then the command ends")
    func backlog() async throws {
        let h = try DaemonHarness()
        try h.start()
        try h.write("one.txt", "one")
        try await h.waitStored("one.txt", "one")
        try await waitUntil {
            try ProcessRun.run(Products.jigsync, ["events", "--json", "--ledger", h.ledger]).stdout.contains("\"key\":\"one.txt\"")
        }
        let text = try ProcessRun.run(Products.jigsync, ["events", "--ledger", h.ledger])
        #expect(text.status == 0)
        #expect(text.stdout.contains("uploaded \(h.tree.path)/one.txt key=one.txt size=3"))
        #expect(h.stop() == 0)
    }

    @Test("a follower that falls behind loses the oldest events and is told how many; publishing never waits")
    func slowFollower() throws {
        let hub = EventHub()
        let (follower, backlog) = try #require(hub.follow(capacity: 4))
        #expect(backlog.isEmpty)
        for i in 0..<10 { hub.publish(DaemonActivity(.uploaded, key: "k\(i)")) }
        let (events, closed) = follower.take()
        #expect(!closed)
        #expect(events.first?.event == .dropped)
        #expect(events.first?.count == 6)
        #expect(events.dropFirst().map(\.key) == ["k6", "k7", "k8", "k9"])
        #expect(follower.take().events.isEmpty)
        hub.close()
        #expect(follower.take().closed)
        #expect(hub.follow() == nil)
    }
}
