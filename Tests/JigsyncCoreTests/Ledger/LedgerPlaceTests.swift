import Foundation
import Glibc
import Testing
@testable import JigsyncCore

/// Where the ledger lives can go wrong under the daemon: a directory it may not write, a file
/// moved away while it runs. Each is said plainly, and nothing is sent that was not recorded.
@Suite("ledger place", .serialized)
struct LedgerPlaceTests {
    @Test("a ledger directory on a read-only file system stops run at once: exit 2, the ledger and the reason named",
          .enabled(if: getuid() == 0, "mounting a tmpfs needs root"))
    func readOnlyAtStart() throws {
        let h = try SyncHarness()
        let state = h.root.appending(path: "ro")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let mount = try ProcessRun.run(URL(fileURLWithPath: "/bin/mount"), ["-t", "tmpfs", "-o", "size=1m,ro", "tmpfs", state.path])
        try #require(mount.status == 0, "\(mount.stderr)")
        defer { _ = try? ProcessRun.run(URL(fileURLWithPath: "/bin/umount"), ["-l", state.path]) }
        try h.write("a.txt", "a")
        let ledger = state.appending(path: "ledger.db").path
        // `timeout` bounds a regression that would start watching instead.
        let run = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/timeout"), ["20", Products.jigsync.path, "run", "--folder", h.tree.path, "--ledger", ledger],
                                     environment: h.emulator.clientEnvironment)
        #expect(run.status == 2, "\(run.stdout)\(run.stderr)")
        #expect(run.stderr.contains(ledger) && run.stderr.contains("Read-only file system"), "\(run.stderr)")
    }

    @Test("the ledger moved away under a running daemon: said in the log and by status --check, nothing sent unrecorded, all sent once it is back")
    func movedUnderTheDaemon() async throws {
        let h = try DaemonHarness()
        try h.start()
        try h.write("before.txt", "before")
        try await h.waitStored("before.txt", "before")
        let aside = h.ledger + ".aside"
        #expect(rename(h.ledger, aside) == 0)
        try h.write("during.txt", "during")
        try await waitUntil(timeout: .seconds(20)) { h.logText.contains("deleted while jigsync had it open") }
        // An upload commits its row before sending: with the ledger gone, nothing goes out.
        #expect(try await h.emulator.listing()["during.txt"] == nil)
        // status says what the daemon says, not that nothing was ever synced.
        try await waitUntil(timeout: .seconds(10)) {
            let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"], environment: h.emulator.clientEnvironment)
            return check.status == 2 && check.stdout.contains("deleted while jigsync had it open")
        }
        #expect(rename(aside, h.ledger) == 0)
        try await h.waitStored("during.txt", "during")
        try await waitUntil(timeout: .seconds(20)) { h.logText.contains("ledger writes work again") }
        #expect(h.stop() == 0)
        let folder = h.tree.resolvingSymlinksInPath().path
        #expect(try LedgerReader(path: h.ledger).record(folder: folder, path: "during.txt")?.state == .uploaded)
    }
}
