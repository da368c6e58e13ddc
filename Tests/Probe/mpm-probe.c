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

int main(int argc, char **argv) {
    setvbuf(stdout, NULL, _IONBF, 0);
    if (argc < 2) { fprintf(stderr, "usage: mpm-probe <test> [args]\n"); return 2; }
    const char *t = argv[1];
    const char *a = argc > 2 ? argv[2] : "";

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
        pid_t pid = fork();
        if (pid < 0) return report(t, -1);
        if (pid == 0) {
            setsid();
            if (fork() == 0) {
                prctl(PR_SET_NAME, a, 0, 0, 0);
                for (;;) pause();
            }
            _exit(0);
        }
        waitpid(pid, NULL, 0);
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
    if (!strcmp(t, "exit")) return atoi(a);
    fprintf(stderr, "mpm-probe: unknown test %s\n", t);
    return 2;
}
