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
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
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

// Builds with the thread sanitizer (`swift build --sanitize=thread`, run by CI). The sanitizer
// intercepts clone() and handles it as fork(): in a child that shares the supervisor's memory
// that handling rewrites the sanitizer's own state under the supervisor's running threads (it
// marks them all finished and unlocks its locks twice). And init and the agent share the
// supervisor's thread-local storage, so any sanitizer code they ran would use, concurrently,
// the state of the supervisor thread that launched them. So in these builds the code that runs
// in init and the agent (MPM_CHILD) is not instrumented and reaches the kernel past the
// sanitizer: clone is glibc's own (found with RTLD_NEXT, after the sanitizer's), and the few
// calls the sanitizer intercepts are made with syscall(2), which it does not. The steps, their
// order and their arguments are the same; only the route to the kernel differs. Normal builds
// are unchanged: every macro below is empty or absent there.
#if defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define MPM_TSAN 1
#endif
#endif

#ifdef MPM_TSAN
#include <dlfcn.h>
#include <pthread.h>
#define MPM_CHILD __attribute__((disable_sanitizer_instrumentation))
typedef int (*mpm_clone_fn)(int (*)(void *), void *, int, void *, ...);
static mpm_clone_fn mpm_real_clone;
static pthread_once_t mpm_real_clone_once = PTHREAD_ONCE_INIT;
static void mpm_find_real_clone(void) { mpm_real_clone = (mpm_clone_fn)dlsym(RTLD_NEXT, "clone"); }
#define clone(...) mpm_real_clone(__VA_ARGS__)
// The child's memset and strlen: the real ones would reach the sanitizer's interceptors.
MPM_CHILD static void mpm_child_zero(void *p, size_t n) {
    volatile unsigned char *c = p;
    while (n--) *c++ = 0;
}
#define memset(p, c, n) mpm_child_zero((p), (n))
MPM_CHILD static size_t mpm_child_strlen(const char *text) {
    const volatile char *c = text;  // volatile: not turned back into a call to strlen
    size_t n = 0;
    while (c[n]) n++;
    return n;
}
#define strlen(text) mpm_child_strlen(text)
#define sigemptyset(set) (mpm_child_zero((set), sizeof(sigset_t)), 0)
// syscall(2) reads every argument as a long: each is widened here.
#define open(path, flags) ((int)syscall(SYS_openat, (long)AT_FDCWD, (path), (long)(flags)))
#define write(fd, buf, n) ((ssize_t)syscall(SYS_write, (long)(fd), (buf), (long)(n)))
#define close(fd) ((int)syscall(SYS_close, (long)(fd)))
#define prctl(o, a, b, c, d) ((int)syscall(SYS_prctl, (long)(o), (long)(a), (long)(b), (long)(c), (long)(d)))
#define dup2(from, to) ((int)syscall(SYS_dup3, (long)(from), (long)(to), 0L))  /* only ever from != to */
#define dup3(from, to, flags) ((int)syscall(SYS_dup3, (long)(from), (long)(to), (long)(flags)))
#define sendmsg(s, m, f) ((ssize_t)syscall(SYS_sendmsg, (long)(s), (m), (long)(f)))
#define sigprocmask(how, set, old) ((int)syscall(SYS_rt_sigprocmask, (long)(how), (set), (old), 8L))
#define _exit(code) syscall(SYS_exit_group, (long)(code))
#else
#define MPM_CHILD
#endif

// One run's launch state, shared by the supervisor and the run's init (pid 1 of the run's
// PID namespace), which runs in the supervisor's address space on its own stack. It is
// freed by mpm_release only after init has been reaped.
struct mpm_run {
    const struct mpm_launch_spec *spec;  // valid until the agent has called execve
    volatile int step;                   // the agent's (or init's) failed step
    volatile int err;
    volatile int agent_recorded;         // init saw the agent end:
    volatile int agent_code;             //   CLD_EXITED, CLD_KILLED or CLD_DUMPED
    volatile int agent_status;           //   its exit code or signal
    int notify[2];                       // init -> supervisor: "ready at the gate", then "the agent
                                         //   has started (or failed)"
    int gate[2];                         // supervisor -> init: a byte to start the agent; EOF not to
    void *stack;
};

