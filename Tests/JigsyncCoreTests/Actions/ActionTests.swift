import Foundation
import Glibc
import Testing

/// Actions after upload, end to end: a real daemon, the emulator, and small sh scripts as actions.
@Suite("jigsync run: actions after upload", .serialized)
struct ActionTests {
    /// A daemon configured from a YAML file whose one folder runs `script` (sh) with `out` as its argument.
    final class Setup {
        let h: DaemonHarness
        let out: URL
        let config: URL
        let script: URL

        init(script body: String, actions: String = "{workers: 2, timeout: 30s, retries: 1}", folderExtra: String = "",
             emulatorArguments: [String] = []) throws {
            h = try DaemonHarness(emulatorArguments: emulatorArguments)
            out = h.root.appending(path: "out")
            try FileManager.default.createDirectory(at: out, withIntermediateDirectories: true)
            script = h.root.appending(path: "action.sh")
            try Data(body.utf8).write(to: script)
            config = h.root.appending(path: "config.yaml")
            let yaml = """
                folders:
                  - path: \(h.tree.path)
                    on_upload: [/bin/sh, \(script.path), \(out.path)]
                \(folderExtra)
                actions: \(actions)
                """
            try Data(yaml.utf8).write(to: config)
        }

        func start() throws { try h.start([], folders: ["--config", config.path]) }

        /// Lines of a file the action appends to (empty when it does not exist yet).
        func lines(_ name: String) -> [String] {
            ((try? String(contentsOf: out.appending(path: name), encoding: .utf8)) ?? "").split(separator: "\n").map(String.init)
        }

        func status() throws -> [String: Any] {
            let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--json"], environment: h.emulator.clientEnvironment)
            return try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
        }

        func actionSummary() throws -> [String: Int] {
            (try status()["actions"] as? [String: Any])?["summary"] as? [String: Int] ?? [:]
        }
    }

    @Test("the action gets the file in its environment, the API key, the folder as cwd and /dev/null as stdin; the key stays out of the log")
    func environment() async throws {
        let s = try Setup(script: """
            out="$1"
            { env | grep -E '^(JIGSYNC_|JIGSAWSTACK_)' | sort; echo "CWD=$(pwd)"; echo "STDIN=$(readlink /proc/self/fd/0)"; } > "$out/env.tmp"
            mv "$out/env.tmp" "$out/env.txt"
            echo "processed $JIGSYNC_KEY"
            """)
        try s.start()
        try s.h.write("scan.txt", "page one")
        try await s.h.waitStored("scan.txt", "page one")
        try await waitUntil { FileManager.default.fileExists(atPath: s.out.appending(path: "env.txt").path) }
        let stored = try #require(try await s.h.emulator.listing()["scan.txt"])
        var env: [String: String] = [:]
        for line in s.lines("env.txt") {
            guard let eq = line.firstIndex(of: "=") else { continue }
            env[String(line[..<eq])] = String(line[line.index(after: eq)...])
        }
        #expect(env["JIGSYNC_EVENT"] == "uploaded")
        #expect(env["JIGSYNC_KEY"] == "scan.txt")
        #expect(env["JIGSYNC_PATH"] == s.h.tree.path + "/scan.txt")
        #expect(env["JIGSYNC_SHA256"] == stored.sha256)
        #expect(env["JIGSYNC_SIZE"] == "8")
        #expect(env["JIGSYNC_CONTENT_TYPE"] == "text/plain")
        #expect(env["JIGSYNC_URL"] == s.h.emulator.baseURL + "/v1/store/file/read/scan.txt")
        #expect(env["JIGSYNC_PUBLIC_URL"] == s.h.emulator.baseURL + "/v1/store/file/read/scan.txt?x-api-key=" + EmulatorProcess.publicKey)
        #expect(env["JIGSAWSTACK_API_KEY"] == EmulatorProcess.apiKey)
        #expect(env["JIGSAWSTACK_API_URL"] == s.h.emulator.baseURL)
        #expect(env["CWD"] == s.h.tree.path)
        #expect(env["STDIN"] == "/dev/null")
        try await waitUntil { try s.actionSummary()["done"] == 1 }
        #expect(s.h.stop() == 0)
        #expect(s.h.logText.contains("action scan.txt: processed scan.txt"))
        #expect(!s.h.logText.contains(EmulatorProcess.apiKey))
    }

