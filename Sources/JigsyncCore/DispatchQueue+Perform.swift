import Dispatch

extension DispatchQueue {
    /// Runs blocking `work` on this queue (a Dispatch thread, never the cooperative pool) and
    /// suspends the caller until it is done.
    func perform<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            self.async {
                do throws(E) {
                    continuation.resume(returning: .success(try work()))
                } catch {
                    continuation.resume(returning: .failure(error))
                }
            }
        }
        return try result.get()
    }
}
