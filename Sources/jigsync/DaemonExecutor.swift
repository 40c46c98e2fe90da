@_spi(ExperimentalCustomExecutors) @_spi(ExperimentalScheduling) import _Concurrency
import CExecutor

/// Swift concurrency's default executor in the jigsync executable: CExecutor's worker threads and
/// timer thread instead of libdispatch's global queues.
///
/// Two ways lead to it. The runtime's C hooks (installed by `jigsync_executor_install`) take the
/// jobs enqueued through `swift_task_enqueueGlobal`. `Task.sleep` and clock sleeps do not go
/// through a hook since Swift 6.3: they ask `Task.currentSchedulingExecutor`, which is the default
/// executor, so that is this one (`ExecutorFactory`, an SPI of the runtime). Main-actor jobs stay
/// on libdispatch's main queue, which the main thread drains (`jigsync_executor_run_main`).
final class DaemonExecutor: TaskExecutor, SchedulingExecutor {
    static let shared = DaemonExecutor()

    func enqueue(_ job: consuming ExecutorJob) {
        jigsync_executor_enqueue(Self.pointer(UnownedJob(job)))
    }

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, at instant: C.Instant, tolerance: C.Duration?, clock: C) {
        if let delay = Self.nanoseconds(until: instant, on: clock) {
            jigsync_executor_enqueue_after(delay, Self.pointer(UnownedJob(job)))
        } else {
            Self.platformScheduler.enqueue(job, at: instant, tolerance: tolerance, clock: clock)
        }
    }

    func enqueue<C: Clock>(_ job: consuming ExecutorJob, after delay: C.Duration, tolerance: C.Duration?, clock: C) {
        if let delay = delay as? Duration {
            jigsync_executor_enqueue_after(Self.nanoseconds(delay), Self.pointer(UnownedJob(job)))
        } else {
            Self.platformScheduler.enqueue(job, after: delay, tolerance: tolerance, clock: clock)
        }
    }

    /// A clock other than the continuous and suspending ones (none in the daemon) keeps the
    /// runtime's own scheduling.
    private static let platformScheduler = PlatformExecutorFactory.defaultExecutor as! any SchedulingExecutor

    /// The time left until `instant`, for the two clocks the runtime knows; nil for any other.
    private static func nanoseconds<C: Clock>(until instant: C.Instant, on clock: C) -> UInt64? {
        if let instant = instant as? ContinuousClock.Instant {
            return nanoseconds(ContinuousClock.now.duration(to: instant))
        }
        if let instant = instant as? SuspendingClock.Instant {
            return nanoseconds(SuspendingClock.now.duration(to: instant))
        }
        return nil
    }

    private static func nanoseconds(_ duration: Duration) -> UInt64 {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0, attoseconds >= 0 || seconds > 0 else { return 0 }
        return UInt64(seconds) &* 1_000_000_000 &+ UInt64(max(0, attoseconds / 1_000_000_000))
    }

    /// An `UnownedJob` is one pointer, the job's; CExecutor links it into its queues.
    private static func pointer(_ job: UnownedJob) -> UnsafeMutableRawPointer {
        unsafeBitCast(job, to: UnsafeMutableRawPointer.self)
    }
}

/// What `_createExecutors` installs: `DaemonExecutor` as the default executor; the main executor
/// stays the platform's (libdispatch's main queue).
enum DaemonExecutors: ExecutorFactory {
    static var mainExecutor: any MainExecutor { PlatformExecutorFactory.mainExecutor }
    static var defaultExecutor: any TaskExecutor { DaemonExecutor.shared }
}