enum { STACK_SIZE = 256 * 1024 };

// Raw system calls for init once the supervisor runs again: init shares the supervisor's
// thread-local storage, so it must not write errno behind the supervisor's back.
MPM_CHILD static inline long raw6(long n, long a, long b, long c, long d, long e) {
    long ret;
#if defined(__x86_64__)
    register long r10 __asm__("r10") = d;
    register long r8 __asm__("r8") = e;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10), "r"(r8) : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register long x8 __asm__("x8") = n;
    register long x0 __asm__("x0") = a;
    register long x1 __asm__("x1") = b;
    register long x2 __asm__("x2") = c;
    register long x3 __asm__("x3") = d;
    register long x4 __asm__("x4") = e;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4) : "memory");
    ret = x0;
#else
#error "mpm-run's launcher supports x86_64 and aarch64"
#endif
    return ret;
}

MPM_CHILD static void fail(struct mpm_run *r, int step) {
    r->err = errno;
    r->step = step;
    _exit(127);
}

MPM_CHILD static int write_file(const char *path, const char *text) {
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
MPM_CHILD static void write_id_maps(struct mpm_run *r) {
    const struct mpm_launch_spec *s = r->spec;
    if (write_file("/proc/self/setgroups", "deny") != 0) fail(r, MPM_STEP_ID_MAPS);
    if (write_file("/proc/self/uid_map", s->uid_map) != 0) fail(r, MPM_STEP_ID_MAPS);
    if (write_file("/proc/self/gid_map", s->gid_map) != 0) fail(r, MPM_STEP_ID_MAPS);
}

// Raw calls: glibc's wrappers would broadcast the change to every thread it believes this
// process has, which are the supervisor's.
MPM_CHILD static void become(struct mpm_run *r, uid_t uid, gid_t gid) {
    if (syscall(SYS_setgroups, 0, NULL) != 0) fail(r, MPM_STEP_SETGROUPS);
    if (syscall(SYS_setresgid, gid, gid, gid) != 0) fail(r, MPM_STEP_SETGID);
    if (syscall(SYS_setresuid, uid, uid, uid) != 0) fail(r, MPM_STEP_SETUID);
}

MPM_CHILD static void set_capabilities(struct mpm_run *r, uint64_t keep) {
    struct __user_cap_header_struct header = {_LINUX_CAPABILITY_VERSION_3, 0};
    struct __user_cap_data_struct data[2];
    memset(data, 0, sizeof data);
    data[0].effective = data[0].permitted = data[0].inheritable = (uint32_t)keep;
    data[1].effective = data[1].permitted = data[1].inheritable = (uint32_t)(keep >> 32);
    if (syscall(SYS_capset, &header, data) != 0) fail(r, MPM_STEP_CAPSET);
}

MPM_CHILD static void drop_bounding_set(struct mpm_run *r) {
    for (int cap = 0; cap <= r->spec->last_cap; cap++) {
        if (r->spec->keep_caps & (1ULL << cap)) continue;
        if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0 && errno != EINVAL) fail(r, MPM_STEP_BOUNDING_SET);
    }
}

// Hands the seccomp listener to the supervisor over a unix socket (SCM_RIGHTS).
MPM_CHILD static void send_listener(struct mpm_run *r, int sock, int listener) {
    char byte = 'L';
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof control);
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &listener, sizeof(int));
    if (sendmsg(sock, &msg, MSG_NOSIGNAL) != 1) fail(r, MPM_STEP_SECCOMP_LISTENER);
    close(listener);
}

MPM_CHILD static void move_fd(struct mpm_run *r, int from, int to) {
    if (from == to) {
        if (fcntl(to, F_SETFD, 0) != 0) fail(r, MPM_STEP_STDIO);
    } else if (dup2(from, to) != to) {
        fail(r, MPM_STEP_STDIO);
    }
}

MPM_CHILD static void reset_signal_handlers(void) {
#ifdef MPM_TSAN
    // The kernel's struct sigaction, all zero: SIG_DFL, no flags, an empty mask.
    unsigned long dfl[4];
    memset(dfl, 0, sizeof dfl);
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        syscall(SYS_rt_sigaction, (long)sig, dfl, NULL, 8L);
    }
