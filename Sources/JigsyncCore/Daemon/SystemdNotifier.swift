import Foundation
import Glibc

/// The `sd_notify` protocol without libsystemd: datagrams of `KEY=value` lines sent to the
/// socket named by `$NOTIFY_SOCKET` (a path, or an abstract name when it starts with `@`).
/// Does nothing when the variable is unset (not started by systemd with `Type=notify`).
///
/// `@unchecked Sendable`: the socket is immutable; `sendto` is thread-safe.
public final class SystemdNotifier: @unchecked Sendable {
    private let fd: Int32
    private var address = sockaddr_un()
    private var addressLength: socklen_t = 0
    /// `$WATCHDOG_USEC`, when systemd asked for keep-alive pings.
    public let watchdogInterval: Duration?

    public init(environment: [String: String] = ProcessInfo.processInfo.environment) {
        watchdogInterval = environment["WATCHDOG_USEC"].flatMap { UInt64($0) }.flatMap { $0 > 0 ? .microseconds($0) : nil }
        guard let socketName = environment["NOTIFY_SOCKET"], !socketName.isEmpty,
              socketName.utf8.count < MemoryLayout.size(ofValue: address.sun_path) else {
            fd = -1
            return
        }
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        address.sun_family = sa_family_t(AF_UNIX)
        var bytes = Array(socketName.utf8)
        if bytes.first == UInt8(ascii: "@") { bytes[0] = 0 }   // abstract namespace
        withUnsafeMutableBytes(of: &address.sun_path) { path in
            for (index, byte) in bytes.enumerated() { path[index] = byte }
        }
        addressLength = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (bytes.first == 0 ? 0 : 1))
    }

    deinit { if fd >= 0 { close(fd) } }

    /// Sends `state` (`READY=1`, `STATUS=…`, `STOPPING=1`, `WATCHDOG=1`, `RELOADING=1`).
    public func notify(_ state: String) {
        guard fd >= 0 else { return }
        var address = self.address
        let length = addressLength
        _ = state.withCString { text in
            withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { sendto(fd, text, strlen(text), Int32(MSG_NOSIGNAL), $0, length) }
            }
        }
    }
}
