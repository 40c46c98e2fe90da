import CSys
import Foundation

/// Threads of jigsync's own for blocking work (the file system, SQLite): never the threads that run
/// tasks, and never libdispatch's (whose first worker arms a 1 s monitor timer that never stops).
///
/// A thread starts when work arrives and every thread is busy, up to `maximumThreads`, and then
/// stays: an idle one waits on a condition variable without a timeout, so an idle pool costs
/// nothing, and a slow disk that holds some threads does not hold up work that others can do.
/// With `maximumThreads` 1 the work runs in the order it was given: a serial queue. When the
/// `WorkThreads` goes away its threads finish what was given and end.
final class WorkThreads: Sendable {
    private let queue: WorkQueue

    init(name: String, maximumThreads: Int) {
        precondition(maximumThreads >= 1)
        queue = WorkQueue(name: name, maximumThreads: maximumThreads)
    }

    deinit {
        queue.close()
    }

    /// Runs `work` on one of the threads; returns at once.
    func async(_ work: @escaping @Sendable () -> Void) {
        queue.add(work)
    }

    /// Runs `work` on one of the threads after `delay` (a task sleeps meanwhile; the threads keep
    /// no timer).
    func async(after delay: Duration, _ work: @escaping @Sendable () -> Void) {
        Task {
            try? await Task.sleep(for: delay)
            self.async(work)
        }
    }

    /// Runs blocking `work` on one of the threads and suspends the caller until it is done.
    func perform<T: Sendable, E: Error>(_ work: @escaping @Sendable () throws(E) -> T) async throws(E) -> T {
        let result: Result<T, E> = await withCheckedContinuation { continuation in
            queue.add {
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

/// The queue and the threads behind a `WorkThreads` (which the threads do not keep alive).
///
/// `@unchecked Sendable`: `pending`, `head`, `threads`, `idle` and `closed` are guarded by
/// `condition`.
private final class WorkQueue: @unchecked Sendable {
    private let name: String
    private let maximumThreads: Int
    private let condition = NSCondition()
    /// Work not yet taken: `pending[head...]`, oldest first.
    private var pending: [@Sendable () -> Void] = []
    private var head = 0
    private var threads = 0
    private var idle = 0
    private var closed = false

    init(name: String, maximumThreads: Int) {
        self.name = name
        self.maximumThreads = maximumThreads
    }

    func add(_ work: @escaping @Sendable () -> Void) {
        condition.lock()
        pending.append(work)
        let start = idle == 0 && threads < maximumThreads
        if start {
            threads += 1
        } else if idle > 0 {
            condition.signal()
        }
        condition.unlock()
        if start {
            let thread = Thread { [self] in serve() }
            thread.name = name
            thread.start()
        }
    }

    /// Ends every thread once the work given so far is done.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// A thread's life: take the oldest work, run it; wait (no timeout) when there is none.
    private func serve() {
        jigsync_name_thread(name)   // Foundation's Thread.name does not reach the kernel on Linux
        while let work = take() { work() }
    }

    private func take() -> (@Sendable () -> Void)? {
        condition.lock()
        defer { condition.unlock() }
        while head == pending.count {
            if closed {
                threads -= 1
                return nil
            }
            idle += 1
            condition.wait()
            idle -= 1
        }
        let work = pending[head]
        head += 1
        if head == pending.count {
            pending.removeAll(keepingCapacity: true)
            head = 0
        } else if head >= 64, head * 2 >= pending.count {
            pending.removeFirst(head)   // what was taken keeps no closure alive for long
            head = 0
        }
        return work
    }
}