#else
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    for (int sig = 1; sig < NSIG; sig++) {
        if (sig == SIGKILL || sig == SIGSTOP) continue;
        sigaction(sig, &dfl, NULL);  // EINVAL for glibc's internal signals: harmless
    }
#endif
}

// Real-time or deadline scheduling, a negative nice value and real-time I/O priority come from
// whoever started mpm-run (chrt, nice, ionice) and survive clone and execve. With them a busy
// agent starves its own supervisor on a CPU (its timeout never fires). Init drops them, so the
// agent starts with none; a lower priority (a positive nice value, idle I/O) is kept. Lowering
// one's own priority needs no privilege. The agent cannot take them back: its RLIMIT_RTPRIO and
// RLIMIT_NICE are 0 (Rlimits.swift) and it has no CAP_SYS_NICE (unless a profile keeps it).
MPM_CHILD static void reset_scheduling(struct mpm_run *r) {
    int policy = sched_getscheduler(0);
    if (policy < 0) fail(r, MPM_STEP_SCHEDULING);
    policy &= ~SCHED_RESET_ON_FORK;
    if (policy != SCHED_OTHER && policy != SCHED_BATCH && policy != SCHED_IDLE) {
        struct sched_param normal;
        memset(&normal, 0, sizeof normal);
        if (sched_setscheduler(0, SCHED_OTHER, &normal) != 0) fail(r, MPM_STEP_SCHEDULING);
    }
    // The raw call answers 20 - nice (1 to 40), never a negative number but an error.
    long twenty_minus_nice = raw6(SYS_getpriority, PRIO_PROCESS, 0, 0, 0, 0);
    if (twenty_minus_nice < 0) fail(r, MPM_STEP_SCHEDULING);
    if (twenty_minus_nice > 20 && setpriority(PRIO_PROCESS, 0, 0) != 0) fail(r, MPM_STEP_SCHEDULING);
    // ioprio: the class in the top bits (IOPRIO_CLASS_SHIFT 13); class 1 is real-time. Class 0
    // (none) lets the kernel derive best-effort from the nice value, as for any process.
    long io = raw6(SYS_ioprio_get, 1 /* IOPRIO_WHO_PROCESS */, 0, 0, 0, 0);
    if (io == -ENOSYS) return;  // a kernel without I/O priorities: none to drop
    if (io < 0) fail(r, MPM_STEP_SCHEDULING);
    if ((io >> 13) == 1 && syscall(SYS_ioprio_set, 1, 0, 0L) != 0) fail(r, MPM_STEP_SCHEDULING);
}

