import Foundation
import Glibc
import Testing

/// The daemon core under the conditions of a forgotten service: a busy systemd, failing
/// deletes, crashes, reloads under load, a dead server at shutdown, idle control clients.
@Suite("Daemon core", .serialized)
struct DaemonCoreTests {
    @Test("a notify socket nobody reads (a busy PID 1) never stops the uploads")
    func deafSystemd() async throws {
        // Bound but never read: after net.unix.max_dgram_qlen datagrams a blocking sendto would hang.
        let socketPath = TemporaryDirectory.make(prefix: "deaf").appending(path: "notify.sock").path
        let deaf = try NotifyListener(path: socketPath)
        let h = try DaemonHarness()
        try h.start(environment: ["NOTIFY_SOCKET": socketPath])
        for i in 0..<200 {
            try h.write("burst/f\(i).txt", "file \(i)")
            if i % 20 == 0 { try await Task.sleep(for: .milliseconds(100)) }   // many STATUS= changes
        }
        try await waitUntil(timeout: .seconds(10)) { try await h.emulator.listing().count == 200 }
        let stored = try await h.emulator.listing()
        for i in 0..<200 {
            #expect(stored["burst/f\(i).txt"]?.sha256 == TestFiles.hex(Data("file \(i)".utf8).sha256Digest))
        }
        // And SIGTERM still ends it, though STOPPING=1 cannot be delivered at once.
        #expect(h.stop() == 0)
        withExtendedLifetime(deaf) {}
    }

    @Test("remote deletes are ledger state: sent despite 40 % failing deletes, and after kill -9")
    func durableDeletes() async throws {
        let h = try DaemonHarness()
        try h.start(["--on-delete", "delete"])
        for i in 0..<30 { try h.write("d/\(i).txt", "delete me \(i)") }
        try await waitUntil { try await h.emulator.listing().count == 30 }
        #expect(h.stop() == 0)

        // The same store, now failing 40 % of requests.
        let data = h.emulator.dataDirectory
        let port = try #require(URL(string: h.emulator.baseURL)?.port)
        h.emulator.stop()
        let flaky = try EmulatorProcess(arguments: ["--port", String(port), "--rate-limit", "100000", "--fail-rate", "0.4", "--seed", "7"],
                                        dataDirectory: data)
        #expect(try await flaky.listing().count == 30)
        try h.start(["--on-delete", "delete"])
        for i in 0..<30 { try FileManager.default.removeItem(at: h.tree.appending(path: "d/\(i).txt")) }
        try await waitUntil(timeout: .seconds(120)) { try await flaky.listing().isEmpty }
        try await waitUntil { try h.summary()["deleted"] == 30 }
        #expect(h.stop() == 0)
        flaky.stop()

        // kill -9 soon after a local delete (before the 2 s delay sends it): sent after the restart.
        let steady = try EmulatorProcess(arguments: ["--port", String(port), "--rate-limit", "100000"], dataDirectory: data)
        try h.start(["--on-delete", "delete"])
        try h.write("private.txt", "a private file")
        try await waitUntil { try await steady.listing()["private.txt"] != nil }
        try FileManager.default.removeItem(at: h.tree.appending(path: "private.txt"))
        // Deleted the moment it is stored: the client may see the unlink (ctime) as a change
        // under the transfer; the store may hold it all the same, so the delete is owed.
        try await waitUntil { try h.summary()["deleting"] == 1 }
        // The row is on disk (status read it). Not a second more: under ThreadSanitizer each
        // status call takes long enough that the 2 s delay could pass before the kill.
        try await Task.sleep(for: .milliseconds(200))
        kill(try #require(h.process?.processIdentifier), SIGKILL)
        h.process?.waitUntilExit()
        #expect(try await steady.listing()["private.txt"] != nil, "the delete was not due yet when the daemon died")
        try h.start(["--on-delete", "delete"])
        try await waitUntil { try await steady.listing()["private.txt"] == nil }
        try await waitUntil { try h.summary()["deleting"] == 0 }
        #expect(h.stop() == 0)
    }

    @Test("a reload that removes a folder during a burst into it: no crash, no file under another folder's key")
    func reloadUnderBurst() async throws {
        let h = try DaemonHarness()
        let a = h.root.appending(path: "a"), b = h.root.appending(path: "b")
        for dir in [a, b] { try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true) }
        let config = h.root.appending(path: "config.yaml")
        try "folders:\n  - path: \(a.path)\n    prefix: a\n  - path: \(b.path)\n    prefix: b\n".write(to: config, atomically: true, encoding: .utf8)
        try h.start(folders: ["--config", config.path])
        let pid = try #require(h.process?.processIdentifier)
        for i in 0..<1500 {
            try TestFiles.write("burst/\(i).txt", "b \(i)", in: b)
            if i == 700 {
                try "folders:\n  - path: \(a.path)\n    prefix: a\n".write(to: config, atomically: true, encoding: .utf8)
                kill(pid, SIGHUP)
            }
        }
        try TestFiles.write("after.txt", "a after the reload", in: a)
        try await h.waitStored("a/after.txt", "a after the reload")
        try TestFiles.write("ignored.txt", "b is not watched now", in: b)
        try TestFiles.write("marker.txt", "marker", in: a)
        try await h.waitStored("a/marker.txt", "marker")
        #expect(h.process?.isRunning == true)
        let stored = try await h.emulator.listing()
        for (key, file) in stored {
            if key.hasPrefix("a/") {
                #expect(["a/after.txt", "a/marker.txt"].contains(key), "a file of b stored under a's prefix: \(key)")
            } else {
                #expect(key.hasPrefix("b/burst/"), "unexpected key \(key)")
                let index = key.dropFirst("b/burst/".count).dropLast(".txt".count)
                #expect(file.sha256 == TestFiles.hex(Data("b \(index)".utf8).sha256Digest), "\(key)")
            }
        }
        #expect(stored["b/ignored.txt"] == nil)
        #expect(h.stop() == 0)
    }

