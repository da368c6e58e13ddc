#define _GNU_SOURCE
#include "mpm_syscalls.h"

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if __has_include(<linux/openat2.h>)
#include <linux/openat2.h>
#else
struct open_how {
    uint64_t flags;
    uint64_t mode;
    uint64_t resolve;
};
#endif

#ifndef SYS_openat2
#define SYS_openat2 437
#endif
#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#endif
#ifndef LANDLOCK_CREATE_RULESET_VERSION
#define LANDLOCK_CREATE_RULESET_VERSION (1U << 0)
#endif
#ifndef PR_GET_NO_NEW_PRIVS
#define PR_GET_NO_NEW_PRIVS 39
#endif

_Static_assert(MPM_O_PATH == O_PATH, "MPM_O_PATH must equal O_PATH");

int mpm_sys_openat2(int dirfd, const char *path, int flags, unsigned int mode, uint64_t resolve) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = (uint64_t)(unsigned int)flags;
    how.mode = mode;
    how.resolve = resolve;
    for (int attempt = 0; attempt < 16; attempt++) {
        long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof how);
        if (fd >= 0) return (int)fd;
        if (errno != EAGAIN && errno != EINTR) return -1;
    }
    return -1;
}

int mpm_sys_seccomp_mode(void) {
    int r = prctl(PR_GET_SECCOMP, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

int mpm_sys_no_new_privs(void) {
    int r = prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0);
    return r < 0 ? -errno : r;
}

int mpm_sys_landlock_abi(void) {
    long r = syscall(SYS_landlock_create_ruleset, NULL, 0, LANDLOCK_CREATE_RULESET_VERSION);
    return r < 0 ? -errno : (int)r;
}

// The probe child shares the parent's memory (CLONE_VM) while the parent waits (CLONE_VFORK):
// it touches nothing and leaves with the exit syscall, so sharing is harmless.
static int probe_child(void *arg) {
    (void)arg;
    syscall(SYS_exit, 0);
    return 0;
}

int mpm_sys_probe_namespaces(int new_user, int new_pid) {
    int flags = CLONE_VM | CLONE_VFORK | SIGCHLD;
    if (new_user) flags |= CLONE_NEWUSER;
    if (new_pid) flags |= CLONE_NEWPID;
    const size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    pid_t child = clone(probe_child, (char *)stack + size, flags, NULL);
    int err = 0;
    if (child < 0) {
        err = errno;
    } else {
        int status = 0;
        pid_t r;
        do { r = waitpid(child, &status, 0); } while (r < 0 && errno == EINTR);
        // ECHILD: SIGCHLD is ignored and the kernel reaped the child; it did start.
        if (r < 0 && errno != ECHILD) err = errno;
        else if (r > 0 && !(WIFEXITED(status) && WEXITSTATUS(status) == 0)) err = ECHILD;
    }
    munmap(stack, size);
    return err;
}

long long mpm_sys_probe_cgroup_attach(const int *procs_fds, int count) {
    int gate[2];
    if (pipe2(gate, O_CLOEXEC) != 0) return -errno;
    // A plain fork (no CLONE_VM: nothing shared, and the thread sanitizer's fork handling
    // applies). The child keeps only the read end, so it leaves when the parent writes its
    // byte or dies: it never outlives doctor, nor keeps the cgroups busy.
    pid_t child = fork();
    if (child == 0) {
        char b;
        close(gate[1]);
        while (read(gate[0], &b, 1) < 0 && errno == EINTR) {}
        _exit(0);
    }
    long long result;
    if (child < 0) {
        result = -errno;
    } else {
        char pid[24];
        int len = snprintf(pid, sizeof pid, "%d", (int)child);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        result = 0;
        for (int i = 0; i < count && result == 0; i++) {
            if (write(procs_fds[i], pid, (size_t)len) != len) result = -errno;
        }
        clock_gettime(CLOCK_MONOTONIC, &t1);
        if (result == 0) result = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
        while (write(gate[1], "x", 1) < 0 && errno == EINTR) {}
        int status;
        while (waitpid(child, &status, 0) < 0 && errno == EINTR) {}
    }
    close(gate[1]);
    close(gate[0]);
    return result;
}

struct drop_args {
    uid_t uid;
    gid_t gid;
};

// Exits with 0, or with the errno of the step that failed (errno values fit in 8 bits).
static int drop_then_unshare_child(void *arg) {
    const struct drop_args *a = arg;
    if (syscall(SYS_setgroups, 0, NULL) != 0) syscall(SYS_exit, errno);
    if (syscall(SYS_setresgid, a->gid, a->gid, a->gid) != 0) syscall(SYS_exit, errno);
    if (syscall(SYS_setresuid, a->uid, a->uid, a->uid) != 0) syscall(SYS_exit, errno);
    if (syscall(SYS_unshare, CLONE_NEWUSER) != 0) syscall(SYS_exit, errno);
    syscall(SYS_exit, 0);
    return 0;
}

int mpm_sys_probe_unprivileged_userns(uid_t uid, gid_t gid) {
    struct drop_args args = { uid, gid };
    const size_t size = 64 * 1024;
    void *stack = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) return errno;
    pid_t child = clone(drop_then_unshare_child, (char *)stack + size, CLONE_VM | CLONE_VFORK | SIGCHLD, &args);
    int err = 0;
    if (child < 0) {
        err = errno;
    } else {
        int status = 0;
        pid_t r;
        do { r = waitpid(child, &status, 0); } while (r < 0 && errno == EINTR);
        if (r < 0) err = errno;  // ECHILD (SIGCHLD ignored): the outcome is unknown
        else if (!WIFEXITED(status)) err = ECHILD;
        else err = WEXITSTATUS(status);
    }
    munmap(stack, size);
    return err;
}

const void *mpm_memmem(const void *hay, size_t hay_len, const void *needle, size_t needle_len) {
    return memmem(hay, hay_len, needle, needle_len);
}

int mpm_malloc_arena_max(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int mpm_grow_pipe(int fd, int size) {
    int now = fcntl(fd, F_GETPIPE_SZ);
    if (now < 0 || now >= size) return now;
    int grown = fcntl(fd, F_SETPIPE_SZ, size);
    return grown < 0 ? now : grown;
}

int mpm_name_thread(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
