// mpm-probe: the attacker inside the sandbox, for the end-to-end tests.
// Each subcommand tries one thing and prints one line:
//   "<name>: ok ..."         it worked
//   "<name>: denied <ERRNO>" it failed with that errno
// and exits 0 when it worked, 1 when denied. Tests assert on both.
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <linux/perf_event.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>
#include <pthread.h>

static const char *ename(int e) {
    switch (e) {
    case EPERM: return "EPERM";
    case EACCES: return "EACCES";
    case ENOSYS: return "ENOSYS";
    case EAGAIN: return "EAGAIN";
    case ENOENT: return "ENOENT";
    case EFBIG: return "EFBIG";
    case ENOMEM: return "ENOMEM";
    case EROFS: return "EROFS";
    case EXDEV: return "EXDEV";
    case EINVAL: return "EINVAL";
    default: return strerror(e);
    }
}

static int report(const char *name, long rc) {
    if (rc >= 0) { printf("%s: ok\n", name); return 0; }
    printf("%s: denied %s\n", name, ename(errno));
    return 1;
}

static void *thread_main(void *arg) { return arg; }

// ---- Red-team attacks (RedTeamTests.swift). Same conventions: one line, 0 worked, 1 denied.
// Returns -1 when `t` is not one of these.
#include <sys/ipc.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <sys/shm.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/time.h>
#include <sys/timex.h>
#include <sys/inotify.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <sys/personality.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <poll.h>
#include <linux/seccomp.h>
#include <linux/filter.h>
#include <linux/sched.h>

#ifndef SYS_clone3
#define SYS_clone3 435
#endif
#ifndef SYS_mount_setattr
#define SYS_mount_setattr 442
#endif
#ifndef SYS_open_tree
#define SYS_open_tree 428
#endif
#ifndef SYS_move_mount
#define SYS_move_mount 429
#endif
#ifndef SYS_fsopen
#define SYS_fsopen 430
#endif
#ifndef SYS_pidfd_open
#define SYS_pidfd_open 434
#endif
#ifndef SYS_pidfd_getfd
#define SYS_pidfd_getfd 438
#endif
#ifndef SYS_execveat
#define SYS_execveat 322
#endif
#ifndef AT_EMPTY_PATH
#define AT_EMPTY_PATH 0x1000
#endif

// Reads /proc/<pid>/status and returns the value of `key` (e.g. "PPid:") as a number, or -1.
static long status_field(long pid, const char *key) {
    char path[64], line[256];
    if (pid > 0) snprintf(path, sizeof path, "/proc/%ld/status", pid);
    else snprintf(path, sizeof path, "/proc/self/status");
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    long v = -1;
    size_t k = strlen(key);
    while (fgets(line, sizeof line, f))
        if (!strncmp(line, key, k)) { v = strtol(line + k, NULL, 10); break; }
    fclose(f);
    return v;
}

// The supervisor's pid as the host sees it: our parent is the run's init, its parent mpm-run.
static long supervisor_pid(void) {
    long init = status_field(0, "PPid:");
    // /proc is the host's: PPid is a host pid unless the agent's own /proc says 0.
    if (init <= 0) return -1;
    return status_field(init, "PPid:");
}

static long init_pid(void) { return status_field(0, "PPid:"); }

static long target_pid(const char *a) {
    if (!strcmp(a, "supervisor")) return supervisor_pid();
    if (!strcmp(a, "init")) return init_pid();
    return atol(a);
}

// syscall(2) with the x32 bit set, through the native `syscall` instruction.
static long x32_syscall(long nr, long a1, long a2, long a3) {
    long ret;
    register long r10 __asm__("r10") = 0;
    __asm__ volatile("syscall" : "=a"(ret) : "a"(nr | 0x40000000L), "D"(a1), "S"(a2), "d"(a3), "r"(r10)
                     : "rcx", "r11", "memory");
    return ret;
}

// An i386 system call through int 0x80 (nr in the i386 table).
static long int80_syscall(long nr, long a1, long a2) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(nr), "b"(a1), "c"(a2) : "memory");
    return ret;
}

static int report_raw(const char *name, long rc) {
    if (rc >= 0) { printf("%s: ok\n", name); return 0; }
    errno = (int)-rc;
    return report(name, -1);
}

static int unix_connect(const char *path, int abstract) {
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    if (fd < 0) return -1;
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof sa);
    sa.sun_family = AF_UNIX;
    socklen_t len;
    if (abstract) {
        strncpy(sa.sun_path + 1, path, sizeof sa.sun_path - 2);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + strlen(path));
    } else {
        strncpy(sa.sun_path, path, sizeof sa.sun_path - 1);
        len = sizeof sa;
    }
    if (connect(fd, (struct sockaddr *)&sa, len) != 0) { int e = errno; close(fd); errno = e; return -1; }
    return fd;
}

static void *exec_thread(void *target) {
    char *args[] = {target, NULL};
    execv(target, args);
    return (void *)(long)errno;
}

int main(int argc, char **argv);

