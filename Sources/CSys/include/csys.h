#ifndef JIGSYNC_CSYS_H
#define JIGSYNC_CSYS_H
/* System calls Swift cannot reach directly. */
#include <stdint.h>
#include <sys/types.h>

/* openat2(2) resolve flags, as <linux/openat2.h> defines them (older headers lack the file). */
#define JIGSYNC_RESOLVE_NO_XDEV       0x01
#define JIGSYNC_RESOLVE_NO_MAGICLINKS 0x02
#define JIGSYNC_RESOLVE_NO_SYMLINKS   0x04
#define JIGSYNC_RESOLVE_BENEATH       0x08

/* openat2(2) through syscall(2); glibc 2.36 has no wrapper. Returns the fd, or -1 with errno set
   (ENOSYS on kernels before 5.6). */
int jigsync_openat2(int dirfd, const char *path, uint64_t flags, uint64_t mode, uint64_t resolve);

/* eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC): a descriptor another thread writes to wake a poll(). */
int jigsync_eventfd(void);

/* statfs(2)'s f_type of the file system holding fd, or -1 with errno set. */
long long jigsync_fs_type(int fd);

/* posix_spawnp(3) of an action: its own process group (so a timeout or shutdown kills all it
   started), every signal at its default and none blocked (the daemon blocks and handles some),
   stdin from /dev/null, stdout and stderr onto out_fd and err_fd, no other descriptor, in the
   directory cwd.
   Returns 0 and sets *pid, or an errno value. */
int jigsync_spawn(pid_t *pid, const char *file, char *const argv[], char *const envp[], const char *cwd,
                  int out_fd, int err_fd);

/* pipe2(fds, O_CLOEXEC), which Glibc's Swift overlay does not export. */
int jigsync_pipe_cloexec(int fds[2]);

/* pidfd_open(2) through syscall(2): a descriptor that poll() sees readable once pid has exited.
   Returns the fd, or -1 with errno set (ENOSYS before Linux 5.3). */
int jigsync_pidfd_open(pid_t pid);

/* O_PATH, which Glibc's Swift overlay does not export. */
int jigsync_o_path(void);

/* pthread_setname_np(3) of the calling thread (15 bytes at most are kept), which Glibc's Swift
   overlay does not export; Foundation's Thread.name never reaches the kernel on Linux. */
void jigsync_name_thread(const char *name);

/* Installs, for each of the count signals, a handler (SA_RESTART) that writes the signal's number
   as one byte to fd (a pipe's write end; non-blocking, so a full pipe drops the byte rather than
   stalling the thread it interrupted) and leaves errno as it was. A thread reading the pipe then
   handles the signal outside the handler. Returns 0, or an errno value. */
int jigsync_relay_signals(int fd, const int *signals, int count);
#endif
