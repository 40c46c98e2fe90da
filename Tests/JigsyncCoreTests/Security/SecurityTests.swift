import Crypto
import Foundation
import Glibc
@testable import JigsyncCore
import Testing

/// What a hostile or careless machine can put in front of the daemon: files it may not read, users
/// it must not serve, links that lead out of the folder, names no key can hold.
@Suite("security", .serialized)
struct SecurityTests {
    static let setpriv = URL(fileURLWithPath: "/usr/bin/setpriv")
    static let python = URL(fileURLWithPath: "/usr/bin/python3")
    static var canSwitchUsers: Bool {
        getuid() == 0 && FileManager.default.isExecutableFile(atPath: setpriv.path)
            && FileManager.default.isExecutableFile(atPath: python.path) && getpwnam("nobody") != nil && getpwnam("daemon") != nil
    }

    /// Connects to a Unix socket as `user`; prints `connected` or `denied`.
    static func connect(to socket: String, as user: String, group: String) throws -> String {
        let probe = """
            import socket, sys
            s = socket.socket(socket.AF_UNIX)
            try:
                s.connect(sys.argv[1]); print("connected")
            except PermissionError:
                print("denied")
            """
        let run = try ProcessRun.run(setpriv, ["--reuid=\(user)", "--regid=\(group)", "--clear-groups", python.path, "-c", probe, socket])
        return run.stdout.trimmingCharacters(in: .whitespacesAndNewlines) + run.stderr
    }

