/* The jigsync executable's executor for Swift concurrency.
 *
 * On Linux the runtime's default executor runs every job on libdispatch's global queues, and the
 * first thread that joins those queues arms libdispatch's worker-pool monitor: a 1 s repeating
 * timer that is never cancelled, so an idle daemon wakes every second. Through the hooks the
 * runtime exports (swift/Runtime/ConcurrencyHooks.def) this file takes those jobs instead:
 *
 *   - a fixed pool of worker threads takes jobs from one FIFO and sleeps on a condition variable
 *     while it is empty (no timeout);
 *   - a timer thread holds delayed jobs (Task.sleep) in a min-heap and waits until the earliest
 *     is due, or without a timeout while there is none;
 *   - the main thread drains libdispatch's main queue, where the runtime puts main-actor jobs
 *     (that path has no hook): it waits on the queue's eventfd, as CoreFoundation's run loop does,
 *     and runs what is queued. Only the global root queues have workers and the monitor; the
 *     main queue, drained by its own thread, has neither.
 *
 * Priorities are ignored (FIFO): jigsync's tasks do not use them to order work.
 */
#define _GNU_SOURCE
#include "cexecutor.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define SWIFT_CC __attribute__((swiftcall))

typedef struct Job Job;

/* The runtime's reference to a serial executor; {NULL, 0} is the generic (global) executor. */
typedef struct {
    void *identity;
    uintptr_t implementation;
} SerialExecutorRef;

/* The first words of every job (swift/ABI/Task.h): a heap object's header, then two words the
 * runtime leaves to whichever executor holds the job (Swift calls them an ExecutorJob's
 * executor-private data). Here the first links the job into a queue, the second holds a delayed
 * job's deadline. */
struct JobHeader {
    void *metadata;
    uintptr_t referenceCounts;
    void *executorPrivate[2];
};

extern SWIFT_CC void swift_job_run(Job *job, SerialExecutorRef executor);

/* libdispatch's main-queue hooks for a run loop (what CoreFoundation's uses): an eventfd written
 * when the main queue gets work, and the function that runs what the main queue holds. */
extern int _dispatch_get_main_queue_handle_4CF(void);
extern void _dispatch_main_queue_callback_4CF(void *message);

/* Each hook receives the call's arguments and the runtime's own implementation. */
typedef SWIFT_CC void (*EnqueueOriginal)(Job *job);
typedef SWIFT_CC void (*EnqueueHook)(Job *job, EnqueueOriginal original);
typedef SWIFT_CC void (*DelayOriginal)(unsigned long long nanoseconds, Job *job);
typedef SWIFT_CC void (*DelayHook)(unsigned long long nanoseconds, Job *job, DelayOriginal original);
typedef SWIFT_CC void (*DeadlineOriginal)(long long sec, long long nsec, long long toleranceSec,
                                          long long toleranceNsec, int clock, Job *job);
typedef SWIFT_CC void (*DeadlineHook)(long long sec, long long nsec, long long toleranceSec, long long toleranceNsec,
                                      int clock, Job *job, DeadlineOriginal original);

extern EnqueueHook swift_task_enqueueGlobal_hook;
extern DelayHook swift_task_enqueueGlobalWithDelay_hook;
extern DeadlineHook swift_task_enqueueGlobalWithDeadline_hook;

/* The runtime's clock ids (swift_clock_id): continuous is CLOCK_BOOTTIME on Linux, suspending
 * CLOCK_MONOTONIC. */
enum { SwiftClockContinuous = 1, SwiftClockSuspending = 2 };

static _Noreturn void fail(const char *what, int error) {
    fprintf(stderr, "jigsync: executor: %s: %s\n", what, strerror(error));
    abort();
}

static Job **nextJob(Job *job) {
    return (Job **)&((struct JobHeader *)job)->executorPrivate[0];
}

static uint64_t *deadlineOf(Job *job) {
    return (uint64_t *)&((struct JobHeader *)job)->executorPrivate[1];
}

