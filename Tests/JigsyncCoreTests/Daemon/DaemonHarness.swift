import Foundation
import Glibc
import Testing

/// A `jigsync run` process on a folder, against its own emulator.
final class DaemonHarness {
    let emulator: EmulatorProcess
    let root = TemporaryDirectory.make(prefix: "daemon")
    var tree: URL { root.appending(path: "tree") }
    var ledger: String { root.appending(path: "state/ledger.db").path }
    private(set) var process: Process?
    let log: URL

    init(emulatorArguments: [String] = []) throws {
        // The emulator reports its limit in headers and jigsync adopts it: a high one keeps the
        // client-side limit out of the way of behaviour tests.
        emulator = try EmulatorProcess(arguments: ["--rate-limit", "100000"] + emulatorArguments)
        log = root.appending(path: "daemon.log")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
    }

    deinit {
        if let process, process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    /// Starts the daemon with its metrics on a free loopback port; returns the URL to scrape.
    func startWithMetrics(sourceLocation: SourceLocation = #_sourceLocation) throws -> String {
        try start(["--metrics-listen", "127.0.0.1:0"], sourceLocation: sourceLocation)
        let port = try #require(logText.firstMatch(of: /metrics on http:\/\/127\.0\.0\.1:(\d+)\/metrics/).map { String($0.1) },
                                sourceLocation: sourceLocation)
        return "http://127.0.0.1:\(port)/metrics"
    }

    /// Starts the daemon and waits until it owns the ledger and has set its watches.
    /// - Parameter folders: what names the folders (default: `--folder` with the harness's tree).
    /// - Parameter wrapper: a command that execs the daemon (`unshare …`); its pid becomes the daemon's.
    func start(_ extra: [String] = [], folders: [String]? = nil, environment extraEnvironment: [String: String] = [:],
               wrapper: [String] = [], sourceLocation: SourceLocation = #_sourceLocation) throws {
        let process = Process()
        // The client-side rate limit is lifted: tests measure behaviour, not the API's 50/s.
        let arguments = ["run"] + (folders ?? ["--folder", tree.path]) + ["--ledger", ledger, "--rate-limit", "100000", "--log-level", "debug"] + extra
        if let command = wrapper.first {
            process.executableURL = URL(fileURLWithPath: command)
            process.arguments = Array(wrapper.dropFirst()) + [Products.jigsync.path] + arguments
        } else {
            process.executableURL = Products.jigsync
            process.arguments = arguments
        }
        process.environment = emulator.clientEnvironment.merging(extraEnvironment) { $1 }
        if !FileManager.default.fileExists(atPath: log.path) { _ = FileManager.default.createFile(atPath: log.path, contents: nil) }
        let handle = try FileHandle(forWritingTo: log)
        let startOffset = Int(handle.seekToEndOfFile())
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        // This start's own line (a restart appends to the same log).
        do {
            try waitUntilSync(timeout: .seconds(30)) {
                guard let data = try? Data(contentsOf: log), data.count > startOffset else { return false }
                return String(decoding: data[startOffset...], as: UTF8.self).contains("watching")
            }
        } catch {
            let text = String(decoding: (try? Data(contentsOf: log)) ?? Data(), as: UTF8.self)
            Issue.record("the daemon did not say it watches within 30 s; this start's log:\n\(text.dropFirst(startOffset).suffix(4000))",
                         sourceLocation: sourceLocation)
            throw error
        }
    }

    /// SIGTERM, then the exit status.
    @discardableResult
    func stop() -> Int32 {
        guard let process else { return -1 }
        if process.isRunning { kill(process.processIdentifier, SIGTERM) }
        process.waitUntilExit()
        return process.terminationStatus
    }

    @discardableResult
    func write(_ relative: String, _ content: String) throws -> URL {
        try TestFiles.write(relative, content, in: tree)
    }

    /// Waits until the emulator stores `key` with the SHA-256 of `content`.
    func waitStored(_ key: String, _ content: String, timeout: Duration = .seconds(30)) async throws {
        let want = TestFiles.hex(Data(content.utf8).sha256Digest)
        try await waitUntil(timeout: timeout) { try await emulator.listing()[key]?.sha256 == want }
    }

    func summary() throws -> [String: Int] {
        let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", ledger, "--json"], environment: emulator.clientEnvironment)
        let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
        return object?["summary"] as? [String: Int] ?? [:]
    }

    var logText: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }
}

/// Polls a condition on another process's files, with a bound (for set-up, not assertions).
func waitUntilSync(timeout: Duration, _ condition: () throws -> Bool) throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try condition() { return }
        usleep(20_000)
    }
    throw TestFailure("condition not met within \(timeout)")
}

import Crypto
extension Data {
    var sha256Digest: [UInt8] { Array(SHA256.hash(data: self)) }
}
