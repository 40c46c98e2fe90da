#define _GNU_SOURCE
#include "csys.h"
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <signal.h>
#include <spawn.h>

#ifndef SYS_openat2
#define SYS_openat2 437
#endif

struct jigsync_open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};

int jigsync_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve) {
    struct jigsync_open_how how = { flags, mode, resolve };
    return (int)syscall(SYS_openat2, dirfd, path, &how, sizeof how);
}

int jigsync_o_path(void) { return O_PATH; }

int jigsync_eventfd(void) { return eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC); }

long long jigsync_fs_type(int fd) {
    struct statfs info;
    if (fstatfs(fd, &info) != 0) return -1;
    return (long long)(unsigned long)info.f_type;
}

#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif

int jigsync_pipe_cloexec(int fds[2]) { return pipe2(fds, O_CLOEXEC); }

void jigsync_name_thread(const char *name) {
    char truncated[16];
    snprintf(truncated, sizeof truncated, "%s", name);
    pthread_setname_np(pthread_self(), truncated);
}

static volatile int relayFD = -1;

static void relaySignal(int signo) {
    int saved = errno;
    unsigned char byte = (unsigned char)signo;
    (void)!write(relayFD, &byte, 1);
    errno = saved;
}

int jigsync_relay_signals(int fd, const int *signals, int count) {
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) return errno;
    relayFD = fd;
    struct sigaction action = {0};
    action.sa_handler = relaySignal;
    action.sa_flags = SA_RESTART;
    sigemptyset(&action.sa_mask);
    for (int index = 0; index < count; index++) {
        if (sigaction(signals[index], &action, NULL) < 0) return errno;
    }
    return 0;
}

int jigsync_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }

int jigsync_spawn(pid_t *pid, const char *file, char *const argv[], char *const envp[], const char *cwd,
                  int out_fd, int err_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawnattr_t attr;
    int rc = posix_spawn_file_actions_init(&actions);
    if (rc != 0) return rc;
    rc = posix_spawnattr_init(&attr);
    if (rc != 0) { posix_spawn_file_actions_destroy(&actions); return rc; }
    sigset_t none, all;
    sigemptyset(&none);
    sigfillset(&all);
    if (rc == 0) rc = posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, out_fd, 1);
    if (rc == 0) rc = posix_spawn_file_actions_adddup2(&actions, err_fd, 2);
    if (rc == 0 && cwd != NULL) rc = posix_spawn_file_actions_addchdir_np(&actions, cwd);
    /* Nothing of the daemon's (the ledger, inotify, sockets, a descriptor its own parent watches)
       leaks into the action, CLOEXEC or not. */
    if (rc == 0) rc = posix_spawn_file_actions_addclosefrom_np(&actions, 3);
    if (rc == 0) rc = posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP | POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    if (rc == 0) rc = posix_spawnattr_setpgroup(&attr, 0);
    if (rc == 0) rc = posix_spawnattr_setsigmask(&attr, &none);
    if (rc == 0) rc = posix_spawnattr_setsigdefault(&attr, &all);
    if (rc == 0) rc = posix_spawnp(pid, file, &actions, &attr, argv, envp);
    posix_spawnattr_destroy(&attr);
    posix_spawn_file_actions_destroy(&actions);
    return rc;
}
