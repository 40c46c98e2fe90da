#define _GNU_SOURCE
#include "csys.h"
#include <errno.h>
#include <fcntl.h>
#include <sys/eventfd.h>
#include <sys/vfs.h>
#include <sys/syscall.h>
#include <unistd.h>

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
