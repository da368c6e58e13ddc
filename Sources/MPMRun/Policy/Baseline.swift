/// What every run gets, whatever its profile (CONTRACT.md section 4, "Always").
/// The seccomp filter reads `alwaysDeniedSyscalls` from here; `explain` prints it.
public enum Baseline {
    /// Syscalls no agent needs; each fails with EPERM.
    public static let alwaysDeniedSyscalls = [
        "ptrace", "process_vm_readv", "process_vm_writev", "mount", "umount2", "pivot_root", "chroot",
        "unshare", "setns", "bpf", "perf_event_open", "kexec_load", "init_module", "finit_module",
        "delete_module", "keyctl", "add_key", "request_key", "reboot", "swapon", "swapoff",
        "io_uring_setup", "userfaultfd", "open_by_handle_at", "acct", "quotactl", "settimeofday",
        "clock_settime", "adjtimex", "syslog",
        // Other spellings of the same operations: the new mount API, the clock, quotas.
        "clock_adjtime", "mount_setattr", "fsopen", "fsconfig", "fsmount", "fspick", "open_tree",
        "move_mount", "quotactl_fd", "kexec_file_load",
        // Hardware and kernel interfaces no agent needs.
        "iopl", "ioperm", "vhangup", "lookup_dcookie", "uselib", "nfsservctl",
    ]

    public static let protections = [
        "a 0700 sandbox with read-only copies of the inputs and a writable temp/",
        "rlimits on memory, CPU time, processes, open files and file size",
        "no_new_privs: setuid binaries grant nothing",
        "a scrubbed environment",
        "an unprivileged uid when mpm-run runs as root",
        "seccomp: \(alwaysDeniedSyscalls.count) syscalls no agent needs fail with EPERM",
    ]
}
