import Foundation
import Glibc
import Testing

/// `sync --dry-run` and `run --dry-run`: what would be done is printed, nothing is sent, and the
/// ledger is not touched (not created, not changed by a byte).
@Suite("dry run")
struct DryRunTests {
    /// The SHA-256 of the ledger, and the bytes its WAL holds (a read-only reader may create an
    /// empty one, as `status` does; a write would put frames in it).
    static func ledgerState(_ path: String) throws -> [String] {
        let wal = (try? FileManager.default.attributesOfItem(atPath: path + "-wal")[.size] as? Int) ?? 0
        return [try TestFiles.sha256(ofFileAt: path), "wal \(wal)"]
    }

    @Test("a first dry run lists uploads and skips with why, sends nothing and creates no ledger")
    func firstRun() async throws {
        let h = try SyncHarness()
        try h.write("a.txt", "alpha")
        try h.write("dir/b.txt", "beta")
        try h.write(".notes.swp", "editor temp")
        #expect(symlink("/etc/passwd", h.tree.appending(path: "link").path) == 0)
        let run = try h.sync(["--dry-run"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("upload\t\(h.tree.path)/a.txt → a.txt"))
        #expect(lines.contains("upload\t\(h.tree.path)/dir/b.txt → dir/b.txt"))
        #expect(lines.contains { $0.hasPrefix("skip\t\(h.tree.path)/.notes.swp (excluded") })
        #expect(lines.contains { $0.hasPrefix("skip\t\(h.tree.path)/link (is a symbolic link") })
        #expect(try await h.emulator.listing().isEmpty)
        #expect(!FileManager.default.fileExists(atPath: h.ledger))
    }

    @Test("after a sync: overwrites, new files and remote deletes are listed; the store and the ledger's bytes stay as they were")
    func afterSync() async throws {
        let h = try SyncHarness()
        try h.write("keep.txt", "unchanged")
        try h.write("edit.txt", "version 1")
        try h.write("gone.txt", "to be deleted")
        #expect(try h.sync().status == 0)
        let stored = try await h.emulator.listing()
        #expect(stored.count == 3)
        let before = try Self.ledgerState(h.ledger)

        try h.write("edit.txt", "version 2, longer")
        try h.write("new.txt", "new file")
        try FileManager.default.removeItem(at: h.tree.appending(path: "gone.txt"))
        let run = try h.sync(["--dry-run"])
        #expect(run.status == 0, "\(run.stderr)")
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.contains("overwrite\t\(h.tree.path)/edit.txt → edit.txt"))
        #expect(lines.contains("upload\t\(h.tree.path)/new.txt → new.txt"))
        #expect(lines.contains("keep-remote\t\(h.tree.path)/gone.txt → gone.txt (the folder keeps remote copies)"))
        #expect(!lines.contains { $0.contains("keep.txt") })

        // `run --dry-run` plans once with the daemon's delete policy, then exits.
        let daemon = try ProcessRun.run(Products.jigsync, ["run", "--dry-run", "--folder", h.tree.path, "--ledger", h.ledger, "--on-delete", "delete"],
                                        environment: h.emulator.clientEnvironment)
        #expect(daemon.status == 0, "\(daemon.stderr)")
        #expect(daemon.stdout.contains("delete-remote\t\(h.tree.path)/gone.txt → gone.txt"))
        #expect(daemon.stdout.contains("overwrite\t\(h.tree.path)/edit.txt"))

        #expect(try await h.emulator.listing() == stored)
        #expect(try Self.ledgerState(h.ledger) == before)
    }
}
