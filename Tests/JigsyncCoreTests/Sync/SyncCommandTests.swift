import Foundation
import Glibc
import Testing

/// `jigsync sync` as a real process against the emulator; assertions read the emulator's store.
@Suite("jigsync sync")
struct SyncCommandTests {
    @Test("a nested tree syncs: keys are prefix + relative path, bytes equal; FIFOs and symlinks are skipped, nothing outside is read")
    func nestedTree() async throws {
        let h = try SyncHarness()
        try h.write("top.txt", "top")
        try h.write("a/b/c/deep.txt", "deep content")
        try h.write("a/sibling.md", "# sibling")
        try h.write("spaces and ünïcode/file #1.txt", "odd name")
        try h.write(".draft.swp", "editor temp")
        let outside = h.root.appending(path: "outside")
        try FileManager.default.createDirectory(at: outside, withIntermediateDirectories: true)
        try Data("secret outside".utf8).write(to: outside.appending(path: "secret.txt"))
        #expect(symlink(outside.appending(path: "secret.txt").path, h.tree.appending(path: "link-to-file").path) == 0)
        #expect(symlink(outside.path, h.tree.appending(path: "link-to-dir").path) == 0)
        #expect(mkfifo(h.tree.appending(path: "a/fifo").path, 0o600) == 0)

        let run = try h.sync(prefix: "backup")
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let stored = try await h.emulator.listing()
        let expected = try h.localHashes().filter { $0.key != ".draft.swp" }
        #expect(Set(stored.keys) == Set(expected.keys.map { "backup/" + $0 }))
        for (path, hash) in expected { #expect(stored["backup/" + path]?.sha256 == hash, "\(path)") }
        #expect(!stored.values.contains { $0.sha256 == (try? TestFiles.sha256(ofFileAt: outside.appending(path: "secret.txt").path)) })

        let files = try h.status(["--all"])["files"] as? [[String: Any]] ?? []
        let byPath = Dictionary(uniqueKeysWithValues: files.map { (($0["path"] as? String ?? "").replacingOccurrences(of: h.tree.path + "/", with: ""), $0) })
        #expect(byPath["a/fifo"]?["state"] as? String == "skipped")
        #expect(byPath["link-to-file"]?["state"] as? String == "skipped")
        #expect(byPath["link-to-dir"]?["state"] as? String == "skipped")
        #expect(byPath[".draft.swp"]?["state"] as? String == "excluded")
        #expect((byPath[".draft.swp"]?["last_error"] as? String)?.contains(".*.swp") == true)
        #expect(byPath["a/b/c/deep.txt"]?["key"] as? String == "backup/a/b/c/deep.txt")
        #expect(byPath["a/b/c/deep.txt"]?["sha256"] as? String == expected["a/b/c/deep.txt"])
    }

    @Test("a second sync uploads nothing and hashes nothing; a modified file alone is sent again")
    func incremental() async throws {
        let h = try SyncHarness()
        for i in 0..<20 { try h.write("dir\(i % 3)/f\(i).txt", "content \(i)") }
        #expect(try h.sync().status == 0)
        let first = try await h.emulator.listing()
        #expect(first.count == 20)

        let second = try h.sync()
        #expect(second.status == 0)
        #expect(SyncHarness.count("uploaded", in: second.stdout) == 0, "\(second.stdout)")
        #expect(SyncHarness.count("hashed", in: second.stdout) == 0, "\(second.stdout)")
        #expect(try await h.emulator.listing().mapValues(\.writes) == first.mapValues(\.writes))

        try h.write("dir1/f4.txt", "changed content, longer")
        let third = try h.sync()
        #expect(third.status == 0)
        #expect(SyncHarness.count("uploaded", in: third.stdout) == 1, "\(third.stdout)")
        let after = try await h.emulator.listing()
        #expect(after["dir1/f4.txt"]?.writes == 2)
        #expect(after["dir1/f4.txt"]?.sha256 == (try TestFiles.sha256(ofFileAt: h.tree.appending(path: "dir1/f4.txt").path)))
        #expect(after.filter { $0.key != "dir1/f4.txt" }.allSatisfy { $0.value.writes == 1 })
    }

    @Test("a same-size rewrite right after a sync is caught")
    func sameSizeRewrite() async throws {
        let h = try SyncHarness()
        let file = try h.write("same.txt", "AAAAAAAA")
        #expect(try h.sync().status == 0)
        try Data("BBBBBBBB".utf8).write(to: file)
        let run = try h.sync()
        #expect(run.status == 0)
        #expect(try await h.emulator.listing()["same.txt"]?.sha256 == (try TestFiles.sha256(ofFileAt: file.path)))
    }

    @Test("with failures, cut connections and throttling injected, every file still arrives intact")
    func faultsInjected() async throws {
        let h = try SyncHarness(emulatorArguments: ["--fail-rate", "0.2", "--reset-rate", "0.05", "--throttle-rate", "0.05", "--seed", "7"])
        for i in 0..<40 { _ = try TestFiles.make(size: 1000 + i * 997, in: h.tree, name: "f\(i).bin", seed: UInt64(i)) }
        let run = try h.sync(["--retry-for", "3m"])
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let stored = try await h.emulator.listing()
        let local = try h.localHashes()
        #expect(stored.count == local.count)
        for (path, hash) in local { #expect(stored[path]?.sha256 == hash, "\(path)") }
        #expect(try h.summary()["uploaded"] == 40)
    }

    @Test("a file over the limit is failed with the reason, the rest are uploaded, exit 1")
    func overLimit() async throws {
        let h = try SyncHarness()
        try h.write("small.txt", "small")
        _ = try TestFiles.make(size: 5000, in: h.tree, name: "big.bin")
        let run = try h.sync(["--max-size", "4096"])
        #expect(run.status == 1)
        #expect(run.stdout.contains("big.bin"))
        #expect(run.stdout.contains("exceeds"))
        let stored = try await h.emulator.listing()
        #expect(Set(stored.keys) == ["small.txt"])
        let failed = try h.status(["--state", "failed"])["files"] as? [[String: Any]] ?? []
        #expect(failed.count == 1)
        #expect((failed.first?["last_error"] as? String)?.contains("exceeds") == true)
    }

    @Test("a wrong API key exits 3 at once naming the problem; no row failed; the key is not printed")
    func wrongKey() async throws {
        let h = try SyncHarness()
        for i in 0..<5 { try h.write("f\(i).txt", "\(i)") }
        var environment = h.emulator.clientEnvironment
        let wrong = "sk-wrong-\(UUID().uuidString)"
        environment["JIGSAWSTACK_API_KEY"] = wrong
        let started = ContinuousClock.now
        let run = try h.sync(environment: environment)
        #expect(run.status == 3)
        #expect(ContinuousClock.now - started < .seconds(20))
        #expect(run.stderr.contains("rejected the API key"))
        #expect(!(run.stdout + run.stderr).contains(wrong))
        let summary = try h.summary()
        #expect(summary["failed"] == 0)
        #expect(summary["pending"] == 5)
        #expect(try await h.emulator.listing().isEmpty)
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--all"], environment: environment)
        #expect(!status.stdout.contains(wrong))
    }

    @Test("a wrong base URL exits 3")
    func wrongBaseURL() throws {
        let h = try SyncHarness()
        try h.write("f.txt", "x")
        let run = try h.sync(["--endpoint", h.emulator.baseURL + "/wrong"])
        #expect(run.status == 3)
        #expect(run.stderr.contains("JIGSAWSTACK_API_URL"))
    }

    @Test("status --json parses and its counts match the emulator's listing")
    func statusMatchesEmulator() async throws {
        let h = try SyncHarness()
        for i in 0..<12 { try h.write("s/\(i).txt", "status \(i)") }
        try h.write("x.tmp", "excluded")
        #expect(try h.sync(["--content-type-for", "s/1*.txt=text/x-one"]).status == 0)
        let status = try h.status(["--all"])
        let summary = status["summary"] as? [String: Int] ?? [:]
        let stored = try await h.emulator.listing()
        #expect(summary["uploaded"] == stored.count)
        #expect(summary["excluded"] == 1)
        #expect(stored["s/1.txt"]?.content_type == "text/x-one")
        #expect(stored["s/11.txt"]?.content_type == "text/x-one")
        #expect(stored["s/2.txt"]?.content_type == "text/plain")   // from /etc/mime.types
        let files = (status["files"] as? [[String: Any]] ?? []).filter { $0["state"] as? String == "uploaded" }
        for file in files {
            let key = file["key"] as? String ?? ""
            #expect(stored[key]?.sha256 == file["sha256"] as? String)
        }
        let key = try ProcessRun.run(Products.jigsync, ["key", "--ledger", h.ledger, h.tree.appending(path: "s/3.txt").path])
        #expect(key.stdout == "s/3.txt\n")
        var environment = h.emulator.clientEnvironment
        environment["JIGSAWSTACK_PUBLIC_KEY"] = "pub-123"
        let url = try ProcessRun.run(Products.jigsync, ["url", "--ledger", h.ledger, h.tree.appending(path: "s/3.txt").path], environment: environment)
        #expect(url.stdout == h.emulator.baseURL + "/v1/store/file/read/s/3.txt?x-api-key=pub-123\n")
    }

    @Test("a corrupt ledger stops sync with a clear error and is left as it was")
    func corruptLedger() throws {
        let h = try SyncHarness()
        try h.write("f.txt", "x")
        try FileManager.default.createDirectory(atPath: (h.ledger as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
        let garbage = Data((0..<4096).map { UInt8($0 % 251) })
        try garbage.write(to: URL(fileURLWithPath: h.ledger))
        let run = try h.sync()
        #expect(run.status == 2)
        #expect(run.stderr.contains("not a jigsync ledger"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.ledger)) == garbage)

        // A SQLite database of something else is refused too, untouched.
        try FileManager.default.removeItem(atPath: h.ledger)
        let other = try ProcessRun.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                       ["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute('create table t(x)'); c.commit()", h.ledger])
        #expect(other.status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: h.ledger))
        let second = try h.sync()
        #expect(second.status == 2)
        #expect(second.stderr.contains("not a jigsync ledger"))
        #expect(try Data(contentsOf: URL(fileURLWithPath: h.ledger)) == before)
    }
}
