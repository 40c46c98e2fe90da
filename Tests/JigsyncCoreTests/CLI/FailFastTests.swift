import Foundation
import Glibc
import Testing

/// Mistakes an operator makes on the first try end at once with the fix named, not in minutes of
/// retries: no key, a URL without its scheme, a folder that is not there, a dead endpoint.
@Suite("Fail fast")
struct FailFastTests {
    let scratch = TemporaryDirectory.make(prefix: "fail-fast")

    func folder() throws -> String {
        let url = scratch.appending(path: "folder-\(UUID().uuidString.prefix(6))")
        try TestFiles.write("a.txt", "a", in: url)
        return url.path
    }

    func environment(_ changes: [String: String?]) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        for name in ["JIGSAWSTACK_API_KEY", "JIGSAWSTACK_API_URL", "CREDENTIALS_DIRECTORY", "JIGSAWSTACK_PUBLIC_KEY"] {
            environment.removeValue(forKey: name)
        }
        for (name, value) in changes { environment[name] = value }
        return environment
    }

    @Test("no API key: run and sync exit 2 at once naming JIGSAWSTACK_API_KEY", arguments: ["run", "sync"])
    func noKey(command: String) throws {
        let run = try LiveProcess(Products.jigsync, [command, "--folder", try folder(), "--ledger", scratch.appending(path: "\(command).db").path],
                                  environment: environment(["JIGSAWSTACK_API_URL": "http://127.0.0.1:1"]))
        let status = try #require(run.waitForExit(within: .seconds(10)), "still running after 10 s: \(run.output)")
        #expect(status == 2)
        #expect(run.output.contains("JIGSAWSTACK_API_KEY"), "\(run.output)")
    }

    @Test("an endpoint without http(s):// or with a misspelled scheme is a usage error (exit 2) before any request",
          arguments: [("--endpoint", "api.jigsawstack.com", "no scheme"), ("--endpoint", "htps://api.jigsawstack.com", "scheme must be"),
                      ("env", "127.0.0.1:8787", "no scheme"), ("env", "http://", "names no host")])
    func badEndpoint(source: String, url: String, reason: String) throws {
        var arguments = ["sync", "--folder", try folder(), "--ledger", scratch.appending(path: "e.db").path]
        var changes: [String: String?] = ["JIGSAWSTACK_API_KEY": "sk-test-secret-never-shown"]
        if source == "env" { changes["JIGSAWSTACK_API_URL"] = url } else { arguments += ["--endpoint", url] }
        let started = ContinuousClock.now
        let run = try ProcessRun.run(Products.jigsync, arguments, environment: environment(changes))
        #expect(ContinuousClock.now - started < .seconds(5))
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains(reason), "\(run.stderr)")
        #expect(!run.stderr.contains("sk-test-secret-never-shown"))
        // The same check covers a configuration file's api.endpoint, with its line.
        let config = scratch.appending(path: "endpoint.yaml").path
        try "folders:\n  - path: \(try folder())\napi:\n  endpoint: \(url)\n".write(toFile: config, atomically: true, encoding: .utf8)
        let check = try ProcessRun.run(Products.jigsync, ["check", "--config", config])
        #expect(check.status == 2)
        #expect(check.stderr.contains("endpoint.yaml:4:13: api.endpoint: "), "\(check.stderr)")
    }

    @Test("a missing folder exits 2, as the README's exit-code table says", arguments: ["run", "sync"])
    func missingFolder(command: String) throws {
        let run = try ProcessRun.run(Products.jigsync, [command, "--folder", scratch.appending(path: "not-there").path],
                                     environment: environment(["JIGSAWSTACK_API_KEY": "sk-x"]))
        #expect(run.status == 2, "\(run.stderr)")
        #expect(run.stderr.contains("not-there"))
    }

    @Test("sync against a dead endpoint prints its first failure within seconds, then the summary")
    func deadEndpoint() throws {
        let run = try LiveProcess(Products.jigsync, ["sync", "--folder", try folder(), "--ledger", scratch.appending(path: "dead.db").path,
                                                     "--retry-for", "60s"],
                                  environment: environment(["JIGSAWSTACK_API_KEY": "sk-dead-endpoint-secret", "JIGSAWSTACK_API_URL": "http://127.0.0.1:1"]))
        defer { run.kill() }
        let line = try #require(run.waitForOutput(containing: "a.txt", within: .seconds(10)), "nothing printed within 10 s: \(run.output)")
        #expect(line.contains("127.0.0.1:1") || line.lowercased().contains("connect"), "\(line)")
        #expect(!line.contains("sk-dead-endpoint-secret"))
    }

    @Test("every usage error exits 2, not ArgumentParser's 64")
    func usageErrors() throws {
        for arguments in [["sync"], ["put"], ["status", "--state", "sideways"], ["run", "--workers", "0", "--folder", "/"]] {
            let run = try ProcessRun.run(Products.jigsync, arguments, environment: environment([:]))
            #expect(run.status == 2, "\(arguments): \(run.status) \(run.stderr)")
            #expect(run.stderr.contains("Usage:") || run.stderr.contains("Error:"), "\(arguments): \(run.stderr)")
        }
    }
}