static uint64_t nanosecondsNow(clockid_t clock) {
    struct timespec now;
    clock_gettime(clock, &now);
    return (uint64_t)now.tv_sec * 1000000000u + (uint64_t)now.tv_nsec;
}

/* A FIFO of jobs, linked through their first private word; a lock and a condition variable, and
 * how many threads wait on it (a job that finds none waiting costs no wake-up). */
struct JobQueue {
    pthread_mutex_t lock;
    pthread_cond_t nonEmpty;
    Job *head;
    Job *tail;
    int waiting;
};

static void pushJob(struct JobQueue *queue, Job *job) {
    *nextJob(job) = NULL;
    pthread_mutex_lock(&queue->lock);
    if (queue->tail) *nextJob(queue->tail) = job; else queue->head = job;
    queue->tail = job;
    int wake = queue->waiting > 0;
    pthread_mutex_unlock(&queue->lock);
    if (wake) pthread_cond_signal(&queue->nonEmpty);
}

/* Blocks (no timeout) until a job is queued, and takes it. */
static Job *takeJob(struct JobQueue *queue) {
    pthread_mutex_lock(&queue->lock);
    while (!queue->head) {
        queue->waiting += 1;
        pthread_cond_wait(&queue->nonEmpty, &queue->lock);
        queue->waiting -= 1;
    }
    Job *job = queue->head;
    queue->head = *nextJob(job);
    if (!queue->head) queue->tail = NULL;
    pthread_mutex_unlock(&queue->lock);
    return job;
}

static struct JobQueue globalJobs = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, NULL, NULL, 0};

static void *runWorker(void *unused) {
    (void)unused;
    pthread_setname_np(pthread_self(), "jigsync-task");
    const SerialExecutorRef generic = {NULL, 0};
    for (;;) swift_job_run(takeJob(&globalJobs), generic);
    return NULL;
}

/* Delayed jobs: a binary min-heap on the deadline (CLOCK_MONOTONIC nanoseconds). */
static pthread_mutex_t timerLock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t timerChanged;   /* initialised on CLOCK_MONOTONIC in install */
static Job **timerHeap;
static size_t timerCount;
static size_t timerCapacity;

static int earlier(Job *a, Job *b) { return *deadlineOf(a) < *deadlineOf(b); }

static void heapPush(Job *job) {
    if (timerCount == timerCapacity) {
        size_t capacity = timerCapacity ? timerCapacity * 2 : 64;
        Job **grown = realloc(timerHeap, capacity * sizeof *grown);
        if (!grown) fail("delayed jobs", ENOMEM);
        timerHeap = grown;
        timerCapacity = capacity;
    }
    size_t index = timerCount++;
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (!earlier(job, timerHeap[parent])) break;
        timerHeap[index] = timerHeap[parent];
        index = parent;
    }
    timerHeap[index] = job;
}

static Job *heapPop(void) {
    Job *top = timerHeap[0];
    Job *last = timerHeap[--timerCount];
    size_t index = 0;
    for (;;) {
        size_t child = 2 * index + 1;
        if (child >= timerCount) break;
        if (child + 1 < timerCount && earlier(timerHeap[child + 1], timerHeap[child])) child += 1;
        if (!earlier(timerHeap[child], last)) break;
        timerHeap[index] = timerHeap[child];
        index = child;
    }
    if (timerCount > 0) timerHeap[index] = last;
    return top;
}

static void enqueueAt(uint64_t deadline, Job *job) {
    *deadlineOf(job) = deadline;
    pthread_mutex_lock(&timerLock);
    heapPush(job);
    int first = timerHeap[0] == job;   /* the timer thread sleeps until an earlier deadline */
    pthread_mutex_unlock(&timerLock);
    if (first) pthread_cond_signal(&timerChanged);
}

