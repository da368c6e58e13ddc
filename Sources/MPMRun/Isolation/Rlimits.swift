import CLauncher
import Glibc

/// The rlimits of a run. Each is only ever lowered: a limit above what mpm-run itself may
/// use is clamped to its own hard limit (raising one would need CAP_SYS_RESOURCE).
enum Rlimits {
    /// Without `addressSpace`, RLIMIT_AS is left alone: a memory cgroup enforces memory_mb.
    /// Without `processes`, RLIMIT_NPROC is left alone: a pids cgroup enforces max_processes
    /// (the kernel checks the rlimit first, so the cgroup would never see, nor count, a refusal).
    static func table(for limits: ResourceLimits, addressSpace: Bool = true, processes: Bool = true) -> [mpm_rlimit] {
        let mib: UInt64 = 1 << 20
        // CPU: SIGXCPU at the limit, SIGKILL a second later (the hard limit).
        let wanted: [(Int32, UInt64, UInt64)] = [
            (Int32(RLIMIT_AS.rawValue), UInt64(limits.memoryMB) * mib, UInt64(limits.memoryMB) * mib),
            (Int32(RLIMIT_CPU.rawValue), UInt64(limits.cpuSeconds), UInt64(limits.cpuSeconds) + 1),
            (Int32(RLIMIT_CORE.rawValue), 0, 0),
            (Int32(RLIMIT_NOFILE.rawValue), UInt64(limits.maxOpenFiles), UInt64(limits.maxOpenFiles)),
            (Int32(RLIMIT_FSIZE.rawValue), UInt64(limits.maxFileSizeMB) * mib, UInt64(limits.maxFileSizeMB) * mib),
            (6 /* RLIMIT_NPROC, hidden from Swift */, UInt64(limits.maxProcesses), UInt64(limits.maxProcesses)),
            // No real-time scheduling and no nice value below 0 for the agent, whatever its caller
            // was allowed (PAM limits for an audio group, systemd's LimitRTPRIO=): with them a
            // busy agent could starve its supervisor. Init drops what it inherited; these keep
            // the agent from taking it back.
            (14 /* RLIMIT_RTPRIO */, 0, 0),
            (13 /* RLIMIT_NICE: a nice value down to 20 - this */, 0, 0),
        ]
        let skipped: Set<Int32> = Set((addressSpace ? [] : [Int32(RLIMIT_AS.rawValue)]) + (processes ? [] : [6]))
        return wanted.filter { !skipped.contains($0.0) }.map { resource, soft, hard in
            var current = rlimit()
            getrlimit(__rlimit_resource_t(UInt32(resource)), &current)
            let ceiling = UInt64(current.rlim_max)
            return mpm_rlimit(resource: resource, soft: min(soft, ceiling), hard: min(hard, ceiling))
        }
    }
}