    @Test("130 reloads leak no inotify instance, and the daemon still watches afterwards")
    func reloadsDoNotLeak() async throws {
        let h = try DaemonHarness()
        let config = h.root.appending(path: "config.yaml")
        try "folders:\n  - path: \(h.tree.path)\n".write(to: config, atomically: true, encoding: .utf8)
        try h.start(folders: ["--config", config.path])
        let pid = try #require(h.process?.processIdentifier)
        // One SIGHUP at a time: two sent while the first is still pending are one signal.
        for sent in 1...130 {
            kill(pid, SIGHUP)
            try await waitUntil { h.logText.components(separatedBy: "configuration reloaded").count - 1 >= sent }
        }
        let inotifyFDs = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").filter {
            (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\($0)")) == "anon_inode:inotify"
        }
        #expect(inotifyFDs.count == 1, "inotify instances held: \(inotifyFDs.count)")
        try h.write("after-reloads.txt", "still watching")
        try await h.waitStored("after-reloads.txt", "still watching")
        #expect(h.stop() == 0)
    }

    @Test("--grace is enforced: a server that never answers does not hold SIGTERM")
    func graceEnforced() async throws {
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "600000"])
        try h.start(["--grace", "2s", "--workers", "2"])
        for i in 0..<4 { try h.write("f\(i).txt", "never answered \(i)") }
        try await waitUntil { h.logText.contains("initial reconcile done") }
        try await Task.sleep(for: .milliseconds(500))   // the uploads are in flight, waiting for an answer
        let started = ContinuousClock.now
        #expect(h.stop() == 0)
        let took = started.duration(to: .now)
        #expect(took < .seconds(10), "SIGTERM took \(took) with --grace 2s")
        let summary = try h.summary()
        #expect(summary["uploading"] == 0)
        #expect(summary["pending"] == 4)
        // The emulator would wait out its own 10-minute answers on SIGTERM.
        kill(h.emulator.process.processIdentifier, SIGKILL)
        h.emulator.process.waitUntilExit()
    }

    @Test("its log reader gone mid-upload (a `| tee` ended by the same Ctrl-C): SIGTERM still finishes the upload and exits 0")
    func logReaderGone() async throws {
        // The answer comes 1.5 s after the request: the upload is in flight when the pipe breaks.
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "1500"])
        let process = Process()
        process.executableURL = Products.jigsync
        process.arguments = ["run", "--folder", h.tree.path, "--ledger", h.ledger, "--rate-limit", "100000", "--log-level", "debug"]
        process.environment = h.emulator.clientEnvironment
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        defer { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
        var said = Data()
        while !String(decoding: said, as: UTF8.self).contains("watching") {
            let chunk = pipe.fileHandleForReading.availableData
            try #require(!chunk.isEmpty, "the daemon ended before it watched: \(String(decoding: said, as: UTF8.self))")
            said.append(chunk)
        }
        try h.write("sent-when-the-pipe-broke.txt", "finished despite the broken pipe")
        try await waitUntil {
            let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            return ((object?["live"] as? [String: Any])?["in_flight"] as? [Any])?.count == 1
        }
        // The reader goes; the daemon's next log lines (its own "stopping") meet a broken pipe.
        try pipe.fileHandleForReading.close()
        try pipe.fileHandleForWriting.close()
        kill(process.processIdentifier, SIGTERM)
        process.waitUntilExit()
        #expect(process.terminationReason == .exit, "ended by signal \(process.terminationStatus)")
        #expect(process.terminationStatus == 0)
        let stored = try await h.emulator.listing()["sent-when-the-pipe-broke.txt"]
        #expect(stored?.sha256 == TestFiles.hex(Data("finished despite the broken pipe".utf8).sha256Digest))
        let key = try ProcessRun.run(Products.jigsync, ["key", h.tree.appending(path: "sent-when-the-pipe-broke.txt").path, "--ledger", h.ledger])
        #expect(key.stdout == "sent-when-the-pipe-broke.txt\n", "\(key.stderr)")
    }

    @Test("idle control clients do not hold up pause or status, which answer within their timeout")
    func controlClientsConcurrently() async throws {
        let h = try DaemonHarness()
        try h.start()
        let socketPath = h.ledger + ".sock"
        var idle: [Int32] = []
        defer { for fd in idle { close(fd) } }
        for _ in 0..<10 {
            let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            withUnsafeMutableBytes(of: &address.sun_path) { raw in for (i, b) in socketPath.utf8.enumerated() { raw[i] = b } }
            let rc = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) } }
            #expect(rc == 0)
            idle.append(fd)
        }
        // Served one at a time, ten silent clients would hold a request for 10 × 2 s.
        let started = ContinuousClock.now
        let pause = try ProcessRun.run(Products.jigsync, ["pause", "--ledger", h.ledger])
        #expect(pause.status == 0, "\(pause.stderr)")
        #expect(started.duration(to: .now) < .seconds(5))
        let status = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger])
        #expect(status.stdout.contains("live: 0 due"), "\(status.stdout)")
        #expect(try ProcessRun.run(Products.jigsync, ["resume", "--ledger", h.ledger]).status == 0)
        #expect(h.stop() == 0)
    }
}

