#ifndef MPM_LAUNCHER_H
#define MPM_LAUNCHER_H

// The code that runs between clone and execve. Nothing here may allocate, take a lock or
// touch Swift's runtime: Swift prepares every byte the child needs (argv, envp, the seccomp
// program, the Landlock ruleset, the rlimit table, the uid/gid map lines) and the child only
// makes system calls, in the order mpm_launch's child function lists them.

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// Steps of the child, reported when one fails (with its errno).
enum mpm_step {
    MPM_STEP_NONE = 0,
    MPM_STEP_SIGNALS,
    MPM_STEP_SETGROUPS,
    MPM_STEP_SETGID,
    MPM_STEP_SETUID,
    MPM_STEP_KEEPCAPS,
    MPM_STEP_USERNS,
    MPM_STEP_ID_MAPS,
    MPM_STEP_SETSID,
    MPM_STEP_STDIO,
    MPM_STEP_CLOSE_FDS,
    MPM_STEP_CHDIR,
    MPM_STEP_RLIMIT,
    MPM_STEP_PDEATHSIG,
    MPM_STEP_BOUNDING_SET,
    MPM_STEP_CAPSET,
    MPM_STEP_AMBIENT,
    MPM_STEP_NO_NEW_PRIVS,
    MPM_STEP_LANDLOCK,
    MPM_STEP_SECCOMP,
    MPM_STEP_SECCOMP_LISTENER,
    MPM_STEP_EXECVE,
    MPM_STEP_CLONE,
    MPM_STEP_CGROUP,
    MPM_STEP_GATE,
    MPM_STEP_SCHEDULING,
};

// How the child gets its identity.
enum mpm_identity {
    // Not root: a new user namespace (from clone) mapping our own uid and gid to themselves.
    MPM_IDENTITY_USERNS = 1,
    // Root: become uid/gid, then enter a new user namespace mapping them to themselves.
    MPM_IDENTITY_ROOT_THEN_USERNS = 2,
    // Root keeping capabilities (system_config): become uid/gid keeping the `keep_caps` set,
    // raised as ambient so they survive execve. No user namespace: its capabilities would be
    // worthless outside it.
    MPM_IDENTITY_ROOT_KEEP_CAPS = 3,
};

struct mpm_rlimit {
    int resource;
    uint64_t soft;
    uint64_t hard;
};

struct mpm_launch_spec {
    const char *path;
    char *const *argv;
    char *const *envp;
    const char *cwd;

    int stdin_fd;
    int stdout_fd;
    int stderr_fd;

    const struct mpm_rlimit *rlimits;
    int rlimit_count;

    int identity;           // enum mpm_identity
    uid_t uid;
    gid_t gid;
    const char *uid_map;    // "U U 1\n", written into the new user namespace
    const char *gid_map;
    int new_pid_ns;

    int last_cap;           // /proc/sys/kernel/cap_last_cap
    uint64_t keep_caps;     // bit n: keep capability n (MPM_IDENTITY_ROOT_KEEP_CAPS only)

    const int *cgroup_procs_fds;    // cgroup.procs of the run's cgroups: init joins each first
    int cgroup_count;

    int landlock_ruleset_fd;        // -1: none
    unsigned int landlock_restrict_flags;  // landlock_restrict_self's (LOG_* flags, ABI 7)
    const void *seccomp_filter;     // struct sock_filter[]
    unsigned short seccomp_length;  // instructions
    unsigned int seccomp_flags;
    int seccomp_listener_socket;    // with SECCOMP_FILTER_FLAG_NEW_LISTENER: send the fd here; else -1
};

// One run's launch state (opaque): freed with mpm_release once the run is reaped.
struct mpm_run;

struct mpm_launch_result {
    pid_t pid;              // the run's init (pid 1 of its PID namespace), as the supervisor sees it
    int pidfd;              // for init
    struct mpm_run *run;    // release after mpm_wait_run
    int failed_step;    // enum mpm_step, 0 when the program was executed
    int failed_errno;
};

// Starts a run in two steps, so that nothing of the agent runs before the supervisor has
// recorded the run's start. mpm_launch makes its init (pid 1 of a new PID namespace, with
// the run's identity and cgroups) and returns once init waits at its gate, before the agent
// exists. Returns 0, or -1 when clone itself failed (errno set, failed_step MPM_STEP_CLONE).
// When init failed (failed_step set), it has been reaped.
int mpm_launch(const struct mpm_launch_spec *spec, struct mpm_launch_result *result);
// Opens init's gate (go != 0): init starts the agent, as its pid 2, and this returns once
// the agent has called execve, or failed before it (*failed_step, *failed_errno; init then
// exits 127). With go == 0 init exits 125 and no agent is started. The spec given to
// mpm_launch, and everything it points to, must stay valid until this returns. Either way
// the caller then waits for init and releases the run as usual.
void mpm_start(struct mpm_run *run, int go, int *failed_step, int *failed_errno);
// Frees what mpm_launch allocated; only after the run's init has been reaped.
void mpm_release(struct mpm_run *run);

