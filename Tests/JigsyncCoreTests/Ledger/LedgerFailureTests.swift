import Foundation
import Glibc
import Testing
@testable import JigsyncCore

/// A ledger that cannot record says so at once, holds uploads, and recovers by itself.
@Suite("ledger write failures", .serialized)
struct LedgerFailureTests {
    private static func row(_ path: String, _ state: FileState = .pending) -> FileRecord {
        let stat = FileStat(kind: .regular, size: 1, mtimeNanoseconds: 1, ctimeNanoseconds: 1, inode: 1, device: 1)
        return FileRecord(folder: "/f", path: path, key: path, stat: stat, state: state, examinedAt: 1)
    }

    @Test("a ledger file deleted or replaced under its owner is detected at the next flush, and rows are kept until it is back")
    func replacedUnderTheOwner() async throws {
        let directory = TemporaryDirectory.make(prefix: "ledger-replaced")
        let path = directory.appending(path: "ledger.db").path
        let ledger = try Ledger(path: path, retryDelay: LedgerRetryDelay(initial: .milliseconds(20), maximum: .milliseconds(100)))
        let states = StateLog()
        ledger.observeWrites { states.append($0) }
        try await ledger.commit(Self.row("a"))

        // Moved away: the path names nothing.
        let aside = directory.appending(path: "aside.db").path
        #expect(rename(path, aside) == 0)
        await #expect(throws: LedgerError.self) { try await ledger.commit(Self.row("b")) }
        #expect(ledger.writeState.failure?.message.contains("deleted while jigsync had it open") == true)
        #expect(states.last?.isFailing == true)

        // Another file at the path: still not written to.
        #expect(FileManager.default.createFile(atPath: path, contents: Data("other".utf8)))
        await #expect(throws: LedgerError.self) { try await ledger.flush() }
        #expect(ledger.writeState.failure?.message.contains("replaced by another file") == true)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("other".utf8))

        // The original back: the retry timer writes the kept row, and says so.
        #expect(rename(aside, path) == 0)
        try await waitUntil(timeout: .seconds(10)) { !ledger.writeState.isFailing }
        #expect(states.last?.isFailing == false)
        #expect(try await ledger.record(folder: "/f", path: "b")?.state == .pending)
        try await ledger.flush()
    }

    @Test("a planner's row, planned before an upload was recorded, keeps what the row says the store holds (found by the chaos soak)")
    func plannerKeepsRemoteState() async throws {
        let directory = TemporaryDirectory.make(prefix: "ledger-remote")
        let ledger = try Ledger(path: directory.appending(path: "ledger.db").path)
        let planned = Self.row("a")          // read by a rescan while the file was new: no copy known
        var uploaded = Self.row("a", .uploaded)
        uploaded.uploadedSHA256 = "5ha"
        uploaded.uploadedSize = 1
        try await ledger.commit(uploaded)    // the worker records its upload
        var gone = planned
        gone.state = .deleted                // the rescan's plan, written after it: the file is gone
        ledger.save(gone, keepingRemoteState: true)
        try await ledger.flush()
        let row = try #require(try await ledger.record(folder: "/f", path: "a"))
        #expect(row.state == .deleted)
        #expect(row.uploadedSHA256 == "5ha" && row.mayBeStored)

        // Queued together while writes fail, the planner's last row still keeps the worker's copy.
        var again = Self.row("b", .uploaded)
        again.uploadedSHA256 = "b5ha"
        ledger.save(again)
        var planB = Self.row("b")
        planB.state = .pending
        ledger.save(planB, keepingRemoteState: true)
        try await ledger.flush()
        #expect(try await ledger.record(folder: "/f", path: "b")?.uploadedSHA256 == "b5ha")
    }

    @Test("with the ledger's file system full, nothing is uploaded, status --check says why at once, and all resumes when space is back",
          .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func fullFileSystem() async throws {
        let h = try DaemonHarness()
        let state = h.root.appending(path: "state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let mount = try ProcessRun.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=1m", "tmpfs", state.path])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer {
            h.stop()
            _ = try? ProcessRun.run(URL(fileURLWithPath: "/bin/umount"), ["-l", state.path])
        }
        try h.start()
        try h.write("before.txt", "before")
        try await h.waitStored("before.txt", "before")

        // Fill the file system to the last block.
        let filler = state.appending(path: "filler").path
        let fd = open(filler, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        try #require(fd >= 0)
        let block = [UInt8](repeating: 0x5A, count: 4096)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)

        let names = (0..<20).map { "full/f\($0).txt" }
        for name in names { try h.write(name, "content of \(name)") }

        // Said at once: status --check is broken and names the ledger; the log says it.
        try await waitUntil(timeout: .seconds(30)) {
            let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"], environment: h.emulator.clientEnvironment)
            return check.status == 2 && check.stdout.contains("ledger writes failing")
        }
        #expect(h.logText.contains("ledger writes failing"))
        // Nothing that could not be recorded was sent.
        let during = try await h.emulator.listing()
        #expect(names.allSatisfy { during[$0] == nil }, "\(during.keys.sorted())")

        // Space back: the retry commits, uploads resume, every row says uploaded.
        #expect(unlink(filler) == 0)
        for name in names { try await h.waitStored(name, "content of \(name)") }
        try await waitUntil(timeout: .seconds(30)) {
            let reader = try LedgerReader(path: h.ledger)
            return try names.allSatisfy { try reader.record(folder: h.tree.path, path: $0)?.state == .uploaded }
        }
        // The reporter writes the attention at most once a second: the all-clear follows shortly.
        try await waitUntil(timeout: .seconds(10)) {
            try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"], environment: h.emulator.clientEnvironment).status == 0
        }
        #expect(h.logText.contains("ledger writes work again"))
        #expect(h.stop() == 0)
        #expect(try h.summary()["uploaded"] == 21)
    }
}

/// The states an observer heard, in order (the observer runs on the ledger's queue).
private final class StateLog: @unchecked Sendable {
    // @unchecked Sendable: `states` is guarded by `lock`.
    private let lock = NSLock()
    private var states: [LedgerWriteState] = []
    func append(_ state: LedgerWriteState) { lock.withLock { states.append(state) } }
    var last: LedgerWriteState? { lock.withLock { states.last } }
}
