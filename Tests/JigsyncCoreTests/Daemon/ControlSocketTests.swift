import Foundation
import Glibc
import Testing

/// The running daemon's control socket, through the command line.
@Suite("Control socket")
struct ControlSocketTests {
    func status(_ h: DaemonHarness) throws -> [String: Any] {
        let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--json", "--all"], environment: h.emulator.clientEnvironment)
        return try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any] ?? [:]
    }

    @Test("status while uploads run shows what is in flight, matching the ledger; pause holds uploads, resume sends them")
    func liveStatusAndPause() async throws {
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "400"])
        try h.start(["--workers", "2"])
        for i in 0..<6 { try h.write("f\(i).txt", "file \(i)") }
        var sawInFlight = false
        try await waitUntil {
            let object = try status(h)
            let live = object["live"] as? [String: Any] ?? [:]
            let jobs = live["in_flight"] as? [[String: Any]] ?? []
            let inFlight = jobs.compactMap { $0["path"] as? String }
            guard !inFlight.isEmpty else { return false }
            for job in jobs {
                let sent = job["bytes_sent"] as? Int ?? -1
                #expect(sent >= 0 && sent <= job["size"] as? Int ?? 0, "\(job)")
            }
            let rows = Dictionary(uniqueKeysWithValues: (object["files"] as? [[String: Any]] ?? []).map { ($0["path"] as? String ?? "", $0["state"] as? String ?? "") })
            // Every file the daemon says it is sending has its ledger row (written a moment before
            // the transfer starts; the ledger's writes are batched, so look again until they agree).
            guard inFlight.allSatisfy({ rows[$0] != nil }) else { return false }
            sawInFlight = true
            return true
        }
        #expect(sawInFlight)
        try await waitUntil { try await h.emulator.listing().count == 6 }

        let pause = try ProcessRun.run(Products.jigsync, ["pause", "--ledger", h.ledger])
        #expect(pause.status == 0, "\(pause.stderr)")
        try h.write("held.txt", "held")
        try await Task.sleep(for: .milliseconds(1500))
        #expect(try await h.emulator.listing()["held.txt"] == nil)
        let text = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger]).stdout
        #expect(text.contains("held by `jigsync pause`"))
        let resume = try ProcessRun.run(Products.jigsync, ["resume", "--ledger", h.ledger])
        #expect(resume.status == 0)
        try await h.waitStored("held.txt", "held")
        #expect(h.stop() == 0)
    }

    @Test("retry through the socket makes a failed file uploaded once the cause is fixed")
    func retryThroughSocket() async throws {
        // The service refuses the file (413) until it is restarted with a higher limit.
        let data = TemporaryDirectory.make(prefix: "retry-data")
        let h = try DaemonHarness(emulatorArguments: ["--max-bytes", "100"])
        let port = try #require(URL(string: h.emulator.baseURL)?.port)
        try h.start()
        try h.write("report.bin", String(repeating: "r", count: 500))
        try await waitUntil { try h.summary()["failed"] == 1 }
        h.emulator.stop()
        let bigger = try EmulatorProcess(arguments: ["--port", String(port), "--rate-limit", "100000"], dataDirectory: data)
        let retry = try ProcessRun.run(Products.jigsync, ["retry", "--ledger", h.ledger, h.tree.appending(path: "report.bin").path])
        #expect(retry.status == 0, "\(retry.stderr)")
        #expect(retry.stdout.contains("queued again by the running daemon"))
        try await waitUntil { try await bigger.listing()["report.bin"] != nil }
        #expect(try h.summary()["failed"] == 0)
        #expect(h.stop() == 0)
    }

    @Test("garbage, an oversized request and a client that hangs up leave the daemon serving")
    func garbage() async throws {
        let h = try DaemonHarness()
        try h.start()
        let socketPath = h.ledger + ".sock"
        func connectSocket() throws -> Int32 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in socketPath.utf8.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            guard rc == 0 else { throw TestFailure("connect: \(errno)") }
            return fd
        }
        for payload in [Data("not json at all\n".utf8), Data("{\"command\": 42}\n".utf8), Data(repeating: 65, count: 100_000), Data()] {
            let fd = try connectSocket()
            _ = payload.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            close(fd)   // hang up without reading the answer
        }
        // A client that connects and sends nothing costs at most the read timeout.
        let silent = try connectSocket()
        defer { close(silent) }
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger])
        #expect(status.stdout.contains("live:"), "\(status.stdout)")
        try h.write("after.txt", "still serving")
        try await h.waitStored("after.txt", "still serving")
        #expect(h.stop() == 0)
        #expect(!FileManager.default.fileExists(atPath: socketPath))
    }
}
