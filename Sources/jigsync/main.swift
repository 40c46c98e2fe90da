@_spi(ExperimentalCustomExecutors) import _Concurrency
import CExecutor
import Foundation

// Swift concurrency runs on jigsync's own threads (CExecutor, DaemonExecutor), not on libdispatch's
// global queues: the first thread that joins those arms libdispatch's worker-pool monitor, a 1 s
// timer that never stops, and an idle daemon must not wake. Both go in before the first task
// exists; this thread then runs the main actor's jobs for the rest of the process.
jigsync_executor_install()
_createExecutors(factory: DaemonExecutors.self)
Task {
    await JigsyncCommand.main()
    exit(0)
}
jigsync_executor_run_main()
