import CSys
import Foundation
import Glibc

/// Signals taken on a thread of jigsync's: a handler (CSys `jigsync_relay_signals`) writes each
/// signal's number into a pipe, and this thread, blocked in `read()` on it, calls `handle` outside
/// the handler. Idle, it costs nothing.
///
/// Not Dispatch signal sources (nor swift-service-lifecycle's `UnixSignals`, built on them): a
/// source's handler runs on libdispatch's global queues, and the first thread that joins those
/// arms libdispatch's worker-pool monitor, a 1 s timer that never stops.
///
/// The thread unblocks the signals for itself: a process started with them blocked (a blocked
/// mask survives `exec`, and the test runner blocks SIGTERM) still has one thread that takes them.
/// The relay lives as long as the process.
public final class SignalRelay: Sendable {
    /// Why the relay could not start.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    private let readFD: Int32

    /// Installs the handlers for `signals` and starts the thread that calls `handle` for each.
    public init(_ signals: [Int32], handle: @escaping @Sendable (Int32) -> Void) throws(Failure) {
        var fds: [Int32] = [-1, -1]
        guard jigsync_pipe_cloexec(&fds) == 0 else {
            throw Failure(description: "cannot create the signal pipe: \(String(cString: strerror(errno)))")
        }
        let status = signals.withUnsafeBufferPointer { jigsync_relay_signals(fds[1], $0.baseAddress, Int32($0.count)) }
        guard status == 0 else {
            close(fds[0])
            close(fds[1])
            throw Failure(description: "cannot install the signal handlers: \(String(cString: strerror(status)))")
        }
        readFD = fds[0]   // the write end stays open for the handler, for the process's lifetime
        let readFD = self.readFD
        let thread = Thread {
            jigsync_name_thread("jigsync-signals")
            var set = sigset_t()
            sigemptyset(&set)
            for signal in signals { sigaddset(&set, signal) }
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
            var bytes = [UInt8](repeating: 0, count: 16)
            while true {
                let count = read(readFD, &bytes, bytes.count)
                if count < 0, errno == EINTR { continue }
                guard count > 0 else { return }
                for byte in bytes[..<count] { handle(Int32(byte)) }
            }
        }
        thread.start()
    }
}