    @Test("as an unprivileged user: an unreadable file is failed with the reason, the rest goes on; another user cannot use the control socket",
          .enabled(if: canSwitchUsers, "needs root, setpriv, /usr/bin/python3 and the users nobody and daemon"))
    func unprivilegedDaemon() async throws {
        let h = try DaemonHarness()
        let state = h.root.appending(path: "state")
        try FileManager.default.createDirectory(at: state, withIntermediateDirectories: true)
        let nobody = try #require(getpwnam("nobody")).pointee
        #expect(chown(state.path, nobody.pw_uid, nobody.pw_gid) == 0)
        try h.write("open.txt", "readable by anyone")
        let locked = try h.write("locked/secret.txt", "readable by root only")
        #expect(chmod(locked.path, 0o600) == 0)

        try h.start(wrapper: [Self.setpriv.path, "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        try await h.waitStored("open.txt", "readable by anyone")
        let folder = h.tree.resolvingSymlinksInPath().path
        try await waitUntil(timeout: .seconds(20)) {
            try LedgerReader(path: h.ledger).record(folder: folder, path: "locked/secret.txt")?.state == .failed
        }
        let row = try #require(try LedgerReader(path: h.ledger).record(folder: folder, path: "locked/secret.txt"))
        #expect(row.lastError?.contains("Permission denied") == true, "\(row.lastError ?? "nil")")
        // The rest goes on: a file written after the refusal is sent.
        try h.write("later.txt", "after the refusal")
        try await h.waitStored("later.txt", "after the refusal")
        #expect(try await h.emulator.listing()["locked/secret.txt"] == nil)

        // The daemon's own user reaches its socket; another user is refused by the file's mode.
        let socket = h.ledger + ".sock"
        #expect(try Self.connect(to: socket, as: "nobody", group: "nogroup") == "connected")
        #expect(try Self.connect(to: socket, as: "daemon", group: "daemon") == "denied")
        #expect(h.stop() == 0)

        // The secret key is in no log line, status output or ledger byte.
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--all", "--json"], environment: h.emulator.clientEnvironment)
        let key = Data(EmulatorProcess.apiKey.utf8)
        var haystacks = [Data(h.logText.utf8), Data((status.stdout + status.stderr).utf8)]
        for name in try FileManager.default.contentsOfDirectory(atPath: state.path) {
            haystacks.append(try Data(contentsOf: state.appending(path: name)))
        }
        #expect(haystacks.count >= 3)
        #expect(!haystacks.contains { $0.range(of: key) != nil }, "the API key was found")
    }

    @Test("names with %, ?, #, +, 255-byte components are stored under their exact keys; control characters, paths past PATH_MAX and invalid UTF-8 are refused with a reason; links are never followed")
    func hostileNames() async throws {
        let h = try SyncHarness()
        let outside = h.root.appending(path: "outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("outside secret".utf8).write(to: outside.appending(path: "secret.txt"))
        let long = String(repeating: "n", count: 251) + ".txt"   // 255 bytes, NAME_MAX
        let good = ["pct%41.txt", "q?x=1.txt", "h#frag.txt", "plus+ space.txt", "dir%2F/inner.txt", long]
        for name in good { try h.write(name, "content of \(name.prefix(20))") }
        try h.write("nl\nname.txt", "newline")
        try h.write("ctl\u{1}\u{1b}.txt", "control")
        let raw: [UInt8] = Array(h.tree.path.utf8) + Array("/bad".utf8) + [0xFF, 0x00]
        let fd = raw.withUnsafeBufferPointer { open(UnsafeRawPointer($0.baseAddress!).assumingMemoryBound(to: CChar.self), O_WRONLY | O_CREAT, 0o644) }
        try #require(fd >= 0)
        close(fd)
        // A path past PATH_MAX (4096): 18 components of 243 bytes, made one directory at a time.
        var dirfd = open(h.tree.path, O_RDONLY | O_DIRECTORY)
        for i in 0..<18 {
            let name = String(format: "d%02d", i) + String(repeating: "x", count: 240)
            #expect(mkdirat(dirfd, name, 0o755) == 0)
            let next = openat(dirfd, name, O_RDONLY | O_DIRECTORY)
            close(dirfd)
            dirfd = next
        }
        let deep = openat(dirfd, "deep.txt", O_WRONLY | O_CREAT, 0o644)
        #expect(write(deep, "deep", 4) == 4)
        close(deep)
        close(dirfd)
        #expect(symlink(outside.appending(path: "secret.txt").path, h.tree.appending(path: "to-file").path) == 0)
        #expect(symlink(outside.path, h.tree.appending(path: "to-dir").path) == 0)
        #expect(symlink("loop-b", h.tree.appending(path: "loop-a").path) == 0)
        #expect(symlink("loop-a", h.tree.appending(path: "loop-b").path) == 0)

        let run = try h.sync()
        #expect(run.status == 1, "\(run.stdout)\(run.stderr)")   // the refused names are failures
        let stored = try await h.emulator.listing()
        for name in good {
            #expect(stored[name]?.sha256 == TestFiles.hex(SHA256.hash(data: Data("content of \(name.prefix(20))".utf8))), "\(name)")
        }
        #expect(stored.count == good.count, "\(stored.keys.sorted())")
        #expect(!stored.values.contains { $0.sha256 == TestFiles.hex(SHA256.hash(data: Data("outside secret".utf8))) })

        let reader = try LedgerReader(path: h.ledger)
        var rows: [String: FileRecord] = [:]
        try reader.forEach { rows[$0.path] = $0 }
        #expect(rows["nl\nname.txt"]?.state == .failed && rows["nl\nname.txt"]?.lastError?.contains("control characters") == true)
        #expect(rows["ctl\u{1}\u{1b}.txt"]?.state == .failed)
        let deepRow = rows.first { $0.key.hasSuffix("/deep.txt") }?.value
        #expect(deepRow?.state == .failed && deepRow?.lastError?.contains("File name too long") == true, "\(String(describing: deepRow))")
        #expect(rows["bad\u{FFFD}"]?.state == .skipped && rows["bad\u{FFFD}"]?.lastError?.contains("UTF-8") == true)
        for link in ["to-file", "to-dir", "loop-a", "loop-b"] {
            #expect(rows[link]?.state == .skipped && rows[link]?.lastError?.contains("symbolic link") == true, "\(link)")
        }
        #expect(!rows.keys.contains { $0.hasPrefix("to-dir/") })

        // status prints each name on one line, escaped.
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--all"], environment: h.emulator.clientEnvironment)
        #expect(status.stdout.contains("nl\\nname.txt") && status.stdout.contains("ctl\\001\\033.txt"), "\(status.stdout)")
        #expect(!status.stdout.contains("nl\nname"))
    }

    @Test("a directory swapped for a symlink to outside in a tight loop for 20 s while the daemon walks it: nothing outside is watched, recorded or stored")
    func symlinkSwapRace() async throws {
        let h = try DaemonHarness()
        let outside = h.root.appending(path: "outside")
        for i in 0..<20 { try TestFiles.write("sub\(i)/secret\(i).txt", "outside secret \(i)", in: outside) }
        try h.start()
        for i in 0..<20 { try h.write("holder/sub\(i)/inside\(i).txt", "inside \(i)") }
        #expect(symlink(outside.path, h.tree.appending(path: "link").path) == 0)
        let d = h.tree.appending(path: "d").path, holder = h.tree.appending(path: "holder").path, link = h.tree.appending(path: "link").path
        let swaps = await Task.detached {
            // `d` is the real directory, then the symlink, then the real directory, …: each time
            // it appears as a directory the daemon watches and walks it, and may find a link.
            var swaps = 0
            let end = ContinuousClock.now + .seconds(20)
            while ContinuousClock.now < end {
                guard rename(holder, d) == 0, rename(d, holder) == 0, rename(link, d) == 0, rename(d, link) == 0 else { break }
                swaps += 1
            }
            return swaps
        }.value
        #expect(swaps > 100)
        #expect(rename(holder, d) == 0)   // the real directory ends under its new name
        try h.write("marker.txt", "after the race")
        // The race can overflow the kernel's queue again and again; the daemon then rescans at a
        // backoff that grows to 60 s, so what was lost in the storm may wait that long.
        try await h.waitStored("marker.txt", "after the race", timeout: .seconds(90))
        for i in 0..<20 { try await h.waitStored("d/sub\(i)/inside\(i).txt", "inside \(i)", timeout: .seconds(90)) }

        let pid = try #require(h.process).processIdentifier
        var outsideInodes = Set<UInt64>()
        for path in [outside.path] + (0..<20).flatMap({ [outside.appending(path: "sub\($0)").path, outside.appending(path: "sub\($0)/secret\($0).txt").path] }) {
            var st = stat()
            #expect(lstat(path, &st) == 0)
            outsideInodes.insert(UInt64(st.st_ino))
        }
        #expect(WatchBoundaryTests.inotifyWatchInodes(pid: pid).isDisjoint(with: outsideInodes), "a watch was set outside the folder")
        var rows: [FileRecord] = []
        try LedgerReader(path: h.ledger).forEach { rows.append($0) }
        #expect(!rows.contains { $0.state != .skipped && outsideInodes.contains($0.inode) }, "\(rows.filter { outsideInodes.contains($0.inode) }.map(\.path))")
        let stored = try await h.emulator.listing()
        let secrets = Set((0..<20).map { TestFiles.hex(SHA256.hash(data: Data("outside secret \($0)".utf8))) })
        #expect(!stored.values.contains { secrets.contains($0.sha256) }, "\(stored.keys.sorted())")
        #expect(h.stop() == 0)
    }
}
