import Glibc

/// A file-system operation that failed, with the path and a reason a person can act on.
public struct FSError: Error, Sendable, CustomStringConvertible {
    public let path: String
    public let reason: String
    /// The errno behind it, when a system call failed.
    public let code: Int32?

    public init(path: String, reason: String) {
        self.path = path
        self.reason = reason
        self.code = nil
    }

    /// A failed system call: `operation` names it, `errno` says why.
    public init(path: String, errno: Int32, operation: String) {
        self.path = path
        self.code = errno
        let meaning = String(cString: strerror(errno))
        switch errno {
        case ELOOP where operation == "open":
            self.reason = "is a symbolic link; jigsync never follows links"
        default:
            self.reason = "\(operation): \(meaning)"
        }
    }

    public var description: String { "\(path): \(reason)" }
}

/// The one place system calls are retried when a signal interrupts them.
enum FSCall {
    /// Repeats `call` while it fails with `EINTR`. Never use for `close`, which must not be retried.
    static func retryingEINTR<T: FixedWidthInteger>(_ call: () -> T) -> T {
        while true {
            let result = call()
            if result == -1 && errno == EINTR { continue }
            return result
        }
    }
}