// Landlock, which glibc does not wrap. The constants above ABI 2 are defined here because
// Debian 12's headers stop there.
#define MPM_LL_ACCESS_FS_EXECUTE     (1ULL << 0)
#define MPM_LL_ACCESS_FS_WRITE_FILE  (1ULL << 1)
#define MPM_LL_ACCESS_FS_READ_FILE   (1ULL << 2)
#define MPM_LL_ACCESS_FS_READ_DIR    (1ULL << 3)
#define MPM_LL_ACCESS_FS_REMOVE_DIR  (1ULL << 4)
#define MPM_LL_ACCESS_FS_REMOVE_FILE (1ULL << 5)
#define MPM_LL_ACCESS_FS_MAKE_CHAR   (1ULL << 6)
#define MPM_LL_ACCESS_FS_MAKE_DIR    (1ULL << 7)
#define MPM_LL_ACCESS_FS_MAKE_REG    (1ULL << 8)
#define MPM_LL_ACCESS_FS_MAKE_SOCK   (1ULL << 9)
#define MPM_LL_ACCESS_FS_MAKE_FIFO   (1ULL << 10)
#define MPM_LL_ACCESS_FS_MAKE_BLOCK  (1ULL << 11)
#define MPM_LL_ACCESS_FS_MAKE_SYM    (1ULL << 12)
#define MPM_LL_ACCESS_FS_REFER       (1ULL << 13)   // ABI 2
#define MPM_LL_ACCESS_FS_TRUNCATE    (1ULL << 14)   // ABI 3
#define MPM_LL_ACCESS_FS_IOCTL_DEV   (1ULL << 15)   // ABI 5
#define MPM_LL_ACCESS_NET_BIND_TCP    (1ULL << 0)   // ABI 4
#define MPM_LL_ACCESS_NET_CONNECT_TCP (1ULL << 1)   // ABI 4
#define MPM_LL_SCOPE_ABSTRACT_UNIX_SOCKET (1ULL << 0)  // ABI 6
#define MPM_LL_SCOPE_SIGNAL               (1ULL << 1)  // ABI 6

// A ruleset fd, or -1. `abi` decides how much of the attribute the kernel is given.
int mpm_landlock_create_ruleset(int abi, uint64_t handled_fs, uint64_t handled_net, uint64_t scoped);
// Grants `access` beneath the file or folder `path` (opened O_PATH here). 0 or -1.
int mpm_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access);



// An anonymous memory file (memfd_create, hidden from Swift without _GNU_SOURCE).
int mpm_memfd(const char *name);
// Fills `buf` from the kernel's random pool (getrandom).
void mpm_random(void *buf, size_t len);
// pipe2(O_CLOEXEC).
int mpm_pipe(int fds[2]);
// pidfd_send_signal: signals exactly the child we started, never a recycled pid.
int mpm_pidfd_kill(int pidfd, int sig);

struct mpm_exit {
    int exited;         // 1: exited with `status`; 0: killed by signal `status`
    int status;
    long max_rss_kb;
    int64_t user_usec;
    int64_t system_usec;
};
// Reaps the run's init (waitid P_PIDFD, with its resource usage, which includes the agent's)
// and reports how the agent ended. 0 or -1.
int mpm_wait_run(struct mpm_run *run, int pidfd, struct mpm_exit *out);
// A unix socket pair (SOCK_SEQPACKET, close-on-exec) to hand the seccomp listener over.
int mpm_socketpair(int fds[2]);
// Receives one fd sent with SCM_RIGHTS (without waiting), or -1.
int mpm_receive_fd(int sock);

// One denied system call, as seccomp's user notification reports it.
struct mpm_notification {
    uint64_t id;
    uint32_t pid;       // in the supervisor's PID namespace
    int32_t nr;
    uint32_t arch;
    uint64_t args[6];
};
// SECCOMP_IOCTL_NOTIF_RECV. 0 or -1 (ENOENT: the caller died meanwhile).
int mpm_notif_receive(int listener, struct mpm_notification *out);
// Answers the notification: the call fails with `error`. Deciding to deny is race-free;
// the supervisor never allows a call on the strength of its (changeable) arguments.
int mpm_notif_deny(int listener, uint64_t id, int error);

// Blocks SIGINT, SIGTERM, SIGHUP and SIGQUIT in the calling thread and returns a
// signalfd for them, so the supervisor's poll loop handles them like any other event; -1
// (errno set, the mask as it was) when there is no signalfd.
int mpm_termination_signalfd(void);
// The signal number read from such a signalfd, or 0.
int mpm_read_signal(int fd);

/// A non-blocking, close-on-exec eventfd: one thread wakes another's poll with it.
int mpm_eventfd(void);
/// Makes the eventfd readable; `mpm_eventfd_clear` reads it back to unreadable.
void mpm_eventfd_signal(int fd);
void mpm_eventfd_clear(int fd);
#endif
