import Foundation
import Glibc

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

    /// Starts the daemon and waits until it owns the ledger and has set its watches.
    /// - Parameter folders: what names the folders (default: `--folder` with the harness's tree).
    func start(_ extra: [String] = [], folders: [String]? = nil, environment extraEnvironment: [String: String] = [:]) throws {
        let process = Process()
        process.executableURL = Products.jigsync
        // The client-side rate limit is lifted: tests measure behaviour, not the API's 50/s.
        process.arguments = ["run"] + (folders ?? ["--folder", tree.path]) + ["--ledger", ledger, "--rate-limit", "100000", "--log-level", "debug"] + extra
        process.environment = emulator.clientEnvironment.merging(extraEnvironment) { $1 }
        _ = FileManager.default.createFile(atPath: log.path, contents: nil)
        let handle = try FileHandle(forWritingTo: log)
        handle.seekToEndOfFile()
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        self.process = process
        try waitUntilSync(timeout: .seconds(30)) { (try? String(contentsOf: log, encoding: .utf8))?.contains("watching") == true }
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