/* Moves due jobs to the workers; sleeps until the earliest deadline, or indefinitely with none. */
static void *runTimer(void *unused) {
    (void)unused;
    pthread_setname_np(pthread_self(), "jigsync-timer");
    pthread_mutex_lock(&timerLock);
    for (;;) {
        if (timerCount == 0) {
            pthread_cond_wait(&timerChanged, &timerLock);
            continue;
        }
        uint64_t deadline = *deadlineOf(timerHeap[0]);
        if (deadline <= nanosecondsNow(CLOCK_MONOTONIC)) {
            Job *job = heapPop();
            pthread_mutex_unlock(&timerLock);
            pushJob(&globalJobs, job);
            pthread_mutex_lock(&timerLock);
            continue;
        }
        struct timespec until = {(time_t)(deadline / 1000000000u), (long)(deadline % 1000000000u)};
        pthread_cond_timedwait(&timerChanged, &timerLock, &until);
    }
    return NULL;
}

static SWIFT_CC void enqueueGlobal(Job *job, EnqueueOriginal original) {
    (void)original;
    pushJob(&globalJobs, job);
}

static SWIFT_CC void enqueueGlobalWithDelay(unsigned long long nanoseconds, Job *job, DelayOriginal original) {
    (void)original;
    enqueueAt(nanosecondsNow(CLOCK_MONOTONIC) + nanoseconds, job);
}

/* A deadline on the continuous clock (CLOCK_BOOTTIME) is turned into the time left, counted on
 * CLOCK_MONOTONIC (what a condition variable can wait on): a suspend of the machine postpones such
 * a deadline by the time suspended. The tolerance is not used. */
static SWIFT_CC void enqueueGlobalWithDeadline(long long sec, long long nsec, long long toleranceSec,
                                               long long toleranceNsec, int clock, Job *job,
                                               DeadlineOriginal original) {
    (void)toleranceSec;
    (void)toleranceNsec;
    (void)original;
    clockid_t source = clock == SwiftClockContinuous ? CLOCK_BOOTTIME : CLOCK_MONOTONIC;
    int64_t deadline = (int64_t)sec * 1000000000 + (int64_t)nsec;
    int64_t left = deadline - (int64_t)nanosecondsNow(source);
    if (left <= 0) {
        pushJob(&globalJobs, job);
        return;
    }
    enqueueAt(nanosecondsNow(CLOCK_MONOTONIC) + (uint64_t)left, job);
}

static void startThread(void *(*body)(void *), const char *what) {
    pthread_t thread;
    int error = pthread_create(&thread, NULL, body, NULL);
    if (error) fail(what, error);
    pthread_detach(thread);
}

void jigsync_executor_install(void) {
    pthread_condattr_t attributes;
    pthread_condattr_init(&attributes);
    pthread_condattr_setclock(&attributes, CLOCK_MONOTONIC);
    pthread_cond_init(&timerChanged, &attributes);
    pthread_condattr_destroy(&attributes);

    /* jigsync's tasks never block a worker (blocking work has threads of its own), so one per
     * CPU keeps them all busy; two at least, so one long job does not hold up every other. */
    long workers = sysconf(_SC_NPROCESSORS_ONLN);
    if (workers < 2) workers = 2;
    for (long index = 0; index < workers; index++) startThread(runWorker, "worker thread");
    startThread(runTimer, "timer thread");

    swift_task_enqueueGlobal_hook = enqueueGlobal;
    swift_task_enqueueGlobalWithDelay_hook = enqueueGlobalWithDelay;
    swift_task_enqueueGlobalWithDeadline_hook = enqueueGlobalWithDeadline;
}

void jigsync_executor_enqueue(void *job) {
    pushJob(&globalJobs, job);
}

void jigsync_executor_enqueue_after(uint64_t nanoseconds, void *job) {
    enqueueAt(nanosecondsNow(CLOCK_MONOTONIC) + nanoseconds, job);
}

void jigsync_executor_run_main(void) {
    int handle = _dispatch_get_main_queue_handle_4CF();
    struct pollfd wake = {handle, POLLIN, 0};
    for (;;) {
        if (poll(&wake, 1, -1) < 0) {
            if (errno == EINTR) continue;
            fail("waiting for the main queue", errno);
        }
        uint64_t count;
        (void)!read(handle, &count, sizeof count);   /* cleared before the drain: work queued during it wakes us again */
        _dispatch_main_queue_callback_4CF(NULL);
    }
}
