import Foundation
import Glibc
import Logging

/// The `sd_notify` protocol without libsystemd: datagrams of `KEY=value` lines sent to the
/// socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`).
/// Does nothing when the variable is unset (not started by systemd with `Type=notify`).
///
/// It never blocks its caller: a busy PID 1 that does not read its socket fills the datagram
/// queue (`net.unix.max_dgram_qlen`, often 10), and a blocking `sendto` would then stop whoever
/// called it. Every send is `MSG_DONTWAIT`. A `STATUS=` that finds the queue full is dropped (the
/// next one says more); `READY=1`, `RELOADING=1`, `STOPPING=1` and `WATCHDOG=1` are kept in order
/// and sent again later by a retry task, never by the caller. A socket that does not exist is
/// one warning, then silence.
///
/// `@unchecked Sendable`: the descriptor and address are immutable; `owed`, `retrying` and
/// `dead` are guarded by `lock`.
public final class SystemdNotifier: @unchecked Sendable {
    private let fd: Int32
    private var address = sockaddr_un()
    private var addressLength: socklen_t = 0
    private let logger: Logger?
    private let lock = NSLock()
    private var owed: [String] = []
    private var retrying = false
    private var dead = false
    /// `$WATCHDOG_USEC`, when systemd asked for keep-alive pings.
    public let watchdogInterval: Duration?

    /// First wait before an owed message is sent again; it doubles up to `maxRetryWait`.
    static let firstRetryWait: Duration = .milliseconds(50)
    static let maxRetryWait: Duration = .seconds(2)

    public init(environment: [String: String] = ProcessInfo.processInfo.environment, logger: Logger? = nil) {
        self.logger = logger
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.flatMap { $0 > 0 ? .microseconds($0) : nil }
        guard let socketName = environment["NOTIFY_SOCKET"], !socketName.isEmpty,
              socketName.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            fd = -1
            return
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketName.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }   // abstract namespace
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in bytes.enumerated() { path[index] = byte }
        }
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends a state change that must arrive (`READY=1`, `RELOADING=1`, `STOPPING=1`,
    /// `WATCHDOG=1`); if the queue is full it is owed and sent later, in order.
    public func notify(_ state: String) {
        guard fd >= 0 else { return }
        let startRetry = lock.withLock { () -> Bool in
            guard !dead else { return false }
            if !owed.isEmpty {
                owed.append(state)   // keep the order: behind what is already owed
                return false
            }
            switch send(state) {
            case .sent, .gone: return false
            case .full:
                owed.append(state)
                defer { retrying = true }
                return !retrying
            }
        }
        if startRetry { retryOwed() }
    }

    /// Sends `STATUS=text`; dropped when the queue is full (a newer one follows).
    public func status(_ text: String) {
        guard fd >= 0 else { return }
        lock.withLock {
            guard !dead else { return }
            _ = send("STATUS=" + text)
        }
    }

    private enum Outcome { case sent, full, gone }

    /// Under `lock`: one non-blocking `sendto`.
    private func send(_ state: String) -> Outcome {
        var address = self.address
        let length = addressLength
        while true {
            let rc = state.withCString { text in
                withUnsafePointer(to: &address) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                        sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL) | Int32(MSG_DONTWAIT), $0, length)
                    }
                }
            }
            if rc >= 0 { return .sent }
            switch errno {
            case EINTR: continue
            case EAGAIN, ENOBUFS: return .full
            default:
                let reason = String(cString: strerror(errno))
                dead = true
                logger?.warning("systemd's notify socket does not take messages (\(reason)); no more notifications are sent")
                return .gone
            }
        }
    }

    /// Sends what is owed, with a growing wait between tries, off the caller's path.
    private func retryOwed() {
        Task { [weak self] in
            var wait = Self.firstRetryWait
            while let self {
                try? await Task.sleep(for: wait)
                let done = self.lock.withLock { () -> Bool in
                    while let next = self.owed.first {
                        switch self.send(next) {
                        case .sent: self.owed.removeFirst()
                        case .gone: self.owed.removeAll()
                        case .full: return false
                        }
                    }
                    self.retrying = false
                    return true
                }
                if done { return }
                wait = min(wait * 2, Self.maxRetryWait)
            }
        }
    }
}