// The agent, pid 2: the rest of the recipe, in order. Capabilities before no_new_privs,
// no_new_privs before Landlock and seccomp (both require it), seccomp last so that its filter
// never sees the setup's own calls. Runs while init waits (vfork), on init's second stack.
MPM_CHILD static int agent_main(void *arg) {
    struct mpm_run *r = arg;
    const struct mpm_launch_spec *s = r->spec;

    reset_signal_handlers();
    sigset_t none;
    sigemptyset(&none);
    if (sigprocmask(SIG_SETMASK, &none, NULL) != 0) fail(r, MPM_STEP_SIGNALS);

    if (setsid() < 0) fail(r, MPM_STEP_SETSID);
    move_fd(r, s->stdin_fd, 0);
    move_fd(r, s->stdout_fd, 1);
    move_fd(r, s->stderr_fd, 2);
    // Only the ruleset fd and the listener socket are still needed (until execve): they move
    // to 3 and 4, and everything above is closed now, not at execve. A supervisor with many
    // runs holds thousands of fds, and the seccomp listener must get a number below the
    // agent's RLIMIT_NOFILE.
    int ruleset = s->landlock_ruleset_fd, sock = s->seccomp_listener_socket;
    if (ruleset >= 0 && (ruleset = fcntl(ruleset, F_DUPFD_CLOEXEC, 5)) < 0) fail(r, MPM_STEP_CLOSE_FDS);
    if (sock >= 0 && (sock = fcntl(sock, F_DUPFD_CLOEXEC, 5)) < 0) fail(r, MPM_STEP_CLOSE_FDS);
    if (ruleset >= 0 && (ruleset = dup3(ruleset, 3, O_CLOEXEC)) != 3) fail(r, MPM_STEP_CLOSE_FDS);
    if (sock >= 0 && (sock = dup3(sock, 4, O_CLOEXEC)) != 4) fail(r, MPM_STEP_CLOSE_FDS);
    if (ruleset < 0) close(3);
    if (sock < 0) close(4);
    if (syscall(SYS_close_range, 5, ~0U, 0) != 0) fail(r, MPM_STEP_CLOSE_FDS);
    if (s->cwd && chdir(s->cwd) != 0) fail(r, MPM_STEP_CHDIR);

    for (int i = 0; i < s->rlimit_count; i++) {
        struct rlimit rl = {s->rlimits[i].soft, s->rlimits[i].hard};
        if (setrlimit(s->rlimits[i].resource, &rl) != 0) fail(r, MPM_STEP_RLIMIT);
    }
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(r, MPM_STEP_PDEATHSIG);

    if (s->identity != MPM_IDENTITY_ROOT_KEEP_CAPS) drop_bounding_set(r);
    set_capabilities(r, s->keep_caps);
    if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) fail(r, MPM_STEP_AMBIENT);
    for (int cap = 0; cap <= s->last_cap; cap++) {
        if (!(s->keep_caps & (1ULL << cap))) continue;
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0) fail(r, MPM_STEP_AMBIENT);
    }

    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) fail(r, MPM_STEP_NO_NEW_PRIVS);
    if (ruleset >= 0 && syscall(SYS_landlock_restrict_self, ruleset, s->landlock_restrict_flags) != 0)
        fail(r, MPM_STEP_LANDLOCK);

    if (s->seccomp_filter) {
        struct sock_fprog prog;
        memset(&prog, 0, sizeof prog);
        prog.len = s->seccomp_length;
        prog.filter = (struct sock_filter *)s->seccomp_filter;
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, s->seccomp_flags, &prog);
        if (fd < 0) fail(r, MPM_STEP_SECCOMP);
        if (s->seccomp_flags & SECCOMP_FILTER_FLAG_NEW_LISTENER) send_listener(r, sock, (int)fd);
    }

    // The filter may allow exactly this call: these three pointers (see SeccompFilter).
    syscall(SYS_execve, s->path, s->argv, s->envp);
    fail(r, MPM_STEP_EXECVE);
    return 127;
}