    @Test("kill -9 while the action runs: it runs again after the restart, completes once, and not again after that")
    func killedDaemon() async throws {
        // The first run records its start and waits for a gate; the daemon is killed meanwhile.
        let s = try Setup(script: """
            out="$1"
            echo "$$" > "$out/pid"
            echo "start $JIGSYNC_SHA256" >> "$out/runs"
            while [ -e "$out/gate" ]; do sleep 0.05; done
            echo "done $JIGSYNC_SHA256" >> "$out/runs"
            """)
        try Data().write(to: s.out.appending(path: "gate"))
        try s.start()
        try s.h.write("doc.txt", "content")
        try await s.h.waitStored("doc.txt", "content")
        try await waitUntil { s.lines("runs").count == 1 }
        let pid = try #require(s.h.process?.processIdentifier)
        kill(pid, SIGKILL)
        // The orphaned first run (its own process group) is ended by hand, before it can finish.
        if let child = Int32((try? String(contentsOf: s.out.appending(path: "pid"), encoding: .utf8))?
            .trimmingCharacters(in: .whitespacesAndNewlines) ?? "") {
            kill(-child, SIGKILL)
        }
        s.h.process?.waitUntilExit()
        #expect(!s.lines("runs").contains { $0.hasPrefix("done") })
        try FileManager.default.removeItem(at: s.out.appending(path: "gate"))

        try s.start()
        try await waitUntil { s.lines("runs").contains { $0.hasPrefix("done") } }
        try await waitUntil { try s.actionSummary()["done"] == 1 }
        #expect(s.h.stop() == 0)
        // A third start with nothing changed runs nothing.
        try s.start()
        try s.h.write("other.txt", "other")
        try await s.h.waitStored("other.txt", "other")
        try await waitUntil { try s.actionSummary()["done"] == 2 }
        #expect(s.h.stop() == 0)
        let sha = TestFiles.hex(Data("content".utf8).sha256Digest)
        #expect(s.lines("runs").filter { $0 == "done \(sha)" }.count == 1)
        #expect(s.lines("runs").filter { $0 == "start \(sha)" }.count == 2)
    }

    @Test("a failing action is retried, then failed with its exit status and stderr in status; retry --actions runs it again")
    func failing() async throws {
        let s = try Setup(script: """
            echo "run" >> "$1/runs"
            echo "cannot read $JIGSYNC_KEY: not a scan" >&2
            exit 3
            """, actions: "{workers: 1, timeout: 30s, retries: 1}")
        try s.start()
        try s.h.write("bad.txt", "not a scan")
        try await s.h.waitStored("bad.txt", "not a scan")
        try await waitUntil { try s.actionSummary()["failed"] == 1 }
        #expect(s.lines("runs").count == 2)
        let failed = try #require(((try s.status()["actions"] as? [String: Any])?["failed"] as? [[String: Any]])?.first)
        #expect(failed["exit_status"] as? Int == 3)
        #expect((failed["last_error"] as? String)?.contains("cannot read bad.txt: not a scan") == true)
        #expect((failed["last_error"] as? String)?.contains("exited with status 3") == true)
        let text = try ProcessRun.run(Products.jigsync, ["status", "--ledger", s.h.ledger], environment: s.h.emulator.clientEnvironment)
        #expect(text.stdout.contains("cannot read bad.txt: not a scan"))
        let check = try ProcessRun.run(Products.jigsync, ["status", "--check", "--ledger", s.h.ledger], environment: s.h.emulator.clientEnvironment)
        #expect(check.status == 1)
        #expect(check.stdout.contains("1 action(s) failed"))

        let retry = try ProcessRun.run(Products.jigsync, ["retry", "--actions", "--ledger", s.h.ledger], environment: s.h.emulator.clientEnvironment)
        #expect(retry.status == 0)
        try await waitUntil { s.lines("runs").count == 4 }
        try await waitUntil { try s.actionSummary()["failed"] == 1 }
        #expect(s.h.stop() == 0)
    }

