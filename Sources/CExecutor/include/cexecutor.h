#ifndef JIGSYNC_CEXECUTOR_H
#define JIGSYNC_CEXECUTOR_H
#include <stdint.h>
/* The jigsync executable's executor for Swift concurrency: its own threads instead of
   libdispatch's global queues, so an idle daemon has no thread and no timer that wakes. */

/* Installs the Swift runtime's global-executor hooks and starts the worker threads (one per online CPU, at least two) and the timer thread. Call it before the first task
   is created; once only. */
void jigsync_executor_install(void);

/* Queues a job (an UnownedJob's pointer) for the worker threads: the Swift side of the default
   executor (`Task.defaultExecutor`) hands jobs over here. */
void jigsync_executor_enqueue(void *job);

/* Queues a job for the worker threads once nanoseconds have passed (CLOCK_MONOTONIC). */
void jigsync_executor_enqueue_after(uint64_t nanoseconds, void *job);

/* Runs main-actor jobs (libdispatch's main queue) on the calling thread, the process's main
   thread, for ever. */
void jigsync_executor_run_main(void) __attribute__((noreturn));

#endif