// Init, pid 1 of the run's PID namespace. An agent that were pid 1 itself would have
// every default-action signal dropped (SIGXCPU, SIGXFSZ, SIGPIPE, SIGTERM...), so init
// starts the agent as pid 2, reaps whatever is orphaned, and exits when the agent does;
// the kernel then kills every process left in the namespace. It takes the run's identity
// first, so the agent inherits it.
MPM_CHILD static int init_main(void *arg) {
    struct mpm_run *r = arg;
    const struct mpm_launch_spec *s = r->spec;

    // All signals stay blocked in init; none of the supervisor's handlers may run here.
    reset_signal_handlers();
    reset_scheduling(r);

    // Join the run's cgroups first (as root), so that everything init starts is counted.
    for (int i = 0; i < s->cgroup_count; i++) {
        if (write(s->cgroup_procs_fds[i], "0", 1) != 1) fail(r, MPM_STEP_CGROUP);
    }

    switch (s->identity) {
    case MPM_IDENTITY_USERNS:
        // "Dumpable" belongs to the memory init shares with the supervisor, and an earlier
        // run's init cleared it (below); without it /proc/self is root's and the maps cannot
        // be written. Launches are serialised (Runner.launchLock), so this one sets it back
        // only for the instant of its own setup; the agents of running runs still cannot reach
        // the supervisor: Landlock refuses ptrace-mode access outside their domain, and
        // seccomp denies ptrace and process_vm_readv.
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail(r, MPM_STEP_USERNS);
        write_id_maps(r);
        break;
    case MPM_IDENTITY_ROOT_THEN_USERNS:
        become(r, s->uid, s->gid);
        // Changing uid cleared "dumpable", which hands /proc/self to root; without it we
        // could not write our own id maps.
        if (prctl(PR_SET_DUMPABLE, 1, 0, 0, 0) != 0) fail(r, MPM_STEP_USERNS);
        if (unshare(CLONE_NEWUSER) != 0) fail(r, MPM_STEP_USERNS);
        write_id_maps(r);
        break;
    case MPM_IDENTITY_ROOT_KEEP_CAPS:
        // Still full root: the bounding set can be cut now, while CAP_SETPCAP is effective.
        drop_bounding_set(r);
        if (prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0) fail(r, MPM_STEP_KEEPCAPS);
        become(r, s->uid, s->gid);
        break;
    }
    // Init shares the supervisor's memory: nothing outside may ptrace it or read /proc/1/mem.
    if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) fail(r, MPM_STEP_PDEATHSIG);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) fail(r, MPM_STEP_PDEATHSIG);

    // The gate: init is ready, and waits while the supervisor records the run's start (mpm_start).
    // The supervisor runs meanwhile: raw calls only until it waits again. EOF instead of the
    // byte (the record failed): no agent.
    close(r->gate[1]);  // init's copy: the supervisor's must be the last writer
    // Raw from this write on: the byte wakes the supervisor, and glibc's write would go on
    // touching the launching thread's state after the syscall.
    char ready = 'R';
    long wrote = raw6(SYS_write, r->notify[1], (long)&ready, 1, 0, 0);
    if (wrote != 1) {
        r->err = wrote < 0 ? (int)-wrote : EIO;
        r->step = MPM_STEP_GATE;
        raw6(SYS_exit_group, 127, 0, 0, 0, 0);
    }
    char go = 0;
    long got;
    do {
        got = raw6(SYS_read, r->gate[0], (long)&go, 1, 0, 0);
    } while (got == -EINTR);
    if (got != 1) raw6(SYS_exit_group, 125, 0, 0, 0, 0);
    // The supervisor waits in mpm_start again until the agent has called execve.

    char *agent_stack_top = (char *)r->stack + STACK_SIZE / 2;
    pid_t agent = clone(agent_main, agent_stack_top, CLONE_VM | CLONE_VFORK | SIGCHLD, r);
    if (agent < 0) fail(r, MPM_STEP_CLONE);

    // From here on the supervisor runs again: raw calls only (no errno).
    char byte = 1;
    raw6(SYS_write, r->notify[1], (long)&byte, 1, 0, 0);
    raw6(SYS_close, r->notify[1], 0, 0, 0, 0);
    if (r->step != MPM_STEP_NONE) raw6(SYS_exit_group, 127, 0, 0, 0, 0);

    for (;;) {
        siginfo_t info;
        memset(&info, 0, sizeof info);
        long rc = raw6(SYS_waitid, P_ALL, 0, (long)&info, WEXITED, 0);
        if (rc == -EINTR) continue;
        if (rc < 0) break;
        if (info.si_pid == agent) {
            r->agent_code = info.si_code;
            r->agent_status = info.si_status;
            r->agent_recorded = 1;
            break;
        }
    }
    raw6(SYS_exit_group, 0, 0, 0, 0, 0);
    return 0;
}

#ifdef MPM_TSAN
// The supervisor's side keeps the sanitizer's interceptors.
#undef memset
#undef strlen
#undef sigemptyset
#undef open
#undef write
#undef close
#undef prctl
#undef dup2
#undef dup3
#undef sendmsg
#undef sigprocmask
#undef _exit
#endif

