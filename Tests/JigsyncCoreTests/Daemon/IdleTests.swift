import Foundation
import Glibc
import Testing

/// An idle daemon wakes for nothing. Its tasks, sleeps and blocking work run on jigsync's own
/// threads (CExecutor, DaemonExecutor, WorkThreads), so libdispatch's worker-pool monitor, a
/// timerfd re-armed every second from the moment a thread joins libdispatch's global queues, never
/// starts; and the timers that carry work still fire.
@Suite("jigsync run: idle")
struct IdleTests {
    @Test("a delayed remote delete still fires, and no timer is armed to wake the daemon within a minute")
    func noTimerWithoutWork() async throws {
        let h = try DaemonHarness()
        try h.start(["--on-delete", "delete"])
        try h.write("kept.txt", "stays")
        try h.write("gone.txt", "deleted locally, then remotely after the delay")
        try await h.waitStored("kept.txt", "stays")
        try await h.waitStored("gone.txt", "deleted locally, then remotely after the delay")
        try FileManager.default.removeItem(at: h.tree.appending(path: "gone.txt"))
        // The remote delete waits RemoteDeletes.delay in a task's sleep: the executor's timer must
        // bring it back.
        try await waitUntil { try await h.emulator.listing()["gone.txt"] == nil }
        try await waitUntil { try h.summary()["deleted"] == 1 }
        #expect(try await h.emulator.listing()["kept.txt"] != nil)

        let pid = try #require(h.process?.processIdentifier)
        let soon = try Self.timersArmedWithin(seconds: 60, pid: pid)
        #expect(soon.isEmpty, "timerfds armed in the idle daemon (libdispatch's monitor?): \(soon)")
        #expect(h.stop() == 0)
    }

    /// The process's timerfds that will fire within `seconds`, as their `/proc` fdinfo lines
    /// (`it_value: (seconds, nanoseconds)`; zero is a disarmed timer).
    static func timersArmedWithin(seconds limit: Int, pid: Int32) throws -> [String] {
        let fds = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd")
        var armed: [String] = []
        for fd in fds {
            guard (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(pid)/fd/\(fd)")) == "anon_inode:[timerfd]",
                  let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8),
                  let line = info.split(separator: "\n").first(where: { $0.hasPrefix("it_value:") }) else { continue }
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            guard numbers.count == 2, numbers != [0, 0], numbers[0] < limit else { continue }
            armed.append("fd \(fd): \(line)")
        }
        return armed
    }
}