static int redteam(const char *t, int argc, char **argv) {
    if (!strcmp(t, "multi")) {  // each argument is one probe command line (words split at spaces), run in turn
        int last = 0;
        for (int i = 2; i < argc; i++) {
            char *words[16] = {argv[0]};
            int n = 1;
            char *copy = strdup(argv[i]);
            for (char *w = strtok(copy, " "); w && n < 15; w = strtok(NULL, " ")) words[n++] = w;
            words[n] = NULL;
            last = main(n, words);
        }
        return last;
    }
    const char *a = argc > 2 ? argv[2] : "";
    const char *b = argc > 3 ? argv[3] : "";
    const char *c = argc > 4 ? argv[4] : "";

    // -- seccomp: other ABIs, other spellings of the same call
    if (!strcmp(t, "x32-unshare")) return report_raw(t, x32_syscall(SYS_unshare, CLONE_NEWUSER, 0, 0));
    if (!strcmp(t, "x32-getpid")) return report_raw(t, x32_syscall(SYS_getpid, 0, 0, 0));
    if (!strcmp(t, "int80-unshare")) return report_raw(t, int80_syscall(310 /* i386 unshare */, CLONE_NEWUSER, 0));
    if (!strcmp(t, "int80-getpid")) return report_raw(t, int80_syscall(20 /* i386 getpid */, 0, 0));
    if (!strcmp(t, "clone3")) {
        struct clone_args ca;
        memset(&ca, 0, sizeof ca);
        ca.flags = CLONE_NEWUSER;
        ca.exit_signal = SIGCHLD;
        long pid = syscall(SYS_clone3, &ca, sizeof ca);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return report(t, pid);
    }
    if (!strcmp(t, "clone-ns")) {  // clone with one namespace flag (hex), plus high bits that the kernel drops
        unsigned long flags = strtoul(a, NULL, 16);
        long pid = syscall(SYS_clone, flags | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return report(t, pid);
    }
    if (!strcmp(t, "unshare")) return report(t, syscall(SYS_unshare, strtoul(a, NULL, 16)));
    if (!strcmp(t, "setns")) {
        int fd = open("/proc/self/ns/user", O_RDONLY);
        if (fd < 0) return report(t, -1);
        return report(t, syscall(SYS_setns, fd, 0));
    }
    if (!strcmp(t, "vfork")) {
        long pid = syscall(SYS_vfork);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return report(t, pid);
    }
    if (!strcmp(t, "clone-parent")) {  // a process, not a thread, made to look like one in part
        long pid = syscall(SYS_clone, CLONE_PARENT | CLONE_VM | CLONE_FS | CLONE_FILES | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        return report(t, pid);
    }
    if (!strcmp(t, "execveat")) {  // exec an fd: execveat(fd, "", AT_EMPTY_PATH), i.e. fexecve
        int fd = open(a, O_RDONLY);
        if (fd < 0) return report(t, -1);
        char *args[] = {(char *)a, NULL};
        char *env[] = {NULL};
        syscall(SYS_execveat, fd, "", args, env, AT_EMPTY_PATH);
        return report(t, -1);
    }
    if (!strcmp(t, "exec-memfd")) {  // copy a program into a memfd and exec it by /proc/self/fd
        int src = open(a, O_RDONLY);
        int fd = (int)syscall(SYS_memfd_create, "x", 0);
        if (src < 0 || fd < 0) return report(t, -1);
        char buf[65536];
        long n;
        while ((n = read(src, buf, sizeof buf)) > 0) if (write(fd, buf, (size_t)n) != n) return report(t, -1);
        char path[64];
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        char *args[] = {path, NULL};
        execv(path, args);
        return report(t, -1);
    }
    if (!strcmp(t, "exec-thread")) {  // execve from a second thread
        pthread_t th;
        pthread_create(&th, NULL, exec_thread, (void *)a);
        void *r;
        pthread_join(th, &r);
        errno = (int)(long)r;
        return report(t, -1);
    }
    if (!strcmp(t, "socket-highbits")) {  // AF_INET with bits above the int the kernel reads
        long fd = syscall(SYS_socket, (long)AF_INET | (1L << 32), SOCK_STREAM, 0);
        return report(t, fd);
    }
    if (!strcmp(t, "socket-unix-highbits")) {
        long fd = syscall(SYS_socket, (long)AF_UNIX | (1L << 32), SOCK_STREAM, 0);
        return report(t, fd);
    }
    if (!strcmp(t, "socketpair-inet")) { int sv[2]; return report(t, socketpair(AF_INET, SOCK_STREAM, 0, sv)); }
    if (!strcmp(t, "tcp-connect")) {  // 127.0.0.1:<a>
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) return report(t, -1);
        struct sockaddr_in sin;
        memset(&sin, 0, sizeof sin);
        sin.sin_family = AF_INET;
        sin.sin_port = htons((uint16_t)atoi(a));
        sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        return report(t, connect(fd, (struct sockaddr *)&sin, sizeof sin));
    }
    if (!strcmp(t, "userfaultfd")) return report(t, syscall(SYS_userfaultfd, 0));
    if (!strcmp(t, "process-vm-readv")) {
        long pid = target_pid(a);
        char buf[8];
        struct iovec local = {buf, sizeof buf}, remote = {(void *)0x400000, sizeof buf};
        return report(t, syscall(SYS_process_vm_readv, pid, &local, 1, &remote, 1, 0));
    }
    if (!strcmp(t, "pidfd-getfd")) {  // steal fd `b` of process `a`
        long pid = target_pid(a);
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0) return report(t, -1);
        return report(t, syscall(SYS_pidfd_getfd, pfd, atoi(b), 0));
    }
    if (!strcmp(t, "pidfd-signal")) {  // pidfd_send_signal(SIGKILL) to `a`
        long pid = target_pid(a);
        int pfd = (int)syscall(SYS_pidfd_open, pid, 0);
        if (pfd < 0) return report(t, -1);
        return report(t, syscall(SYS_pidfd_send_signal, pfd, SIGKILL, NULL, 0));
    }
    if (!strcmp(t, "procfd-signal")) {  // pidfd_send_signal(sig c) through an fd of /proc/<a>: no pid lookup in our namespace
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld", target_pid(a));
        int fd = open(path, O_RDONLY | O_DIRECTORY);
        if (fd < 0) return report(t, -1);
        return report(t, syscall(SYS_pidfd_send_signal, fd, atoi(b), NULL, 0));
    }
    if (!strcmp(t, "kill-target")) return report(t, kill((pid_t)target_pid(a), SIGKILL));
    if (!strcmp(t, "sigio-target")) {  // F_SETOWN a pipe to `a`, then make it readable: SIGIO
        int p[2];
        if (pipe(p) != 0) return report(t, -1);
        fcntl(p[0], F_SETSIG, SIGKILL);
        if (fcntl(p[0], F_SETOWN, (int)target_pid(a)) != 0) return report(t, -1);
        fcntl(p[0], F_SETFL, O_ASYNC | O_NONBLOCK);
        write(p[1], "x", 1);
        usleep(200000);
        printf("%s: sent\n", t);
        return 0;
    }
    if (!strcmp(t, "personality")) {  // READ_IMPLIES_EXEC|ADDR_NO_RANDOMIZE are harmless; report what sticks
        long r = personality(0xffffffff);
        return report(t, personality((unsigned long)r | ADDR_NO_RANDOMIZE));
    }
    if (!strcmp(t, "seccomp-notify")) {  // our own user-notif filter on getppid: must not loosen the run's
        struct sock_filter f[] = {
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {1, f};
        long fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &prog);
        // EBUSY: the run's own filter already has the one listener a process may have.
        if (fd < 0 && errno == EBUSY) fd = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        if (fd < 0) return report(t, -1);
        // With our extra allow-all filter, the run's denials must still hold.
        long r = syscall(SYS_unshare, CLONE_NEWUSER);
        printf("%s: filter added; unshare %s\n", t, r == 0 ? "ok" : ename(errno));
        return r == 0 ? 0 : 1;
    }
    if (!strcmp(t, "prctl-dumpable")) return report(t, prctl(PR_SET_DUMPABLE, 1, 0, 0, 0));
    if (!strcmp(t, "tiocsti-high")) {  // TIOCSTI with bits above the 32-bit request
        char ch = 'x';
        return report(t, syscall(SYS_ioctl, 0, 0x5412L | (1L << 32), &ch));
    }

    // -- processes outside the run: the supervisor, the run's init, other runs
    if (!strcmp(t, "pids")) {  // our view: pid, ppid, and the host pids of init and mpm-run
        printf("pids: self %d ppid %d init %ld supervisor %ld\n", getpid(), getppid(), init_pid(), supervisor_pid());
        return 0;
    }
    if (!strcmp(t, "proc-read")) {  // read /proc/<a>/<b>, a = pid, "init" or "supervisor"
        char path[128];
        snprintf(path, sizeof path, "/proc/%ld/%s", target_pid(a), b);
        int fd = open(path, O_RDONLY);
        if (fd < 0) return report(t, -1);
        char buf[4096];
        long n = read(fd, buf, sizeof buf);
        close(fd);
        return report(t, n);
    }
    if (!strcmp(t, "proc-cat")) {  // print /proc/<a>/<b>
        char path[128], buf[8192];
        snprintf(path, sizeof path, "/proc/%ld/%s", target_pid(a), b);
        int fd = open(path, O_RDONLY);
        if (fd < 0) return report(t, -1);
        long n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n < 0) return report(t, -1);
        buf[n] = 0;
        for (long i = 0; i < n; i++) if (buf[i] == 0) buf[i] = ' ';
        printf("%s: %s\n", t, buf);
        return 0;
    }
    if (!strcmp(t, "proc-readlink")) {
        char path[128], target[512];
        snprintf(path, sizeof path, "/proc/%ld/%s", target_pid(a), b);
        long n = readlink(path, target, sizeof target - 1);
        return report(t, n);
    }
    if (!strcmp(t, "proc-open-through")) {  // open /proc/<a>/<b>/<c>: a file through another process's cwd/root
        char path[512];
        snprintf(path, sizeof path, "/proc/%ld/%s/%s", target_pid(a), b, c);
        int fd = open(path, O_RDONLY);
        if (fd < 0) return report(t, -1);
        char buf[16];
        return report(t, read(fd, buf, sizeof buf));
    }
    if (!strcmp(t, "proc-mem-read")) {  // read a word of /proc/<a>/mem at its stack (from /proc/<a>/stat if visible)
        char path[64];
        snprintf(path, sizeof path, "/proc/%ld/mem", target_pid(a));
        int fd = open(path, O_RDONLY);
        if (fd < 0) return report(t, -1);
        char buf[8];
        return report(t, pread(fd, buf, sizeof buf, 0x10000));
    }
    if (!strcmp(t, "cmdline-scan")) {  // look for `a` in every process's command line
        DIR *d = opendir("/proc");
        if (!d) return report(t, -1);
        struct dirent *e;
        int readable = 0, found = 0;
        char path[300], buf[65536];
        while ((e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            if (atol(e->d_name) == getpid()) continue;
            snprintf(path, sizeof path, "/proc/%s/cmdline", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            long n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0) continue;
            readable++;
            buf[n] = 0;
            for (long i = 0; i < n; i++) if (buf[i] == 0) buf[i] = ' ';
            if (*a && strstr(buf, a)) found++;
        }
        closedir(d);
        printf("%s: readable %d found %d\n", t, readable, found);
        return found ? 0 : 1;
    }
    if (!strcmp(t, "prlimit")) {  // lower resource `b` (number) of process `a` to `c`
        long pid = target_pid(a);
        struct rlimit rl = {(rlim_t)atol(c), (rlim_t)atol(c)};
        return report(t, prlimit((pid_t)pid, (enum __rlimit_resource)atoi(b), &rl, NULL));
    }
    if (!strcmp(t, "renice")) {  // setpriority(PRIO_PROCESS, a, 19)
        return report(t, setpriority(PRIO_PROCESS, (id_t)target_pid(a), 19));
    }
    if (!strcmp(t, "sched-idle")) {
        struct sched_param sp = {0};
        return report(t, sched_setscheduler((pid_t)target_pid(a), SCHED_IDLE, &sp));
    }

    // -- sockets that reach out without the network
    if (!strcmp(t, "unix-connect") || !strcmp(t, "abstract-connect")) {
        int fd = unix_connect(a, t[0] == 'a');
        if (fd < 0) return report(t, -1);
        char buf[128];
        struct pollfd p = {fd, POLLIN, 0};
        long n = poll(&p, 1, 2000) > 0 ? read(fd, buf, sizeof buf - 1) : 0;
        if (n < 0) n = 0;
        buf[n] = 0;
        printf("%s: ok %s\n", t, buf);
        return 0;
    }
    if (!strcmp(t, "proc-net-unix")) {  // count the named sockets /proc/net/unix shows, and look for `a`
        FILE *f = fopen("/proc/net/unix", "r");
        if (!f) return report(t, -1);
        char line[512];
        int named = 0, found = 0;
        while (fgets(line, sizeof line, f)) {
            if (strchr(line, '/')) named++;
            if (*a && strstr(line, a)) found++;
        }
        fclose(f);
        printf("%s: named %d found %d\n", t, named, found);
        return found ? 0 : 1;
    }

    // -- the file system: what Landlock does not cover
    if (!strcmp(t, "chmod")) return report(t, chmod(a, (mode_t)strtol(b, NULL, 8)));
    if (!strcmp(t, "utimes")) return report(t, utimes(a, NULL));
    if (!strcmp(t, "setxattr")) return report(t, setxattr(a, "user.mpm", "x", 1, 0));
    if (!strcmp(t, "chown")) return report(t, chown(a, (uid_t)atoi(b), (gid_t)-1));
    if (!strcmp(t, "link")) return report(t, link(a, b));
    if (!strcmp(t, "symlink")) return report(t, symlink(a, b));
    if (!strcmp(t, "rename")) return report(t, rename(a, b));
    if (!strcmp(t, "mkfifo")) return report(t, mkfifo(a, 0644));
    if (!strcmp(t, "mknod")) return report(t, mknod(a, S_IFCHR | 0666, makedev(1, 3)));
    if (!strcmp(t, "truncate")) return report(t, truncate(a, 0));
    if (!strcmp(t, "unlink")) return report(t, unlink(a));
    if (!strcmp(t, "mkdir")) return report(t, mkdir(a, 0755));
    if (!strcmp(t, "bind-unix")) {
        int fd = socket(AF_UNIX, SOCK_STREAM, 0);
        struct sockaddr_un sa;
        memset(&sa, 0, sizeof sa);
        sa.sun_family = AF_UNIX;
        strncpy(sa.sun_path, a, sizeof sa.sun_path - 1);
        return report(t, bind(fd, (struct sockaddr *)&sa, sizeof sa));
    }
    if (!strcmp(t, "list")) {  // opendir + count
        DIR *d = opendir(a);
        if (!d) return report(t, -1);
        int n = 0;
        while (readdir(d)) n++;
        closedir(d);
        printf("%s: ok %d\n", t, n);
        return 0;
    }
    if (!strcmp(t, "inotify")) {  // watch `a`; a watch on a folder reports the names created in it
        int fd = inotify_init1(0);
        if (fd < 0) return report(t, -1);
        return report(t, inotify_add_watch(fd, a, IN_CREATE | IN_OPEN));
    }
    if (!strcmp(t, "inotify-wait")) {  // watch folder `a` and print the first name created in it (or time out after 10 s)
        int fd = inotify_init1(0);
        if (fd < 0 || inotify_add_watch(fd, a, IN_CREATE) < 0) return report(t, -1);
        printf("%s: watching\n", t);
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 10000) <= 0) { errno = ETIMEDOUT; return report(t, -1); }
        char buf[4096] __attribute__((aligned(8)));
        long n = read(fd, buf, sizeof buf);
        if (n <= 0) return report(t, -1);
        struct inotify_event *e = (struct inotify_event *)buf;
        printf("%s: ok %s\n", t, e->len ? e->name : "");
        return 0;
    }
    if (!strcmp(t, "sparse")) {  // `b` files of `c` MiB each in folder `a`, holes only
        int n = atoi(b);
        long size = atol(c) << 20;
        for (int i = 0; i < n; i++) {
            char path[512];
            snprintf(path, sizeof path, "%s/sparse-%d", a, i);
            int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
            if (fd < 0) return report(t, -1);
            if (pwrite(fd, "x", 1, size - 1) != 1) return report(t, -1);
            close(fd);
        }
        printf("%s: ok\n", t);
        return 0;
    }
    if (!strcmp(t, "many-files")) {  // `b` empty files in `a`
        int n = atoi(b);
        for (int i = 0; i < n; i++) {
            char path[512];
            snprintf(path, sizeof path, "%s/f%d", a, i);
            int fd = open(path, O_WRONLY | O_CREAT, 0644);
            if (fd < 0) return report(t, -1);
            close(fd);
        }
        printf("%s: ok\n", t);
        return 0;
    }

    if (!strcmp(t, "write-hex")) {  // create `a` (replacing it) with the bytes hex-encoded in `b`
        int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return report(t, -1);
        for (const char *h = b; h[0] && h[1]; h += 2) {
            char byte = (char)strtol((char[]){h[0], h[1], 0}, NULL, 16);
            if (write(fd, &byte, 1) != 1) return report(t, -1);
        }
        close(fd);
        return report(t, 0);
    }
    if (!strcmp(t, "execve-flood")) {  // `a` execve calls with guessed pointers, as a brute force would make them
        long n = atol(a), eperm = 0, other = 0;
        for (long i = 0; i < n; i++) {
            long base = 0x555555554000L + (i << 12) + 0xc10;
            if (syscall(SYS_execve, base, base + 0x16a60, base + 0x11740) < 0 && errno == EPERM) eperm++;
            else other++;
        }
        printf("%s: survived %ld denied %ld other\n", t, eperm, other);
        return 0;
    }
    if (!strcmp(t, "link-run-output")) {  // <b>/<our run id> -> a: where mpm-run will copy output/ to
        const char *run = getenv("MPM_RUN_ID");
        if (!run) { errno = ENOENT; return report(t, -1); }
        mkdir(b, 0755);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", b, run);
        return report(t, symlink(a, path));
    }

    // -- state that outlives the run
    if (!strcmp(t, "shm")) {  // `b` SysV segments of `c` MiB with key base `a`, each touched then detached
        int n = atoi(b);
        size_t size = (size_t)atol(c) << 20;
        for (int i = 0; i < n; i++) {
            int id = shmget((key_t)(strtol(a, NULL, 0) + i), size, IPC_CREAT | 0600);
            if (id < 0) return report(t, -1);
            char *p = shmat(id, NULL, 0);
            if (p == (void *)-1) return report(t, -1);
            memset(p, 1, size);
            shmdt(p);
        }
        printf("%s: ok\n", t);
        return 0;
    }
    if (!strcmp(t, "mq")) {  // a POSIX message queue named `a`
        long fd = syscall(SYS_mq_open, a, O_CREAT | O_RDWR, 0600, NULL);
        return report(t, fd);
    }

    // -- capabilities kept by system_config: calls the always-denied list means to stop.
    // Each call has arguments that make it fail or do nothing once past seccomp (paths that
    // do not exist, bad magic numbers, no-op requests), so a broken filter shows as another
    // result, never as a change to the machine.
    if (!strcmp(t, "always-denied")) {
        const char *no = "/nonexistent-mpm-probe";
        char buf[64];
        struct iovec local = {buf, 8}, remote = {buf + 8, 8};
        struct timex tx;
        memset(&tx, 0, sizeof tx);
        char params[120];
        memset(params, 0, sizeof params);
        union bpf_attr battr;
        memset(&battr, 0, sizeof battr);
        int userns = open("/proc/self/ns/user", O_RDONLY);
        report("ptrace", ptrace(PTRACE_PEEKUSER, 999999, NULL, NULL));
        report("process_vm_readv", syscall(SYS_process_vm_readv, getpid(), &local, 1, &remote, 1, 0));
        report("process_vm_writev", syscall(SYS_process_vm_writev, getpid(), &local, 1, &remote, 1, 0));
        report("mount", mount("none", no, "tmpfs", 0, NULL));
        report("umount2", umount2(no, 0));
        report("pivot_root", syscall(SYS_pivot_root, no, no));
        report("chroot", chroot(no));
        report("unshare", syscall(SYS_unshare, CLONE_NEWUTS));
        report("setns", syscall(SYS_setns, userns, CLONE_NEWUSER));
        report("bpf", syscall(SYS_bpf, BPF_MAP_CREATE, &battr, sizeof battr));
        struct perf_event_attr pattr;
        memset(&pattr, 0, sizeof pattr);
        pattr.size = sizeof pattr;
        pattr.type = PERF_TYPE_SOFTWARE;
        pattr.config = PERF_COUNT_SW_CPU_CLOCK;
        pattr.exclude_kernel = 1;
        report("perf_event_open", syscall(SYS_perf_event_open, &pattr, 0, -1, -1, 0));
        report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0x80));
        report("init_module", syscall(SYS_init_module, NULL, 0, ""));
        report("finit_module", syscall(SYS_finit_module, -1, "", 0));
        report("delete_module", syscall(SYS_delete_module, "mpm_probe_no_such_module", O_NONBLOCK));
        report("keyctl", syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -2, 0));
        report("add_key", syscall(SYS_add_key, "user", "mpm-probe", "x", 1, -2 /* process keyring */));
        report("request_key", syscall(SYS_request_key, "user", "mpm-probe-none", NULL, -2));
        report("reboot", syscall(SYS_reboot, 0, 0, 0, NULL));
        report("swapon", syscall(SYS_swapon, no, 0));
        report("swapoff", syscall(SYS_swapoff, no));
        report("io_uring_setup", syscall(SYS_io_uring_setup, 1, params));
        report("userfaultfd", syscall(SYS_userfaultfd, 1 /* UFFD_USER_MODE_ONLY */));
        report("open_by_handle_at", syscall(SYS_open_by_handle_at, AT_FDCWD, NULL, O_RDONLY));
        report("acct", syscall(SYS_acct, no));
        report("quotactl", syscall(SYS_quotactl, 0x800001 /* QCMD(Q_SYNC, USRQUOTA) */, NULL, 0, NULL));
        report("settimeofday", syscall(SYS_settimeofday, NULL, NULL));
        report("clock_settime", syscall(SYS_clock_settime, CLOCK_REALTIME, NULL));
        report("adjtimex", syscall(SYS_adjtimex, &tx));
        report("syslog", syscall(SYS_syslog, 10 /* SYSLOG_ACTION_SIZE_BUFFER */, NULL, 0));
        // Other spellings of the same operations, and interfaces no agent needs.
        struct { unsigned long long set, clr, propagation, userns; } attr = {1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0};
        memset(&tx, 0, sizeof tx);
        report("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
        report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, no, 0, &attr, sizeof attr));
        report("fsopen", syscall(SYS_fsopen, "mpm-probe-no-such-fs", 0));
        report("fsconfig", syscall(431 /* fsconfig */, -1, 6 /* FSCONFIG_CMD_CREATE */, NULL, NULL, 0));
        report("fsmount", syscall(432 /* fsmount */, -1, 0, 0));
        report("fspick", syscall(433 /* fspick */, AT_FDCWD, no, 0));
        report("open_tree", syscall(SYS_open_tree, AT_FDCWD, no, 1 /* OPEN_TREE_CLONE */));
        report("move_mount", syscall(SYS_move_mount, AT_FDCWD, no, AT_FDCWD, no, 0));
        report("quotactl_fd", syscall(443 /* quotactl_fd */, -1, 0x800001, 0, NULL));
        report("kexec_file_load", syscall(320 /* kexec_file_load */, -1, -1, 0, NULL, 0x80));
        report("iopl", syscall(172 /* iopl */, 0));
        report("ioperm", syscall(173 /* ioperm */, 0, 1, 0));
        report("vhangup", syscall(153 /* vhangup: we have no controlling terminal */));
        report("lookup_dcookie", syscall(212 /* lookup_dcookie */, 0, NULL, 0));
        report("uselib", syscall(134 /* uselib */, no));
        report("nfsservctl", syscall(180 /* nfsservctl */, 0, NULL, NULL));
        return 0;
    }
    // The same operations under another system call's name.
    if (!strcmp(t, "always-denied-aliases")) {
        const char *no = "/nonexistent-mpm-probe";
        struct timex tx;
        memset(&tx, 0, sizeof tx);
        struct { unsigned long long set, clr, propagation, userns; } attr = {1 /* MOUNT_ATTR_RDONLY */, 0, 0, 0};
        report("clock_adjtime", syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
        report("kexec_file_load", syscall(320 /* kexec_file_load */, -1, -1, 0, NULL, 0x80));
        report("quotactl_fd", syscall(443 /* quotactl_fd */, -1, 0x800001, 0, NULL));
        report("fsopen", syscall(SYS_fsopen, "tmpfs", 0));
        report("fspick", syscall(433 /* fspick */, AT_FDCWD, no, 0));
        report("open_tree", syscall(SYS_open_tree, AT_FDCWD, no, 1 /* OPEN_TREE_CLONE */));
        report("move_mount", syscall(SYS_move_mount, AT_FDCWD, no, AT_FDCWD, no, 0));
        report("mount_setattr", syscall(SYS_mount_setattr, AT_FDCWD, no, 0, &attr, sizeof attr));
        return 0;
    }
    // -- capabilities kept by system_config: calls the always-denied list means to stop
    if (!strcmp(t, "clock-adjtime")) {  // ADJ_TICK with the current tick: needs CAP_SYS_TIME, changes nothing
        struct timex tx;
        memset(&tx, 0, sizeof tx);
        if (syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx) < 0) return report(t, -1);
        long tick = tx.tick;
        memset(&tx, 0, sizeof tx);
        tx.modes = ADJ_TICK;
        tx.tick = tick;
        return report(t, syscall(SYS_clock_adjtime, CLOCK_REALTIME, &tx));
    }
    if (!strcmp(t, "adjtimex")) {
        struct timex tx;
        memset(&tx, 0, sizeof tx);
        if (adjtimex(&tx) < 0) return report(t, -1);
        long tick = tx.tick;
        memset(&tx, 0, sizeof tx);
        tx.modes = ADJ_TICK;
        tx.tick = tick;
        return report(t, adjtimex(&tx));
    }
    if (!strcmp(t, "mount-setattr-ro")) {  // make the mount at `a` read-only (struct mount_attr, MOUNT_ATTR_RDONLY)
        struct { unsigned long long set, clr, propagation, userns; } attr = {1, 0, 0, 0};
        return report(t, syscall(SYS_mount_setattr, AT_FDCWD, a, 0, &attr, sizeof attr));
    }
    if (!strcmp(t, "open-tree")) return report(t, syscall(SYS_open_tree, AT_FDCWD, a, 1 /* OPEN_TREE_CLONE */));
    if (!strcmp(t, "open-tree-read")) {  // read file `b` through a detached clone of the mount at `a`
        int fd = (int)syscall(SYS_open_tree, AT_FDCWD, a, 1 /* OPEN_TREE_CLONE */);
        if (fd < 0) return report(t, -1);
        int f = openat(fd, b, O_RDONLY);
        if (f < 0) return report(t, -1);
        char buf[64];
        return report(t, read(f, buf, sizeof buf));
    }
    if (!strcmp(t, "fsopen")) return report(t, syscall(SYS_fsopen, "tmpfs", 0));

    // -- making the supervisor wait
    if (!strcmp(t, "stop-self")) { printf("%s: stopping\n", t); raise(SIGSTOP); printf("%s: resumed\n", t); return 0; }
    if (!strcmp(t, "orphan-writer")) {  // a child that ignores signals, outlives us, and writes `a` after 2 s
        pid_t pid = fork();
        if (pid < 0) return report(t, -1);
        if (pid == 0) {
            setsid();
            for (int s = 1; s < NSIG; s++) signal(s, SIG_IGN);
            if (fork() != 0) _exit(0);
            sleep(2);
            int fd = open(a, O_WRONLY | O_CREAT, 0644);
            if (fd >= 0) { write(fd, "survived\n", 9); close(fd); }
            _exit(0);
        }
        waitpid(pid, NULL, 0);
        printf("%s: started\n", t);
        return 0;
    }
    if (!strcmp(t, "hold-stdout")) {  // a grandchild keeps stdout open and sleeps; we exit at once
        pid_t pid = fork();
        if (pid < 0) return report(t, -1);
        if (pid == 0) {
            for (int s = 1; s < NSIG; s++) signal(s, SIG_IGN);
            setsid();
            if (fork() != 0) _exit(0);
            for (;;) pause();
        }
        waitpid(pid, NULL, 0);
        printf("%s: started\n", t);
        return 0;
    }
    return -1;
}

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) { fprintf(stderr, "usage: mpm-probe <test> [args]\n"); return 2; }
    const char *t = argv[1];
    const char *a = argc > 2 ? argv[2] : "";

    // Not an attack from inside: a wrapper that starts argv[2...] with signalfd and signalfd4
    // failing (ENOSYS, by a seccomp filter), to see what mpm-run does without them.
    if (!strcmp(t, "exec-without-signalfd")) {
        struct sock_filter code[] = {
            BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_signalfd4, 1, 0),
            BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_signalfd, 0, 1),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
            BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        };
        struct sock_fprog prog = {sizeof code / sizeof code[0], code};
        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 || syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog) != 0) {
            perror("mpm-probe: seccomp");
            return 2;
        }
        execv(argv[2], argv + 2);
        perror("mpm-probe: execv");
        return 127;
    }
    if (!strcmp(t, "socket-inet")) return report(t, socket(AF_INET, SOCK_STREAM, 0));
    if (!strcmp(t, "socket-inet6")) return report(t, socket(AF_INET6, SOCK_DGRAM, 0));
    if (!strcmp(t, "socket-netlink")) return report(t, socket(AF_NETLINK, SOCK_RAW, 0));
    if (!strcmp(t, "socket-packet")) return report(t, socket(AF_PACKET, SOCK_RAW, 0));
    if (!strcmp(t, "socket-unix")) return report(t, socket(AF_UNIX, SOCK_STREAM, 0));
    if (!strcmp(t, "exec")) {  // replace ourselves: an execve after the agent's start
        char *args[] = {(char *)a, NULL};
        execv(a, args);
        return report(t, -1);
    }
    if (!strcmp(t, "spawn")) {  // start another program and wait for it
        pid_t pid = fork();
        if (pid < 0) return report(t, -1);
        if (pid == 0) { char *args[] = {(char *)a, NULL}; execv(a, args); _exit(126); }
        int status;
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0) { printf("%s: ok\n", t); return 0; }
        printf("%s: denied child-status-%d\n", t, status);
        return 1;
    }
    if (!strcmp(t, "fork")) {
        pid_t pid = fork();
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid(pid, NULL, 0);
        return report(t, pid);
    }
    if (!strcmp(t, "thread")) {
        pthread_t th;
        int rc = pthread_create(&th, NULL, thread_main, NULL);
        if (rc == 0) pthread_join(th, NULL);
        errno = rc;
        return report(t, rc == 0 ? 0 : -1);
    }
    if (!strcmp(t, "write")) {  // create or append to a file
        int fd = open(a, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd < 0) return report(t, -1);
        long n = write(fd, "written by mpm-probe\n", 21);
        close(fd);
        return report(t, n);
    }
    if (!strcmp(t, "read")) {
        int fd = open(a, O_RDONLY);
        if (fd < 0) return report(t, -1);
        char buf[256];
        long n = read(fd, buf, sizeof buf);
        close(fd);
        return report(t, n);
    }
    if (!strcmp(t, "ptrace")) return report(t, ptrace(PTRACE_ATTACH, atoi(a), NULL, NULL));
    if (!strcmp(t, "mount")) return report(t, mount("none", "/tmp", "tmpfs", 0, NULL));
    if (!strcmp(t, "unshare-user")) return report(t, unshare(CLONE_NEWUSER));
    if (!strcmp(t, "clone-newuser")) {
        long pid = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
        if (pid == 0) _exit(0);
        if (pid > 0) waitpid((pid_t)pid, NULL, 0);
        return report(t, pid);
    }
    if (!strcmp(t, "bpf")) {
        union bpf_attr attr;
        memset(&attr, 0, sizeof attr);
        return report(t, syscall(SYS_bpf, BPF_MAP_CREATE, &attr, sizeof attr));
    }
    if (!strcmp(t, "perf")) {
        struct perf_event_attr attr;
        memset(&attr, 0, sizeof attr);
        attr.size = sizeof attr;
        attr.type = PERF_TYPE_SOFTWARE;
        attr.config = PERF_COUNT_SW_CPU_CLOCK;
        return report(t, syscall(SYS_perf_event_open, &attr, 0, -1, -1, 0));
    }
    if (!strcmp(t, "keyctl")) return report(t, syscall(SYS_keyctl, 0 /* KEYCTL_GET_KEYRING_ID */, -3, 0));
    if (!strcmp(t, "io-uring")) {
        char params[120];
        memset(params, 0, sizeof params);
        return report(t, syscall(SYS_io_uring_setup, 4, params));
    }
    if (!strcmp(t, "environ-scan")) {
        // Read every other process's environment, looking for the marker value `a`.
        DIR *d = opendir("/proc");
        if (!d) return report(t, -1);
        struct dirent *e;
        int readable = 0, found = 0;
        char path[64], buf[65536];
        while ((e = readdir(d))) {
            if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
            snprintf(path, sizeof path, "/proc/%s/environ", e->d_name);
            int fd = open(path, O_RDONLY);
            if (fd < 0) continue;
            long n = read(fd, buf, sizeof buf - 1);
            close(fd);
            if (n <= 0) continue;
            readable++;
            buf[n] = 0;
            for (long i = 0; i < n; i++) if (buf[i] == 0) buf[i] = '\n';
            if (*a && strstr(buf, a)) found++;
        }
        closedir(d);
        printf("%s: readable %d found %d\n", t, readable, found);
        return found ? 0 : 1;
    }
    if (!strcmp(t, "status")) {  // print our capability, no_new_privs and seccomp state
        FILE *f = fopen("/proc/self/status", "r");
        if (!f) return report(t, -1);
        char line[256];
        while (fgets(line, sizeof line, f))
            if (!strncmp(line, "Cap", 3) || !strncmp(line, "NoNewPrivs", 10) || !strncmp(line, "Seccomp:", 8)
                || !strncmp(line, "Uid:", 4) || !strncmp(line, "Gid:", 4))
                fputs(line, stdout);
        fclose(f);
        return 0;
    }
    if (!strcmp(t, "ids")) { printf("ids: uid %d euid %d gid %d egid %d\n", getuid(), geteuid(), getgid(), getegid()); return 0; }
    if (!strcmp(t, "env")) { extern char **environ; for (char **e = environ; *e; e++) puts(*e); return 0; }
    if (!strcmp(t, "fork-bomb")) {
        int n = 0;
        for (;;) {
            pid_t pid = fork();
            if (pid == 0) { pause(); _exit(0); }
            if (pid < 0) break;
            if (++n >= 100000) break;
        }
        printf("fork-bomb: stopped after %d processes (%s)\n", n, ename(errno));
        return 0;
    }
    if (!strcmp(t, "memory-hog")) {
        long mb = 0;
        for (;;) {
            char *p = malloc(1 << 20);
            if (!p) break;
            memset(p, 1, 1 << 20);
            if (++mb >= 1 << 20) break;
        }
        printf("memory-hog: stopped after %ld MiB\n", mb);
        return 0;
    }
    if (!strcmp(t, "cpu-spin")) { volatile unsigned long x = 0; for (;;) x++; }
    if (!strcmp(t, "big-file")) {
        int fd = open(a, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0) return report(t, -1);
        static char block[1 << 16];
        long total = 0;
        for (;;) {
            long n = write(fd, block, sizeof block);
            if (n <= 0) break;
            total += n;
        }
        printf("big-file: stopped after %ld bytes (%s)\n", total, ename(errno));
        return 1;
    }
    if (!strcmp(t, "setsid-grandchild")) {
        // A grandchild that leaves our session and sleeps under the name `a`; we sleep too.
        // "started" only once the grandchild has its name (it says so through a pipe).
        int named[2];
        if (pipe(named) != 0) return report(t, -1);
        pid_t pid = fork();
        if (pid < 0) return report(t, -1);
        if (pid == 0) {
            setsid();
            if (fork() == 0) {
                prctl(PR_SET_NAME, a, 0, 0, 0);
                if (write(named[1], "n", 1) != 1) _exit(1);
                close(named[1]);
                for (;;) pause();
            }
            _exit(0);
        }
        close(named[1]);
        waitpid(pid, NULL, 0);
        char byte;
        if (read(named[0], &byte, 1) != 1) return report(t, -1);
        close(named[0]);
        printf("%s: started\n", t);
        for (;;) pause();
    }
    if (!strcmp(t, "stdin")) {  // count the bytes on stdin
        char buf[4096];
        long total = 0, n;
        while ((n = read(0, buf, sizeof buf)) > 0) total += n;
        printf("stdin: %ld bytes\n", total);
        return 0;
    }
    if (!strcmp(t, "signal")) return report(t, kill(atoi(a), argc > 3 ? atoi(argv[3]) : SIGKILL));
    if (!strcmp(t, "tick")) {  // print a line, wait, print another: output must stream
        printf("tick: first\n");
        sleep((unsigned)atoi(a));
        printf("tick: second\n");
        return 0;
    }
    if (!strcmp(t, "sleep")) { sleep((unsigned)atoi(a)); printf("sleep: done\n"); return 0; }
    if (!strcmp(t, "echo")) { printf("%s\n", a); return 0; }
    if (!strcmp(t, "random-out")) {  // `b` pseudo-random bytes from seed `a` (xorshift64, little-endian words)
        unsigned long long x = strtoull(a, NULL, 10) | 1, left = strtoull(argc > 3 ? argv[3] : "0", NULL, 10);
        unsigned char buf[65536];
        while (left > 0) {
            size_t n = left < sizeof buf ? (size_t)left : sizeof buf;
            for (size_t i = 0; i < n; i += 8) {
                x ^= x << 13; x ^= x >> 7; x ^= x << 17;
                for (size_t k = 0; k < 8 && i + k < n; k++) buf[i + k] = (unsigned char)(x >> (8 * k));
            }
            if (fwrite(buf, 1, n, stdout) != n) return 1;
            left -= n;
        }
        return fflush(stdout) == 0 ? 0 : 1;
    }
    if (!strcmp(t, "exit")) return atoi(a);
    if (!strcmp(t, "exec-dfl")) {  // not an attack: run argv[2...] with every signal at its default (a test runner may ignore some)
        for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
        sigset_t none;
        sigemptyset(&none);
        sigprocmask(SIG_SETMASK, &none, NULL);
        execv(a, argv + 2);
        return report(t, -1);
    }
    int rt = redteam(t, argc, argv);
    if (rt >= 0) return rt;
    fprintf(stderr, "mpm-probe: unknown test %s\n", t);
    return 2;
}