int mpm_launch(const struct mpm_launch_spec *spec, struct mpm_launch_result *result) {
#ifdef MPM_TSAN
    pthread_once(&mpm_real_clone_once, mpm_find_real_clone);
    if (!mpm_real_clone) {
        memset(result, 0, sizeof *result);
        result->pidfd = -1;
        result->failed_step = MPM_STEP_CLONE;
        result->failed_errno = ENOSYS;
        errno = ENOSYS;
        return -1;
    }
#endif
    memset(result, 0, sizeof *result);
    result->pidfd = -1;
    struct mpm_run *r = calloc(1, sizeof *r);
    if (!r) goto fail_early;
    r->spec = spec;
    r->stack = mmap(NULL, STACK_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
    if (r->stack == MAP_FAILED) { free(r); goto fail_early; }
    if (pipe2(r->notify, O_CLOEXEC) != 0) { munmap(r->stack, STACK_SIZE); free(r); goto fail_early; }
    // A socket pair, not a pipe: the byte is sent with MSG_NOSIGNAL, so an init that is gone
    // costs an EPIPE, not a SIGPIPE.
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, r->gate) != 0) {
        close(r->notify[0]);
        close(r->notify[1]);
        munmap(r->stack, STACK_SIZE);
        free(r);
        goto fail_early;
    }

    // Blocked until init reports: no handler can run in init, and the wait below sees no EINTR.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);

    // A PID namespace (the run ends with its init) and an IPC namespace (SysV shared memory
    // and message queues die with the run instead of outliving it beyond its memory limit).
    int flags = CLONE_VM | CLONE_PIDFD | SIGCHLD;
    if (spec->new_pid_ns) flags |= CLONE_NEWPID | CLONE_NEWIPC;
    if (spec->identity == MPM_IDENTITY_USERNS) flags |= CLONE_NEWUSER;
    int pidfd = -1;
    pid_t pid = clone(init_main, (char *)r->stack + STACK_SIZE, flags, r, &pidfd);
    int clone_errno = errno;
    close(r->notify[1]);
    close(r->gate[0]);
    if (pid > 0) {
        char byte;
        // EOF without a byte: init failed before its gate (its step is set).
        while (read(r->notify[0], &byte, 1) < 0 && errno == EINTR) {}
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);

    if (pid < 0 || r->step != MPM_STEP_NONE) {
        close(r->notify[0]);
        close(r->gate[1]);
    }
    if (pid < 0) {
        munmap(r->stack, STACK_SIZE);
        free(r);
        result->failed_step = MPM_STEP_CLONE;
        result->failed_errno = clone_errno;
        errno = clone_errno;
        return -1;
    }
    result->pid = pid;
    result->run = r;
    if (r->step != MPM_STEP_NONE) {
        int status;
        while (waitpid(pid, &status, __WALL) < 0 && errno == EINTR) {}
        close(pidfd);
        result->failed_step = r->step;
        result->failed_errno = r->err;
        result->run = NULL;
        munmap(r->stack, STACK_SIZE);
        free(r);
        return 0;
    }
    result->pidfd = pidfd;
    return 0;

fail_early:
    result->failed_step = MPM_STEP_CLONE;
    result->failed_errno = errno;
    return -1;
}

