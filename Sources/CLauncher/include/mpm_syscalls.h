#ifndef MPM_SYSCALLS_H
#define MPM_SYSCALLS_H

// Thin wrappers for calls Swift cannot make itself: syscall() and prctl() are variadic,
// and glibc does not wrap openat2 or landlock_create_ruleset. Each returns what the kernel
// said without interpretation; the Swift side decides what it means.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// openat2's resolve flags, under our own names so that this header never collides with
// <linux/openat2.h> (which Debian 12 has, but older headers lack).
#define MPM_RESOLVE_NO_XDEV       0x01ULL
#define MPM_RESOLVE_NO_MAGICLINKS 0x02ULL
#define MPM_RESOLVE_NO_SYMLINKS   0x04ULL
#define MPM_RESOLVE_BENEATH       0x08ULL
#define MPM_RESOLVE_IN_ROOT       0x10ULL

// O_PATH is hidden from Swift without _GNU_SOURCE; syscalls.c checks that this is its value.
#define MPM_O_PATH 010000000

// openat2(dirfd, path, {flags, mode, resolve}): a file descriptor, or -1 with errno set.
// Retries the EAGAIN that RESOLVE_BENEATH returns when a concurrent rename raced the lookup.
int mpm_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, uint64_t resolve);

// prctl(PR_GET_SECCOMP): 0 (none), 1 (strict), 2 (filter), or -errno.
int mpm_sys_seccomp_mode(void);

// prctl(PR_GET_NO_NEW_PRIVS): 0 or 1, or -errno.
int mpm_sys_no_new_privs(void);

// landlock_create_ruleset(NULL, 0, LANDLOCK_CREATE_RULESET_VERSION): the ABI version (>= 1),
// or -errno (-ENOSYS: not built in; -EOPNOTSUPP: built in but not enabled at boot).
int mpm_sys_landlock_abi(void);

// Starts a child with clone(CLONE_VM|CLONE_VFORK|SIGCHLD, plus CLONE_NEWUSER when
// `new_user` and CLONE_NEWPID when `new_pid`) that exits at once, and reaps it.
// 0 when the child ran and exited 0, otherwise the errno of the failing step.
int mpm_sys_probe_namespaces(int new_user, int new_pid);

// For a root caller: whether uid/gid (an unprivileged identity, as an agent gets) may
// create a user namespace. A clone(CLONE_VM|CLONE_VFORK) child drops to uid/gid with raw
// syscalls (glibc's setuid would signal the parent's threads) and calls
// unshare(CLONE_NEWUSER). 0 when it could, otherwise the errno of the failing step.
int mpm_sys_probe_unprivileged_userns(uid_t uid, gid_t gid);

// For a root caller (`mpm-run doctor`): how long moving a new process into cgroups takes, as
// a run's init does at each launch. A forked child waits on a pipe while its pid is written
// to each of the `count` cgroup.procs descriptors; then it exits and is reaped. The
// nanoseconds the writes took, or -errno.
long long mpm_sys_probe_cgroup_attach(const int *procs_fds, int count);

// memmem (hidden from Swift without _GNU_SOURCE): where `needle` first occurs in the
// `hay_len` bytes at `hay`, or NULL. The audit log's tail queries pass over other agents'
// records with it a chunk at a time.
const void *mpm_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len);

// mallopt(M_ARENA_MAX, arenas): how many malloc arenas threads share (1 on success).
int mpm_malloc_arena_max(int arenas);

// F_GETPIPE_SZ / F_SETPIPE_SZ (hidden from Swift without _GNU_SOURCE): grows the pipe `fd`
// is an end of to `size` bytes when it is smaller, never shrinks it. The pipe's size
// afterwards (the old one when the kernel refuses, e.g. past the user's pipe quota), or -1
// with errno when `fd` is not a pipe.
int mpm_grow_pipe(int fd, int size);

// Names the calling thread (at most 15 bytes; what `top -H` and /proc/PID/task/TID/comm show).
// 0, or an error number.
int mpm_name_thread(const char *name);

#endif
