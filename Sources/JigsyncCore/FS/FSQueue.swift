/// Where blocking file-system work runs: threads of jigsync's own (`WorkThreads`), never the
/// threads that run tasks, so a slow disk cannot stall the daemon's async code.
public enum FSQueue {
    /// Up to as many threads as work at once: the upload workers (at most 64), the planner, the
    /// versions; a disk that holds some of them does not hold the others up.
    private static let threads = WorkThreads(name: "jigsync-fs", maximumThreads: 64)

    /// Runs `work` on the FS threads and returns its result.
    public static func run<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        try await threads.perform(work)
    }
}
