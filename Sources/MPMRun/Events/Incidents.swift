import Glibc

/// The incidents that only show once a run has ended: how the agent died tells which
/// limit stopped it. (Timeouts, output floods and denial bursts are recorded by the
/// supervisor as they happen.)
enum Incidents {
    static func afterExit(_ outcome: RunOutcome, limits: ResourceLimits) -> [(kind: String, detail: String)] {
        guard outcome.reason == .exited, let signal = outcome.signal else { return [] }
        switch signal {
        case SIGXCPU:
            return [("cpu_limit", "used its \(limits.cpuSeconds) s of CPU time (SIGXCPU)")]
        case SIGKILL where outcome.cpuMS >= limits.cpuSeconds * 1000:
            return [("cpu_limit", "used its \(limits.cpuSeconds) s of CPU time (SIGKILL at the hard limit)")]
        case SIGXFSZ:
            return [("file_size_limit", "wrote a file past \(limits.maxFileSizeMB) MB (SIGXFSZ)")]
        default:
            return []
        }
    }
}
