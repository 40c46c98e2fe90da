import Foundation
import Glibc
import Testing
@testable import JigsyncCore

/// What the watcher sees must be what a walk would see: nothing outside the folder, and every
/// name inside it, UTF-8 or not.
@Suite("watcher boundaries", .serialized)
struct WatchBoundaryTests {
    @Test("a directory swapped for a symlink while the daemon is stopped leads no watch and no row outside the folder")
    func symlinkSwapWhileStopped() async throws {
        let h = try DaemonHarness()
        let outside = h.root.appending(path: "outside")
        try FileManager.default.createDirectory(at: outside.appending(path: "sub"), withIntermediateDirectories: true)
        try h.start()
        try h.write("d/x.txt", "inside")
        try await h.waitStored("d/x.txt", "inside")
        let pid = try #require(h.process).processIdentifier

        // The events of mkdir wait in the queue while the tree changes under them.
        #expect(kill(pid, SIGSTOP) == 0)
        let d = h.tree.appending(path: "d")
        try FileManager.default.createDirectory(at: d.appending(path: "sub"), withIntermediateDirectories: true)
        try FileManager.default.removeItem(at: d)
        #expect(symlink("../outside", d.path) == 0)
        #expect(kill(pid, SIGCONT) == 0)
        try h.write("marker1.txt", "first marker")
        try await h.waitStored("marker1.txt", "first marker")

        try Data("secret outside".utf8).write(to: outside.appending(path: "sub/secret.txt"))
        try h.write("marker2.txt", "second marker")
        try await h.waitStored("marker2.txt", "second marker")

        // No inotify watch of the daemon is on outside/sub.
        var sub = stat(), secret = stat()
        #expect(lstat(outside.appending(path: "sub").path, &sub) == 0)
        #expect(lstat(outside.appending(path: "sub/secret.txt").path, &secret) == 0)
        let watchedInodes = Self.inotifyWatchInodes(pid: pid)
        #expect(!watchedInodes.isEmpty)
        #expect(!watchedInodes.contains(UInt64(sub.st_ino)), "a watch was set outside the folder")

        // No row describes the file outside, by path or by inode; `d` is a skipped symlink.
        let folder = h.tree.resolvingSymlinksInPath().path
        let reader = try LedgerReader(path: h.ledger)
        var rows: [FileRecord] = []
        try reader.forEach { rows.append($0) }
        #expect(!rows.contains { $0.inode == UInt64(secret.st_ino) }, "\(rows.map(\.path))")
        #expect(!rows.contains { $0.path.hasPrefix("d/sub") }, "\(rows.map(\.path))")
        #expect(try reader.record(folder: folder, path: "d")?.state == .skipped)
        #expect(try await h.emulator.listing()["d/sub/secret.txt"] == nil)
        #expect(h.stop() == 0)
    }

    @Test("a file whose name is not UTF-8, created while the daemon runs, gets the walk's skipped row at once")
    func nonUTF8NameWhileRunning() async throws {
        let h = try DaemonHarness()
        try h.start()
        let raw: [UInt8] = Array("bad".utf8) + [0xFF] + Array(".txt".utf8)
        let shown = String(decoding: raw, as: UTF8.self)
        let fd = h.tree.path.withCString { base in
            (Array(UnsafeBufferPointer(start: base, count: strlen(base))).map { UInt8(bitPattern: $0) } + [0x2F] + raw + [0])
                .withUnsafeBufferPointer { $0.withMemoryRebound(to: CChar.self) { open($0.baseAddress!, O_WRONLY | O_CREAT | O_EXCL, 0o644) } }
        }
        try #require(fd >= 0)
        #expect(write(fd, "x", 1) == 1)
        close(fd)

        let folder = h.tree.resolvingSymlinksInPath().path
        try await waitUntil(timeout: .seconds(10)) {
            try LedgerReader(path: h.ledger).record(folder: folder, path: shown)?.state == .skipped
        }
        let row = try #require(try LedgerReader(path: h.ledger).record(folder: folder, path: shown))
        // The same row a walk gives.
        let walked = try FolderWalker.walk(Folder(path: folder)).first { $0.relativePath == shown }
        #expect(walked?.skipReason != nil)
        #expect(row.lastError == walked?.skipReason)
        #expect(row.size == 1)
        #expect(h.stop() == 0)
    }

    /// The inodes of every inotify watch of process `pid` (from `/proc/PID/fdinfo`).
    static func inotifyWatchInodes(pid: Int32) -> Set<UInt64> {
        let directory = "/proc/\(pid)/fdinfo"
        var inodes = Set<UInt64>()
        for entry in (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? [] {
            guard let text = try? String(contentsOfFile: directory + "/" + entry, encoding: .utf8) else { continue }
            for line in text.split(separator: "\n") where line.hasPrefix("inotify ") {
                for field in line.split(separator: " ") where field.hasPrefix("ino:") {
                    if let inode = UInt64(field.dropFirst(4), radix: 16) { inodes.insert(inode) }
                }
            }
        }
        return inodes
    }
}
