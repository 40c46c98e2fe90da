import Foundation
import Testing

/// Remote versions (`versions: N`): each stored content is kept under PREFIX.versions/PATH/,
/// listed by `jigsync versions`, fetched back by `jigsync restore`.
@Suite("remote versions")
struct RemoteVersionTests {
    func versionKeys(_ h: SyncHarness) async throws -> [String] {
        try await h.emulator.listing().keys.filter { $0.hasPrefix("docs.versions/a.txt/") }.sorted()
    }

    @Test("three edits: three versions listed and stored; the first restored byte-identical")
    func threeEdits() async throws {
        let h = try SyncHarness()
        let edits = ["first edit", "second edit, longer", "third"]
        for edit in edits {
            try h.write("a.txt", edit)
            let run = try h.sync(["--versions", "5"], prefix: "docs")
            #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        }
        let list = try ProcessRun.run(Products.jigsync, ["versions", h.tree.appending(path: "a.txt").path, "--ledger", h.ledger])
        #expect(list.status == 0, "\(list.stderr)")
        let lines = list.stdout.split(separator: "\n").map(String.init)
        #expect(lines.count == 3)
        #expect(try await versionKeys(h).count == 3)
        // Newest first: the oldest version is the first edit.
        let oldest = try #require(lines.last?.split(separator: "\t").first.map(String.init))
        #expect(oldest.hasSuffix("-" + TestFiles.hex(Data(edits[0].utf8).sha256Digest).prefix(8)))
        let out = h.root.appending(path: "restored.txt").path
        let restore = try ProcessRun.run(Products.jigsync, ["restore", h.tree.appending(path: "a.txt").path, "--version", oldest,
                                                            "--to", out, "--ledger", h.ledger], environment: h.emulator.clientEnvironment)
        #expect(restore.status == 0, "\(restore.stderr)")
        #expect(try Data(contentsOf: URL(fileURLWithPath: out)) == Data(edits[0].utf8))
        // The file's own key holds the newest content.
        #expect(try await h.emulator.listing()["docs/a.txt"]?.sha256 == TestFiles.hex(Data(edits[2].utf8).sha256Digest))
    }

    @Test("only the newest N are kept: older versions are deleted from the store and the list")
    func pruned() async throws {
        let h = try SyncHarness()
        for i in 0..<4 {
            try h.write("a.txt", "edit number \(i)")
            #expect(try h.sync(["--versions", "2"], prefix: "docs").status == 0)
        }
        let list = try ProcessRun.run(Products.jigsync, ["versions", h.tree.appending(path: "a.txt").path, "--ledger", h.ledger])
        #expect(list.stdout.split(separator: "\n").count == 2)
        let keys = try await versionKeys(h)
        #expect(keys.count == 2)
        let kept = Set(keys.map { String($0.suffix(8)) })
        #expect(kept == Set([2, 3].map { String(TestFiles.hex(Data("edit number \($0)".utf8).sha256Digest).prefix(8)) }))
    }

    @Test("check refuses versions without a prefix, and a version prefix overlapping another folder's")
    func refusedOverlaps() throws {
        let root = TemporaryDirectory.make(prefix: "versions")
        let a = root.appending(path: "a"), b = root.appending(path: "b")
        for dir in [a, b] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        let cases = [
            ("folders:\n  - path: \(a.path)\n    versions: 3\n", "needs a prefix"),
            ("folders:\n  - path: \(a.path)\n    prefix: docs/\n    versions: 3\n  - path: \(b.path)\n    prefix: docs.versions/b/\n",
             "overlaps folders[0]'s version prefix"),
        ]
        for (text, says) in cases {
            let config = root.appending(path: "c-\(UUID().uuidString).yaml").path
            try text.write(toFile: config, atomically: true, encoding: .utf8)
            let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
            #expect(check.status == 2)
            #expect((check.stdout + check.stderr).contains(says), "\(check.stdout)\(check.stderr)")
        }
    }
}
