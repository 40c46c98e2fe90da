import Foundation
import HTTPTypes

/// The headers of the last request that named each key (in its path, or in an upload's `key`
/// query), so a test can check what a client sent: `GET /_emulator/headers?key=KEY`.
/// The secret key's value is never shown: `x-api-key` is answered as `(redacted)`.
///
/// Every upload records its headers and few are ever asked for, so a record keeps the request's
/// `HTTPFields` as they are (a copy-on-write value: no per-field work) and names are lowercased
/// and the key redacted only when asked. A lock rather than an actor: a record is one
/// dictionary store, cheaper than a hop to another executor on every request. (`NSLock`, a
/// pthread mutex, not `Synchronization.Mutex`: ThreadSanitizer sees the former, and reported
/// the latter's critical sections as races in `make test-tsan`.)
///
/// `@unchecked Sendable`: `last` is guarded by `lock`.
final class RequestHeaderLog: @unchecked Sendable {
    private let lock = NSLock()
    private var last: [String: HTTPFields] = [:]

    /// Bounds memory for a long-running emulator: past this many keys the log starts afresh.
    static let maxKeys = 100_000

    func record(key: String, headers: HTTPFields) {
        lock.withLock {
            if last.count >= Self.maxKeys && last[key] == nil { last.removeAll() }
            last[key] = headers
        }
    }

    /// The recorded headers by lowercased name (the last of a repeated name wins).
    func headers(for key: String) -> [String: String]? {
        guard let fields = lock.withLock({ last[key] }) else { return nil }
        var answer: [String: String] = [:]
        for field in fields {
            let lower = field.name.rawName.lowercased()
            answer[lower] = lower == "x-api-key" ? "(redacted)" : field.value
        }
        return answer
    }
}