void mpm_start(struct mpm_run *r, int go, int *failed_step, int *failed_errno) {
    *failed_step = MPM_STEP_NONE;
    *failed_errno = 0;
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, &old);
    int opened = 0;
    if (go) {
        char byte = 'G';
        ssize_t n;
        do { n = send(r->gate[1], &byte, 1, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
        opened = n == 1;
        if (!opened) *failed_errno = errno;
    }
    // From the byte on, the agent runs on our memory and thread-local storage and its glibc
    // calls may write this thread's errno: nothing here reads errno after the send.
    close(r->gate[1]);
    // Until the agent has called execve (or failed): it runs on init's memory, which is ours.
    char byte;
    ssize_t got;
    while ((got = read(r->notify[0], &byte, 1)) < 0 && errno == EINTR) {}
    close(r->notify[0]);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    // Init sends the byte once its clone of the agent has returned: the agent has called execve
    // or ended, and the lower half of the stack, where it ran, is not used again. Its pages go
    // back now rather than when the run ends (init stays, waiting, on the upper half), so a run
    // that only waits holds one page of stack here, not two. Not on EOF: an init killed from
    // outside may leave its agent still running here for a moment.
    if (got == 1) madvise(r->stack, STACK_SIZE / 2, MADV_DONTNEED);
    if (!opened) {
        *failed_step = MPM_STEP_GATE;
    } else if (r->step != MPM_STEP_NONE) {
        *failed_step = r->step;
        *failed_errno = r->err;
    }
    r->spec = NULL;
}

void mpm_release(struct mpm_run *r) {
    if (!r) return;
    munmap(r->stack, STACK_SIZE);
    free(r);
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

void mpm_random(void *buf, size_t len) {
    size_t got = 0;
    while (got < len) {
        ssize_t n = getrandom((char *)buf + got, len - got, 0);
        if (n > 0) got += (size_t)n;
    }
}

int mpm_pipe(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int mpm_pidfd_kill(int pidfd, int sig) {
    return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0);
}

int mpm_wait_run(struct mpm_run *run, int pidfd, struct mpm_exit *out) {
    siginfo_t info;
    struct rusage usage;
    memset(&info, 0, sizeof info);
    memset(&usage, 0, sizeof usage);
    // The raw waitid takes a fifth argument, the rusage glibc's wrapper leaves out.
    long r;
    do {
        r = syscall(SYS_waitid, 3 /* P_PIDFD */, pidfd, &info, WEXITED, &usage);
    } while (r < 0 && errno == EINTR);
    // ECHILD: init was reaped without us (SIGCHLD ignored, which mpm-run undoes at start); how
    // the agent ended is still known if init saw it.
    if (r < 0 && !(run && run->agent_recorded)) return -1;
    // Init records how the agent ended; if init was killed first (timeout, cancel), that is the end.
    int code = run && run->agent_recorded ? run->agent_code : info.si_code;
    int status = run && run->agent_recorded ? run->agent_status : info.si_status;
    out->exited = code == CLD_EXITED;
    out->status = status;
    out->max_rss_kb = usage.ru_maxrss;
    out->user_usec = (int64_t)usage.ru_utime.tv_sec * 1000000 + usage.ru_utime.tv_usec;
    out->system_usec = (int64_t)usage.ru_stime.tv_sec * 1000000 + usage.ru_stime.tv_usec;
    return 0;
}

int mpm_termination_signalfd(void) {
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGHUP);
    sigaddset(&set, SIGQUIT);
    sigset_t old;
    if (pthread_sigmask(SIG_BLOCK, &set, &old) != 0) return -1;
    int fd = signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK);
    if (fd < 0) {
        // Blocked with nobody reading them, the signals would be lost: put the mask back.
        int e = errno;
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        errno = e;
    }
    return fd;
}

int mpm_read_signal(int fd) {
    struct signalfd_siginfo info;
    ssize_t n = read(fd, &info, sizeof info);
    return n == sizeof info ? (int)info.ssi_signo : 0;
}

int mpm_eventfd(void) {
    return eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
}

void mpm_eventfd_signal(int fd) {
    uint64_t one = 1;
    while (write(fd, &one, sizeof one) < 0 && errno == EINTR) {}
}

void mpm_eventfd_clear(int fd) {
    uint64_t value;
    while (read(fd, &value, sizeof value) < 0 && errno == EINTR) {}
}

// MARK: - Seccomp user notification (the supervisor's side)

int mpm_socketpair(int fds[2]) {
    return socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, fds);
}

int mpm_receive_fd(int sock) {
    char byte;
    struct iovec iov = {&byte, 1};
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {0};
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC | MSG_DONTWAIT); } while (n < 0 && errno == EINTR);
    if (n != 1) return -1;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    if (!cm || cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) { errno = EPROTO; return -1; }
    int fd;
    memcpy(&fd, CMSG_DATA(cm), sizeof fd);
    return fd;
}

int mpm_notif_receive(int listener, struct mpm_notification *out) {
    struct seccomp_notif notif;
    memset(&notif, 0, sizeof notif);  // the kernel refuses a request that is not zeroed
    if (ioctl(listener, SECCOMP_IOCTL_NOTIF_RECV, &notif) != 0) return -1;
    out->id = notif.id;
    out->pid = notif.pid;
    out->nr = notif.data.nr;
    out->arch = notif.data.arch;
    for (int i = 0; i < 6; i++) out->args[i] = notif.data.args[i];
    return 0;
}

int mpm_notif_deny(int listener, uint64_t id, int error) {
    struct seccomp_notif_resp resp;
    memset(&resp, 0, sizeof resp);
    resp.id = id;
    resp.error = -error;
    return ioctl(listener, SECCOMP_IOCTL_NOTIF_SEND, &resp);
}
