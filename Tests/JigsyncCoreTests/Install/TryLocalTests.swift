import Foundation
import FoundationNetworking
import Glibc
import Testing

/// `make run` (scripts/try-local): the first thing a newcomer runs.
@Suite("make run: scripts/try-local")
struct TryLocalTests {
    let work = TemporaryDirectory.make(prefix: "try-local")
    var script: URL { Products.packageRoot.appending(path: "scripts/try-local") }

    func environment(port: String) -> [String: String] {
        var environment = ProcessInfo.processInfo.environment
        environment["PORT"] = port
        environment["JIGSYNC_BIN"] = Products.directory.path
        environment["TRY_LOCAL_DIR"] = work.path
        return environment
    }

    @Test("it says watching only once the daemon watches, uploads the sample file, and a Ctrl-C ends it with status 0")
    func cleanInterrupt() async throws {
        // The script leads its own process group (LiveProcess), as under a terminal, so SIGINT reaches all of it.
        let run = try LiveProcess(script, [], environment: environment(port: "0"))
        defer { run.kill() }
        let watching = try #require(run.waitForOutput(containing: "watching ./inbox", within: .seconds(60)), "\(run.output)")
        #expect(watching.hasPrefix("watching ./inbox"))
        let output = run.output
        let daemonWatches = try #require(output.range(of: "watching 1 folder(s)"), "the daemon's own line is missing: \(output)")
        #expect(daemonWatches.lowerBound < output.range(of: "watching ./inbox")!.lowerBound, "announced before the daemon watched")
        #expect(output.contains("alias jigsync="))
        // The sample is stored with its bytes before the Ctrl-C (which reaches the emulator too).
        let url = try #require(output.split(separator: "\n").first { $0.hasPrefix("emulator: http://") }?
            .split(separator: " ").dropFirst().first.map(String.init), "\(output)")
        let sample = try Data(contentsOf: work.appending(path: "inbox/hello.txt"))
        try await waitUntil(timeout: .seconds(30)) {
            struct Listing: Decodable { var files: [EmulatorProcess.StoredFile] }
            let (data, _) = try await URLSession.shared.data(from: URL(string: url + "/_emulator/files")!)
            let files = try JSONDecoder().decode(Listing.self, from: data).files
            return files.first { $0.key == "hello.txt" }?.sha256 == TestFiles.hex(sample.sha256Digest)
        }
        #expect(kill(-run.pid, SIGINT) == 0)
        let status = try #require(run.waitForExit(within: .seconds(30)), "still running after SIGINT: \(run.output)")
        #expect(status == 0, "\(run.output)")
        #expect(!run.output.contains("Error"), "\(run.output)")
        let ledger = work.appending(path: ".jigsync-local/ledger.db").path
        let key = try ProcessRun.run(Products.jigsync, ["key", work.appending(path: "inbox/hello.txt").path, "--ledger", ledger])
        #expect(key.stdout == "hello.txt\n", "\(key.stderr)")
    }

    @Test("a busy port is named, with how to choose another")
    func busyPort() throws {
        let emulator = try EmulatorProcess()
        let port = try #require(emulator.baseURL.split(separator: ":").last.map(String.init))
        let run = try ProcessRun.run(script, [], environment: environment(port: port))
        #expect(run.status != 0)
        #expect(run.stderr.contains("127.0.0.1:\(port)"), "\(run.stderr)")
        #expect(run.stderr.contains("PORT="), "\(run.stderr)")
    }
}