/// A process whose output (standard output and error together) is read as it comes, for tests
/// that bound how long a line takes.
final class LiveProcess: @unchecked Sendable {   // `collected` is guarded by `lock`; the rest is immutable
    private let process = Process()
    private let lock = NSLock()          // guards collected
    private var collected = Data()
    private let arrived = DispatchSemaphore(value: 0)
    private let exited = DispatchSemaphore(value: 0)

    /// Started in its own process group, with the signal mask and SIGINT/SIGTERM dispositions a shell would give it: the test
    /// process blocks most signals, and a blocked mask survives exec, so a child would never see
    /// the SIGINT or SIGTERM a test sends it.
    init(_ executable: URL, _ arguments: [String], environment: [String: String]) throws {
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        // Its own process group too, as a shell's job: a test signals the whole group with kill(-pid, …).
        let unblock = "import os, signal, sys; os.setpgid(0, 0); signal.pthread_sigmask(signal.SIG_SETMASK, []); "
            + "signal.signal(signal.SIGINT, signal.SIG_DFL); signal.signal(signal.SIGTERM, signal.SIG_DFL); "
            + "os.execv(sys.argv[1], sys.argv[1:])"
        process.arguments = ["python3", "-c", unblock, executable.path] + arguments
        process.environment = environment
        process.standardInput = FileHandle.nullDevice
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        pipe.fileHandleForReading.readabilityHandler = { [weak self] handle in
            let chunk = handle.availableData
            guard let self else { return }
            if chunk.isEmpty { handle.readabilityHandler = nil }
            self.lock.withLock { self.collected.append(chunk) }
            self.arrived.signal()
        }
        process.terminationHandler = { [exited] _ in exited.signal() }
        try process.run()
    }

    var output: String { lock.withLock { String(decoding: collected, as: UTF8.self) } }

    /// The exit status, or nil when the process still runs after `bound`.
    func waitForExit(within bound: Duration) -> Int32? {
        guard exited.wait(timeout: .now() + Double(bound.components.seconds)) == .success else { return nil }
        exited.signal()
        process.waitUntilExit()
        return process.terminationStatus
    }

    /// The first line of output holding `text`, or nil when none came within `bound`.
    func waitForOutput(containing text: String, within bound: Duration) -> String? {
        let deadline = DispatchTime.now() + Double(bound.components.seconds)
        while true {
            if let line = output.split(separator: "\n").first(where: { $0.contains(text) }) { return String(line) }
            guard arrived.wait(timeout: deadline) == .success else { return nil }
        }
    }

    var pid: pid_t { process.processIdentifier }

    /// Ends it and its process group (a `setsid` child leads one) for good.
    func kill() {
        if process.isRunning {
            Glibc.kill(-process.processIdentifier, SIGKILL)
            Glibc.kill(process.processIdentifier, SIGKILL)
            process.waitUntilExit()
        }
    }
}
