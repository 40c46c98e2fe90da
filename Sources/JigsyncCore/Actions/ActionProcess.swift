import CSys
import Foundation
import Glibc

/// One run of an action's program: spawned without a shell (`posix_spawnp`) in its own process
/// group, stdin from /dev/null, stdout and stderr read line by line, waited for with a deadline.
///
/// The spawn, the reads and the wait run on a thread of their own, never on the cooperative pool:
/// it blocks in `poll()` on the two pipes, a pidfd (readable once the child has exited) and an
/// eventfd that `cancel()` writes. On the deadline or a cancel the whole group gets SIGTERM, and
/// SIGKILL `killGrace` later if anything is left; once the child has exited, stragglers it left
/// in its group are killed too, so nothing an action started outlives it.
///
/// This file is the chokepoint for processes, as `FS/` is for files: nothing else spawns.
///
/// `@unchecked Sendable`: the fds and buffers are used only by the run's own thread; `cancel()`
/// only writes to the eventfd, which is created in `init` and closed in `deinit`.
final class ActionProcess: @unchecked Sendable {
    /// How a run ended.
    enum Ending: Sendable, Equatable {
        case exited(Int32)
        case signalled(Int32)
        case timedOut
        /// Stopped by `cancel()` (shutdown): not an outcome, the action stays due.
        case cancelled
        case couldNotStart(String)
    }

    struct Outcome: Sendable {
        var ending: Ending
        /// The last lines of standard error, for `status`.
        var stderrTail: [String]
    }

    enum Stream: Sendable { case stdout, stderr }

    /// After SIGTERM, how long the group has before SIGKILL.
    static let killGrace: Duration = .seconds(2)
    /// Lines of standard error kept for the failure message.
    static let tailLines = 5
    /// Longer lines are cut (a binary blob on stdout must not fill the log or memory).
    static let maximumLine = 2048

    private let argv: [String]
    private let environment: [String]
    private let directory: String
    private let timeout: Duration
    private let onLine: @Sendable (Stream, String) -> Void
    private let wakeFD: Int32