    @Test("a file rewritten while its earlier versions are stored: the action runs for the final content, once, never for a version not stored")
    func rewritten() async throws {
        let s = try Setup(script: """
            echo "$JIGSYNC_SHA256" >> "$1/runs"
            """, emulatorArguments: ["--latency-ms", "30"])
        try s.start()
        var versions: [String] = []
        for i in 0..<5 {
            let content = "version \(i) " + String(repeating: "x", count: i * 100)
            versions.append(TestFiles.hex(Data(content.utf8).sha256Digest))
            try s.h.write("scan.txt", content)
            try await Task.sleep(for: .milliseconds(15))
        }
        let last = "version 4 " + String(repeating: "x", count: 400)
        try await s.h.waitStored("scan.txt", last)
        try await waitUntil { s.lines("runs").last == versions.last }
        try await waitUntil { try s.actionSummary()["due"] ?? 0 == 0 }
        #expect(s.h.stop() == 0)
        let runs = s.lines("runs")
        #expect(runs.allSatisfy { versions.contains($0) })
        #expect(Set(runs).count == runs.count)   // one run per stored version at most
        #expect(runs.last == versions.last)
    }

    @Test("an action past its timeout is killed with everything it started, and failed saying so")
    func timeout() async throws {
        let s = try Setup(script: """
            sleep 60 &
            echo "$!" > "$1/background"
            sleep 60
            """, actions: "{workers: 1, timeout: 1s, retries: 0}")
        try s.start()
        try s.h.write("slow.txt", "slow")
        try await s.h.waitStored("slow.txt", "slow")
        try await waitUntil(timeout: .seconds(20)) { try s.actionSummary()["failed"] == 1 }
        let failed = try #require(((try s.status()["actions"] as? [String: Any])?["failed"] as? [[String: Any]])?.first)
        #expect((failed["last_error"] as? String)?.contains("timed out after 1.0 s") == true)
        let background = try #require(Int32(s.lines("background").first ?? ""))
        // The background child was in the action's process group: it is gone too.
        try await waitUntil(timeout: .seconds(5)) { kill(background, 0) != 0 }
        #expect(s.h.stop() == 0)
    }

    @Test("the configuration refuses an empty on_upload and a misspelt actions key, naming the fix")
    func configuration() throws {
        let h = try DaemonHarness()
        let config = h.root.appending(path: "bad.yaml")
        try Data("folders:\n  - path: \(h.tree.path)\n    on_upload: []\n".utf8).write(to: config)
        let empty = try ProcessRun.run(Products.jigsync, ["check", "--config", config.path])
        #expect(empty.status != 0)
        #expect((empty.stdout + empty.stderr).contains("on_upload"))
        try Data("folders:\n  - path: \(h.tree.path)\nactions: {worker: 2}\n".utf8).write(to: config)
        let typo = try ProcessRun.run(Products.jigsync, ["check", "--config", config.path])
        #expect(typo.status != 0)
        #expect((typo.stdout + typo.stderr).contains("did you mean `workers`"))
    }

    @Test("a folder that deletes remote copies: after the remote delete the action runs with JIGSYNC_EVENT=deleted")
    func deleted() async throws {
        let s = try Setup(script: """
            echo "$JIGSYNC_EVENT $JIGSYNC_KEY ${JIGSYNC_SHA256:-none}" >> "$1/runs"
            """, folderExtra: "    on_delete: delete")
        try s.start()
        let file = try s.h.write("gone.txt", "short-lived")
        try await s.h.waitStored("gone.txt", "short-lived")
        try await waitUntil { s.lines("runs").count == 1 }
        try FileManager.default.removeItem(at: file)
        try await waitUntil { try await s.h.emulator.listing()["gone.txt"] == nil }
        try await waitUntil { s.lines("runs").count == 2 }
        #expect(s.h.stop() == 0)
        let sha = TestFiles.hex(Data("short-lived".utf8).sha256Digest)
        #expect(s.lines("runs") == ["uploaded gone.txt \(sha)", "deleted gone.txt none"])
    }
}