@Suite("Daemon core: watch limit")
struct WatchLimitTests {
    @Test("a folder over the watch limit is rescanned at the fallback interval, and status says so")
    func overTheWatchLimit() async throws {
        let h = try DaemonHarness()
        for i in 0..<40 { try FileManager.default.createDirectory(at: h.tree.appending(path: "dir\(i)"), withIntermediateDirectories: true) }
        // A user namespace of its own, with a watch limit of 20 (the machine's is untouched).
        let limit = "echo 20 > /proc/sys/user/max_inotify_watches && exec \"$0\" \"$@\""
        try h.start(["--fallback-rescan", "2s"], wrapper: ["/usr/bin/unshare", "--user", "--map-root-user", "sh", "-c", limit])
        for i in 0..<40 { try h.write("dir\(i)/f.txt", "in dir \(i)") }
        for i in 0..<40 { try await h.waitStored("dir\(i)/f.txt", "in dir \(i)", timeout: .seconds(15)) }
        let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"])
        #expect(check.status == 1, "\(check.stdout)")
        #expect(check.stdout.contains("is not watched") && check.stdout.contains("rescanned every 2.0 s"), "\(check.stdout)")
        #expect(h.stop() == 0)
    }
}

@Suite("Daemon core: an unreachable service")
struct OutageTests {
    @Test("the service unreachable is one condition: one warning, uploads paused, status --check broken, one notice when it ends, nothing lost")
    func outage() async throws {
        let h = try DaemonHarness()
        let port = try #require(URL(string: h.emulator.baseURL)?.port)
        let data = h.emulator.dataDirectory
        try h.start(["--log-level", "info"])
        try h.write("before.txt", "before the outage")
        try await h.waitStored("before.txt", "before the outage")
        h.emulator.stop()   // connection refused from now on
        for i in 0..<100 { try h.write("f\(i).txt", "written during the outage \(i)") }
        try await waitUntil {
            let check = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"])
            return check.status == 2 && check.stdout.contains("the service does not answer")
        }
        try await Task.sleep(for: .seconds(3))   // an outage of a few seconds, with probes
        let during = h.logText
        #expect(during.components(separatedBy: "uploads paused: the service does not answer").count - 1 == 1, "\(during.suffix(3000))")
        // A few files failed before the pause took hold, then only probes: far fewer lines than files.
        let retries = during.split(separator: "\n").filter { $0.contains("written during") || $0.contains("/f") && $0.contains("retry") }
        #expect(retries.count < 20, "\(retries.count) retry lines")
        #expect(try h.summary()["failed"] == 0)

        let back = try EmulatorProcess(arguments: ["--port", String(port), "--rate-limit", "100000"], dataDirectory: data)
        try await waitUntil(timeout: .seconds(90)) { try await back.listing().count == 101 }
        let stored = try await back.listing()
        for i in 0..<100 {
            #expect(stored["f\(i).txt"]?.sha256 == TestFiles.hex(Data("written during the outage \(i)".utf8).sha256Digest))
        }
        try await waitUntil { h.logText.contains("uploads resume after") }
        #expect(h.logText.components(separatedBy: "uploads resume after").count - 1 == 1)
        try await waitUntil { try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--check"]).status == 0 }
        #expect(h.stop() == 0)
    }
}

@Suite("Daemon core: storms and repeats", .serialized)
struct StormTests {
    @Test("overflow after overflow: rescans are coalesced, a file after the storm goes up promptly, SIGTERM is prompt")
    func rescanStorm() async throws {
        // The kernel sizes an inotify queue when the instance is made: a tiny one for this daemon
        // only (the machine-wide value is restored as soon as the daemon watches).
        let knob = "/proc/sys/fs/inotify/max_queued_events"
        let saved = try String(contentsOfFile: knob, encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        let h = try DaemonHarness()
        try "32\n".write(toFile: knob, atomically: false, encoding: .utf8)
        defer { try? (saved + "\n").write(toFile: knob, atomically: false, encoding: .utf8) }
        try h.start(["--log-level", "info"])
        try (saved + "\n").write(toFile: knob, atomically: false, encoding: .utf8)
        let pid = try #require(h.process?.processIdentifier)
        for round in 0..<8 {
            // Stopped while 200 files land: far more events than the queue holds, an overflow each round.
            kill(pid, SIGSTOP)
            for i in 0..<200 { try h.write("storm/r\(round)-\(i).txt", "round \(round) file \(i)") }
            kill(pid, SIGCONT)
            try await Task.sleep(for: .milliseconds(500))
        }
        let overflows = h.logText.components(separatedBy: "rescanning every folder").count - 1
        #expect(overflows >= 1, "no overflow happened: the test proves nothing")
        #expect(overflows <= 8, "\(overflows) rescans for 8 bursts: not coalesced")
        try h.write("after-the-storm.txt", "after")
        try await h.waitStored("after-the-storm.txt", "after", timeout: .seconds(15))
        try await waitUntil(timeout: .seconds(120)) { try await h.emulator.listing().count == 1601 }
        let started = ContinuousClock.now
        #expect(h.stop() == 0)
        #expect(started.duration(to: .now) < .seconds(10))
    }

    @Test("a file appended to (opened and closed) every 50 ms for 4 s goes up a few times, not after every append; its last version is stored; another file is not held")
    func fileThatKeepsChanging() async throws {
        let h = try DaemonHarness()
        try h.start()
        let url = h.tree.appending(path: "app.log")
        #expect(FileManager.default.createFile(atPath: url.path, contents: nil))
        var written = Data()
        let started = ContinuousClock.now
        var other: ContinuousClock.Instant?
        var line = 0
        while ContinuousClock.now - started < .seconds(4) {
            line += 1
            // Opened, appended to and closed each time (as `echo >>` or a logger that reopens):
            // each close is a complete write the daemon looks at.
            let text = Data("line \(line)\n".utf8)
            let handle = try FileHandle(forWritingTo: url)
            try handle.seekToEnd()
            try handle.write(contentsOf: text)
            try handle.close()
            written.append(text)
            if line == 40 {
                // A file written once while the log is held goes up at once.
                try h.write("other.txt", "written once")
                other = ContinuousClock.now
            }
            try await Task.sleep(for: .milliseconds(50))
        }
        let otherWritten = try #require(other)
        try await h.waitStored("other.txt", "written once", timeout: .seconds(10))
        #expect(ContinuousClock.now - otherWritten < .seconds(3))
        // Held at most 4 s after the last store (the streak is at 4 s by now): its last version goes up.
        let want = TestFiles.hex(written.sha256Digest)
        try await waitUntil(timeout: .seconds(30)) { try await h.emulator.listing()["app.log"]?.sha256 == want }
        let stored = try #require(try await h.emulator.listing()["app.log"])
        #expect(stored.size == Int64(written.count))
        // After every settle (as before the hold) this was one upload per append, ~75; with the
        // hold: at 0, 1, 3 s, then the last version once the file is quiet.
        #expect(stored.writes <= 6, "stored \(stored.writes) times for \(line) appends")
        #expect(stored.writes >= 2)
        #expect(h.stop() == 0)
    }

    @Test("a file written to faster than it can be sent (20 MB, 4 KiB rewritten in place every 20 ms for 6 s) is tried at growing intervals, not in a loop; its last version is stored once the writes stop")
    func fileWrittenFasterThanSent() async throws {
        let h = try DaemonHarness()
        let metrics = try h.startWithMetrics()
        let url = h.tree.appending(path: "db.bin")
        var content = Data(repeating: 7, count: 20_000_000)
        try content.write(to: url)
        try await waitUntil { try await h.emulator.listing()["db.bin"]?.sha256 == TestFiles.hex(content.sha256Digest) }
        var generator = SystemRandomNumberGenerator()
        let started = ContinuousClock.now
        while ContinuousClock.now - started < .seconds(6) {
            let offset = Int.random(in: 0..<(content.count - 4096), using: &generator)
            let patch = Data((0..<4096).map { _ in UInt8.random(in: 0...255, using: &generator) })
            content.replaceSubrange(offset..<(offset + 4096), with: patch)
            let handle = try FileHandle(forUpdating: url)
            try handle.seek(toOffset: UInt64(offset))
            try handle.write(contentsOf: patch)
            try handle.close()
            try await Task.sleep(for: .milliseconds(20))
        }
        let want = TestFiles.hex(content.sha256Digest)
        try await waitUntil(timeout: .seconds(60)) { try await h.emulator.listing()["db.bin"]?.sha256 == want }
        let samples = try MetricsTests.scrape(metrics)
        let wasted = samples["jigsync_retries_total{reason=changed}"] ?? 0
        let stored = samples["jigsync_uploads_total{result=uploaded}"] ?? 0
        // Sends at 0, 1, 3, 7 s after the first store (each wasted or stored), then the last
        // version: about six. Resent at once (before the hold) this was one send after another.
        #expect(wasted + stored <= 10, "\(wasted) sends wasted by a change, \(stored) stored")
        #expect(h.stop() == 0)
    }

    @Test("a file rewritten while it is being sent is sent once more at the end, never in parallel")
    func noParallelResends() async throws {
        // The answer comes 3 s after the request: the five rewrites below (and the status calls
        // before them, slow on a loaded machine or under ThreadSanitizer) all land while the first
        // send waits for it. With 1.5 s they could spill past the answer, and the second send
        // would then see the last rewrites too: a third send, by the test's timing alone.
        let h = try DaemonHarness(emulatorArguments: ["--latency-ms", "3000"])
        try h.start(["--workers", "4"])
        let url = h.tree.appending(path: "busy.bin")
        try Data(repeating: 0, count: 2_000_000).write(to: url)
        // The first send is in flight (waiting for its answer), as the daemon itself says.
        try await waitUntil {
            let run = try ProcessRun.run(Products.jigsync, ["status", "--ledger", h.ledger, "--json"])
            let object = try JSONSerialization.jsonObject(with: Data(run.stdout.utf8)) as? [String: Any]
            return ((object?["live"] as? [String: Any])?["in_flight"] as? [Any])?.count == 1
        }
        // Five rewrites while the first send waits for its answer.
        var last = Data()
        for round in 1...5 {
            last = Data(repeating: UInt8(round), count: 2_000_000)
            try last.write(to: url)
            try await Task.sleep(for: .milliseconds(100))
        }
        let want = TestFiles.hex(last.sha256Digest)
        try await waitUntil(timeout: .seconds(60)) { try await h.emulator.listing()["busy.bin"]?.sha256 == want }
        try await Task.sleep(for: .seconds(2))   // any further send would land by now
        let stored = try #require(try await h.emulator.listing()["busy.bin"])
        #expect(stored.sha256 == want)
        #expect(stored.writes <= 2, "stored \(stored.writes) times for one change burst")
        #expect(h.stop() == 0)
    }
}
