import Foundation
import Glibc
import Testing

/// The configuration file through `jigsync check`, `sync --config` and `status --check`.
@Suite("Configuration and health")
struct ConfigurationTests {
    let root = TemporaryDirectory.make(prefix: "config")

    func folder(_ name: String) throws -> String {
        let url = root.appending(path: name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url.path
    }

    func writeConfig(_ text: String, mode: mode_t = 0o644) throws -> String {
        let path = root.appending(path: "config-\(UUID().uuidString).yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, mode)
        return path
    }

    @Test("a valid file with three folders syncs each under its prefix; flags and environment override the file")
    func threeFolders() async throws {
        let emulator = try EmulatorProcess()
        let a = try folder("a"), b = try folder("b"), c = try folder("c")
        for (dir, name) in [(a, "one.txt"), (b, "two.txt"), (c, "three.md")] {
            try TestFiles.write(name, "content of \(name)", in: URL(fileURLWithPath: dir))
        }
        try TestFiles.write("skip.bak", "excluded by the file", in: URL(fileURLWithPath: b))
        let ledger = root.appending(path: "state/ledger.db").path
        let config = try writeConfig("""
            # three folders
            folders:
              - path: \(a)
                prefix: alpha
              - path: \(b)
                prefix: beta/
                exclude: ["*.bak"]
              - path: \(c)
                prefix: gamma
                include: ["*.md"]
            upload:
              workers: 2
              rate_limit: 1000
            api:
              endpoint: http://127.0.0.1:1
            ledger: \(ledger)
            log:
              level: warning
            """)
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 0, "\(check.stdout)\(check.stderr)")
        #expect(check.stdout.contains("3 folder(s)"))

        // The environment's endpoint wins over the file's (which points nowhere).
        let run = try ProcessRun.run(Products.jigsync, ["sync", "--config", config], environment: emulator.clientEnvironment)
        #expect(run.status == 0, "\(run.stdout)\(run.stderr)")
        let stored = try await emulator.listing()
        #expect(Set(stored.keys) == ["alpha/one.txt", "beta/two.txt", "gamma/three.md"])
        #expect(FileManager.default.fileExists(atPath: ledger))

        // A flag overrides the file: --folder replaces its folders.
        let d = try folder("d")
        try TestFiles.write("four.txt", "four", in: URL(fileURLWithPath: d))
        let flagged = try ProcessRun.run(Products.jigsync, ["sync", "--config", config, "--folder", d + ":delta"], environment: emulator.clientEnvironment)
        #expect(flagged.status == 0, "\(flagged.stderr)")
        #expect(try await emulator.listing()["delta/four.txt"] != nil)
    }

    @Test("each refused configuration names the file, the line, the field and the reason", arguments: [
        ("folders:\n  - path: /definitely/not/here\n", "folders[0].path", "does not exist"),
        ("folders:\n  - path: relative/dir\n", "folders[0].path", "absolute"),
        ("upload:\n  workers: 0\n", "upload.workers", "between 1 and 64"),
        ("upload:\n  stall_timeout: soon\n", "upload.stall_timeout", "not a duration"),
        ("upload:\n  workers: many\n", "upload.workers", "expected"),
        ("folders: [\n", nil, "is not closed with `]`"),
        ("log:\n  level: loud\n", "log.level", "unknown level"),
    ] as [(String, String?, String)])
    func refused(text: String, field: String?, reason: String) throws {
        let config = try writeConfig(text)
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 2)
        #expect(check.stderr.contains(config))
        if let field { #expect(check.stderr.contains(field), "\(check.stderr)") }
        #expect(check.stderr.contains(reason), "\(check.stderr)")
        #expect(check.stderr.range(of: #"\.yaml:\d+:\d+: "#, options: .regularExpression) != nil || field == nil, "\(check.stderr)")
    }

    @Test("nested folders, overlapping prefixes, a ledger inside a folder, a clear key in a readable file are refused")
    func structuralRefusals() throws {
        let outer = try folder("outer"), inner = try folder("outer/inner"), other = try folder("other")
        let cases: [(String, String)] = [
            ("folders:\n  - path: \(outer)\n  - path: \(inner)\n    prefix: x\n", "nested"),
            ("folders:\n  - path: \(outer)\n    prefix: a/\n  - path: \(other)\n    prefix: a/b\n", "overlaps"),
            ("folders:\n  - path: \(outer)\nledger: \(outer)/ledger.db\n", "inside folders[0]"),
            ("api:\n  api_key: sk-visible-secret\n", "mode 0600"),
        ]
        for (text, reason) in cases {
            let check = try ProcessRun.run(Products.jigsync, ["check", "--config", try writeConfig(text)])
            #expect(check.status == 2, "\(text)")
            #expect(check.stderr.contains(reason), "\(check.stderr)")
            #expect(!check.stderr.contains("sk-visible-secret"))
        }
        // The same clear key in a 0600 file is accepted, and never printed.
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", try writeConfig("api:\n  api_key: sk-visible-secret\n", mode: 0o600)])
        #expect(check.status == 0, "\(check.stderr)")
        #expect(!(check.stdout + check.stderr).contains("sk-visible-secret"))
    }

    @Test("the key from a credentials directory works and never shows in any output")
    func credentialsDirectory() async throws {
        let emulator = try EmulatorProcess()
        let credentials = try folder("credentials")
        try "\(EmulatorProcess.apiKey)\n".write(toFile: credentials + "/jigsawstack-api-key", atomically: true, encoding: .utf8)
        let tree = try folder("tree")
        try TestFiles.write("f.txt", "via credential", in: URL(fileURLWithPath: tree))
        var environment = emulator.clientEnvironment
        environment.removeValue(forKey: "JIGSAWSTACK_API_KEY")
        environment["CREDENTIALS_DIRECTORY"] = credentials
        let run = try ProcessRun.run(Products.jigsync, ["sync", "--folder", tree, "--ledger", root.appending(path: "l.db").path, "--log-level", "trace"],
                                     environment: environment)
        #expect(run.status == 0, "\(run.stderr)")
        #expect(try await emulator.listing()["f.txt"] != nil)
        #expect(!(run.stdout + run.stderr).contains(EmulatorProcess.apiKey))
    }

    @Test("status --check: 2 without a daemon, 0 when healthy, 1 with a failed file, 2 when uploads are paused")
    func healthCheck() async throws {
        let h = try DaemonHarness()
        try h.write("ok.txt", "fine")
        let check = { try ProcessRun.run(Products.jigsync, ["status", "--check", "--ledger", h.ledger], environment: h.emulator.clientEnvironment) }
        #expect(try check().status == 2)   // no ledger, no daemon yet

        try h.start(["--max-size", "100"])
        try await h.waitStored("ok.txt", "fine")
        let healthy = try check()
        #expect(healthy.status == 0, "\(healthy.stdout)")
        #expect(healthy.stdout.hasPrefix("healthy"))

        try h.write("big.bin", String(repeating: "x", count: 500))
        try await waitUntil { try h.summary()["failed"] == 1 }
        let degraded = try check()
        #expect(degraded.status == 1)
        #expect(degraded.stdout.contains("failed"))
        #expect(h.stop() == 0)
        let stopped = try check()
        #expect(stopped.status == 2)
        #expect(stopped.stdout.contains("no jigsync process"))

        let paused = try DaemonHarness()
        try paused.start(environment: ["JIGSAWSTACK_API_KEY": "sk-wrong"])
        try paused.write("x.txt", "x")
        let pausedCheck = { try ProcessRun.run(Products.jigsync, ["status", "--check", "--ledger", paused.ledger], environment: paused.emulator.clientEnvironment) }
        try await waitUntil { try pausedCheck().status == 2 }
        #expect(try pausedCheck().stdout.contains("uploads paused"))
        #expect(paused.stop() == 0)
    }
}