    init(argv: [String], environment: [String: String], directory: String, timeout: Duration,
         onLine: @escaping @Sendable (Stream, String) -> Void) {
        self.argv = argv
        self.environment = environment.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }
        self.directory = directory
        self.timeout = timeout
        self.onLine = onLine
        wakeFD = jigsync_eventfd()
    }

    deinit { if wakeFD >= 0 { close(wakeFD) } }

    /// Runs the program to its end on a thread of its own; a cancelled task cancels it.
    func run() async -> Outcome {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Outcome, Never>) in
                let thread = Thread { continuation.resume(returning: self.runBlocking()) }
                thread.name = "jigsync-action"
                thread.start()
            }
        } onCancel: {
            self.cancel()
        }
    }

    /// Stops the run (SIGTERM to its group, SIGKILL after `killGrace`); callable from any thread.
    func cancel() {
        var one: UInt64 = 1
        _ = write(wakeFD, &one, 8)
    }

    // MARK: the run's thread

    private func runBlocking() -> Outcome {
        guard let program = argv.first, !program.isEmpty else { return Outcome(ending: .couldNotStart("no program"), stderrTail: []) }
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard jigsync_pipe_cloexec(&out) == 0 else { return Outcome(ending: .couldNotStart("pipe: \(Self.errnoText())"), stderrTail: []) }
        guard jigsync_pipe_cloexec(&err) == 0 else {
            close(out[0]); close(out[1])
            return Outcome(ending: .couldNotStart("pipe: \(Self.errnoText())"), stderrTail: [])
        }
        var pid: pid_t = 0
        let rc = Self.withCStrings(argv) { cArgv in
            Self.withCStrings(environment) { cEnv in
                jigsync_spawn(&pid, program, cArgv, cEnv, directory, out[1], err[1])
            }
        }
        close(out[1]); close(err[1])
        guard rc == 0 else {
            close(out[0]); close(err[0])
            return Outcome(ending: .couldNotStart("cannot run \(program): \(String(cString: strerror(rc)))"), stderrTail: [])
        }
        let pidFD = jigsync_pidfd_open(pid)
        for fd in [out[0], err[0]] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
        defer {
            close(out[0]); close(err[0])
            if pidFD >= 0 { close(pidFD) }
        }

        var readers = [LineReader(fd: out[0], stream: .stdout), LineReader(fd: err[0], stream: .stderr)]
        let clock = ContinuousClock()
        var deadline = clock.now + timeout
        var ending: Ending?
        var killSent = false
        var status: Int32 = 0
        while true {
            var fds = [pollfd(fd: pidFD, events: Int16(POLLIN), revents: 0), pollfd(fd: wakeFD, events: Int16(POLLIN), revents: 0)]
            for reader in readers where !reader.closed { fds.append(pollfd(fd: reader.fd, events: Int16(POLLIN), revents: 0)) }
            let left = clock.now.duration(to: deadline)
            let milliseconds = max(0, Int32(clamping: left.components.seconds * 1000 + left.components.attoseconds / 1_000_000_000_000_000 + 1))
            let ready = poll(&fds, nfds_t(fds.count), pidFD >= 0 ? milliseconds : min(milliseconds, 100))
            if ready < 0 && errno != EINTR { break }
            for i in readers.indices where !readers[i].closed { readers[i].drain(onLine) }
            // Exited (the pidfd says so; without pidfd support a non-blocking wait asks every 100 ms).
            if waitpid(pid, &status, WNOHANG) == pid {
                for i in readers.indices where !readers[i].closed { readers[i].drain(onLine) }
                kill(-pid, SIGKILL)   // whatever it left running in its group
                break
            }
            if fds[1].revents != 0 {
                var value: UInt64 = 0
                _ = read(wakeFD, &value, 8)
                if ending == nil { ending = .cancelled }
                deadline = clock.now
            }
            if clock.now >= deadline {
                if ending == nil { ending = .timedOut }
                if killSent {
                    kill(-pid, SIGKILL)
                    deadline = clock.now + .seconds(3600)   // the pidfd wakes us when it is gone
                } else {
                    kill(-pid, SIGTERM)
                    killSent = true
                    deadline = clock.now + Self.killGrace
                }
            }
        }
        for i in readers.indices { readers[i].finish(onLine) }
        if let ending { return Outcome(ending: ending, stderrTail: readers[1].tail) }
        let signal = status & 0x7f
        let result: Ending = signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
        return Outcome(ending: result, stderrTail: readers[1].tail)
    }

    /// Reads one pipe without blocking and cuts it into lines.
    private struct LineReader {
        let fd: Int32
        let stream: Stream
        var closed = false
        var partial: [UInt8] = []
        var tail: [String] = []

        mutating func drain(_ onLine: (Stream, String) -> Void) {
            var buffer = [UInt8](repeating: 0, count: 16384)
            while true {
                let n = read(fd, &buffer, buffer.count)
                if n > 0 {
                    for byte in buffer[0..<n] {
                        if byte == UInt8(ascii: "\n") { emit(onLine) } else if partial.count < ActionProcess.maximumLine { partial.append(byte) }
                    }
                } else if n == 0 {
                    closed = true
                    return
                } else if errno == EINTR {
                    continue
                } else {
                    if errno != EAGAIN { closed = true }
                    return
                }
            }
        }

        mutating func finish(_ onLine: (Stream, String) -> Void) {
            if !partial.isEmpty { emit(onLine) }
        }

        private mutating func emit(_ onLine: (Stream, String) -> Void) {
            let line = String(decoding: partial, as: UTF8.self)
            partial.removeAll(keepingCapacity: true)
            onLine(stream, line)
            if stream == .stderr {
                tail.append(line)
                if tail.count > ActionProcess.tailLines { tail.removeFirst() }
            }
        }
    }

    private static func errnoText() -> String { String(cString: strerror(errno)) }

    /// A NULL-terminated `char *[]` of `strings` for the duration of `body`.
    private static func withCStrings<T>(_ strings: [String], _ body: (UnsafePointer<UnsafeMutablePointer<CChar>?>) -> T) -> T {
        var pointers: [UnsafeMutablePointer<CChar>?] = strings.map { strdup($0) }
        pointers.append(nil)
        defer { for pointer in pointers { free(pointer) } }
        return pointers.withUnsafeBufferPointer { body($0.baseAddress!) }
    }
}
