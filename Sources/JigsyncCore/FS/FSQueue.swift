import Dispatch

/// Where blocking file-system work runs: Dispatch threads, never Swift's cooperative pool, so a
/// slow disk cannot stall the daemon's async code.
public enum FSQueue {
    private static let queue = DispatchQueue(label: "jigsync-fs", qos: .utility, attributes: .concurrent)

    /// Runs `work` on the FS queue and returns its result.
    public static func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await queue.perform(work)
    }
}
