#define _GNU_SOURCE
#include "launcher.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef CLONE_PIDFD
#define CLONE_PIDFD 0x00001000
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_RAISE 2
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

// The child writes its failure here; with CLONE_VM this is the parent's memory, and the
// parent reads it after CLONE_VFORK resumes it (the way glibc's posix_spawn reports errors).
struct child_context {
    const struct mpm_launch_spec *spec;
    volatile int step;
    volatile int err;
};

static void fail(struct child_context *c, int step) {
    c->err = errno;
    c->step = step;
    _exit(127);
}

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    size_t len = strlen(text);
    ssize_t n = write(fd, text, len);
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)len ? 0 : -1;
}

// In a new user namespace: map our ids to themselves, so the agent sees its real uid.
static void write_id_maps(struct child_context *c) {
    const struct mpm_launch_spec *s = c->spec;
    if (write_file("/proc/self/setgroups", "deny") != 0) fail(c, MPM_STEP_ID_MAPS);
    if (write_file("/proc/self/uid_map", s->uid_map) != 0) fail(c, MPM_STEP_ID_MAPS);
    if (write_file("/proc/self/gid_map", s->gid_map) != 0) fail(c, MPM_STEP_ID_MAPS);
}

static void become(struct child_context *c, uid_t uid, gid_t gid) {
    if (setgroups(0, NULL) != 0) fail(c, MPM_STEP_SETGROUPS);
    if (setresgid(gid, gid, gid) != 0) fail(c, MPM_STEP_SETGID);
    if (setresuid(uid, uid, uid) != 0) fail(c, MPM_STEP_SETUID);
}

static void set_capabilities(struct child_context *c, uint64_t keep) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)keep;
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(keep >> 32);
    if (syscall(SYS_capset, &header, data) != 0) fail(c, MPM_STEP_CAPSET);
}

static void drop_bounding_set(struct child_context *c) {
    for (int cap = 0; cap <= c->spec->last_cap; cap++) {
        if (c->spec->keep_caps & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(c, MPM_STEP_BOUNDING_SET);
    }
}

// Hands the seccomp listener to the supervisor over a unix socket (SCM_RIGHTS).
static void send_listener(struct child_context *c, int listener) {
    char byte = 'L';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &listener, sizeof(int));
    if (sendmsg(c->spec->seccomp_listener_socket, &msg, MSG_NOSIGNAL) != 1) fail(c, MPM_STEP_SECCOMP_LISTENER);
    close(listener);
}

static void move_fd(struct child_context *c, int from, int to) {
    if (from == to) {
        if (fcntl(to, F_SETFD, 0) != 0) fail(c, MPM_STEP_STDIO);
    } else if (dup2(from, to) != to) {
        fail(c, MPM_STEP_STDIO);
    }
}

