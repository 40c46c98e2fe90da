import Foundation

/// Where the answer to a reload goes: the control socket's waiting request, or nowhere (SIGHUP).
///
/// `@unchecked Sendable`: the continuation is resumed once, guarded by `lock`.
final class ReloadReply: @unchecked Sendable {
    private let lock = NSLock()
    private var continuation: CheckedContinuation<ControlResponse, Never>?

    init(_ continuation: CheckedContinuation<ControlResponse, Never>?) {
        self.continuation = continuation
    }

    func send(_ answer: ControlResponse) {
        let pending = lock.withLock { () -> CheckedContinuation<ControlResponse, Never>? in
            defer { continuation = nil }
            return continuation
        }
        pending?.resume(returning: answer)
    }
}