// The recipe, in order. Each step relies on the ones before it:
// identity before the bounding set (entering a user namespace resets the bounding set to
// full), the parent-death signal after the identity change (which clears it), capabilities
// before no_new_privs, no_new_privs before Landlock and seccomp (both require it), and
// seccomp last, so that its filter never sees the setup's own system calls.
static int child_main(void *arg) {
    struct child_context *c = arg;
    const struct mpm_launch_spec *s = c->spec;

    // Handlers and ignored signals would survive execve; the parent blocked all signals
    // before clone so that no handler can run on this borrowed stack.
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);  // EINVAL for glibc's internal signals: harmless
    }
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) fail(c, MPM_STEP_SIGNALS);

    switch (s->identity) {
    case MPM_IDENTITY_USERNS:
        write_id_maps(c);
        break;
    case MPM_IDENTITY_ROOT_THEN_USERNS:
        become(c, s->uid, s->gid);
        if (unshare(CLONE_NEWUSER) != 0) fail(c, MPM_STEP_USERNS);
        write_id_maps(c);
        break;
    case MPM_IDENTITY_ROOT_KEEP_CAPS:
        // Still full root: the bounding set can be cut now, while CAP_SETPCAP is effective.
        drop_bounding_set(c);
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(c, MPM_STEP_KEEPCAPS);
        become(c, s->uid, s->gid);
        break;
    }

    if (setsid() < 0) fail(c, MPM_STEP_SETSID);
    move_fd(c, s->stdin_fd, 0);
    move_fd(c, s->stdout_fd, 1);
    move_fd(c, s->stderr_fd, 2);
    // Everything above 2 closes at execve; the ruleset fd and the listener socket are
    // still needed until then.
    if (syscall(SYS_close_range, 3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail(c, MPM_STEP_CLOSE_FDS);
    if (s->cwd && chdir(s->cwd) != 0) fail(c, MPM_STEP_CHDIR);

    for (int i = 0; i < s->rlimit_count; i++) {
        struct rlimit rl = {s->rlimits[i].soft, s->rlimits[i].hard};
        if (setrlimit(s->rlimits[i].resource, &rl) != 0) fail(c, MPM_STEP_RLIMIT);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(c, MPM_STEP_PDEATHSIG);

    if (s->identity != MPM_IDENTITY_ROOT_KEEP_CAPS) drop_bounding_set(c);
    set_capabilities(c, s->keep_caps);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail(c, MPM_STEP_AMBIENT);
    for (int cap = 0; cap <= s->last_cap; cap++) {
        if (!(s->keep_caps & (1ULL << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) fail(c, MPM_STEP_AMBIENT);
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(c, MPM_STEP_NO_NEW_PRIVS);
    if (s->landlock_ruleset_fd >= 0 && syscall(SYS_landlock_restrict_self, s->landlock_ruleset_fd, 0) != 0)
        fail(c, MPM_STEP_LANDLOCK);

    if (s->seccomp_filter) {
        struct sock_fprog prog = {s->seccomp_length, (struct sock_filter *)s->seccomp_filter};
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->seccomp_flags, &prog);
        if (fd < 0) fail(c, MPM_STEP_SECCOMP);
        if (s->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) send_listener(c, (int)fd);
    }

    // The filter may allow exactly this call: these three pointers (see SeccompFilter).
    syscall(SYS_execve, s->path, s->argv, s->envp);
    fail(c, MPM_STEP_EXECVE);
    return 127;
}

enum { CHILD_STACK_SIZE = 256 * 1024 };

int mpm_launch(const struct mpm_launch_spec *spec, struct mpm_launch_result *result) {
    struct child_context context = {spec, 0, 0};
    memset(result, 0, sizeof *result);
    result->pidfd = -1;

    void *stack = mmap(NULL, CHILD_STACK_SIZE, PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (stack == MAP_FAILED) {
        result->failed_step = MPM_STEP_CLONE;
        result->failed_errno = errno;
        return -1;
    }

    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    int flags = CLONE_VM | CLONE_VFORK | CLONE_PIDFD | SIGCHLD;
    if (spec->new_pid_ns) flags |= CLONE_NEWPID;
    if (spec->identity == MPM_IDENTITY_USERNS) flags |= CLONE_NEWUSER;
    int pidfd = -1;
    pid_t pid = clone(child_main, (char *)stack + CHILD_STACK_SIZE, flags, &context, &pidfd);
    int clone_errno = errno;

    pthread_sigmask(SIG_SETMASK, &old, NULL);
    munmap(stack, CHILD_STACK_SIZE);

    if (pid < 0) {
        result->failed_step = MPM_STEP_CLONE;
        result->failed_errno = clone_errno;
        errno = clone_errno;
        return -1;
    }
    result->pid = pid;
    if (context.step != MPM_STEP_NONE) {
        // The child failed before execve and has exited: reap it here.
        int status;
        while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {}
        close(pidfd);
        result->failed_step = context.step;
        result->failed_errno = context.err;
        return 0;
    }
    result->pidfd = pidfd;
    return 0;
}

// MARK: - Landlock

struct mpm_ll_ruleset_attr {
    uint64_t handled_access_fs;
    uint64_t handled_access_net;
    uint64_t scoped;
};

struct mpm_ll_path_beneath_attr {
    uint64_t allowed_access;
    int32_t parent_fd;
} __attribute__((packed));

int mpm_landlock_abi(void) {
    return (int)syscall(SYS_landlock_create_ruleset, NULL, 0, 1U /* LANDLOCK_CREATE_RULESET_VERSION */);
}

int mpm_landlock_create_ruleset(int abi, uint64_t handled_fs, uint64_t handled_net, uint64_t scoped) {
    struct mpm_ll_ruleset_attr attr = {handled_fs, handled_net, scoped};
    // Older kernels refuse a larger struct with non-zero fields they do not know.
    size_t size = abi >= 6 ? sizeof attr : abi >= 4 ? 2 * sizeof(uint64_t) : sizeof(uint64_t);
    return (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
}

int mpm_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -1;
    struct mpm_ll_path_beneath_attr attr = {access, fd};
    long r = syscall(SYS_landlock_add_rule, ruleset_fd, 1 /* LANDLOCK_RULE_PATH_BENEATH */, &attr, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return r == 0 ? 0 : -1;
}

// MARK: - Supervisor-side calls Swift cannot reach (_GNU_SOURCE-only or variadic)

int mpm_memfd(const char *name) {
    return memfd_create(name, MFD_CLOEXEC);
}
