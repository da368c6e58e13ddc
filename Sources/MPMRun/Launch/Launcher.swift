import CLauncher
import Glibc

/// Everything the launcher needs for one child, prepared by the supervisor. The containment
/// order itself is in one place: `child_main` in Sources/CLauncher/launcher.c.
public struct LaunchPlan {
    public var executable: String
    public var argv: [String]
    public var environment: [String]
    public var workingDirectory: String
    public var stdin: Int32
    public var stdout: Int32
    public var stderr: Int32
    public var limits: ResourceLimits
    public var identity: Identity
    public var permissions: Set<Permission>
    public var keptCapabilities: [String]
    public var landlockRulesetFD: Int32
    /// landlock_restrict_self's flags: `LandlockDenials.restrictFlags` when the run's denials are read.
    public var landlockRestrictFlags: UInt32 = 0
    /// Report every denied call through a seccomp listener (else the kernel answers EPERM alone).
    public var reportDenials = true
    /// cgroup.procs of the run's cgroups (root only); init joins each before the agent starts.
    var cgroupProcsFDs: [Int32] = []
    /// A memory cgroup enforces memory_mb: RLIMIT_AS is then left alone.
    var memoryLimitedByCgroup = false
    /// A pids cgroup enforces max_processes: RLIMIT_NPROC is then left alone.
    var processesLimitedByCgroup = false
}

/// A run whose agent has called execve: its init's pid and pidfd, and the launch state
/// that must be released once init is reaped.
public struct LaunchedChild: @unchecked Sendable {
    public var pid: pid_t
    public var pidfd: Int32
    /// The seccomp listener: each denied call arrives here (-1 when not reported).
    public var listener: Int32 = -1
    var run: OpaquePointer?
}

public enum LaunchFailure: Error, CustomStringConvertible {
    case clone(Int32)
    /// The supervisor did not open the gate (the run's start could not be recorded): no agent ran.
    case notStarted
    case pipe(Int32)
    case step(mpm_step, Int32)
    case seccomp(SeccompFilter.BuildError)

    /// 127 when the program does not exist, 126 when it cannot be executed, else 125.
    public var exitCode: Int32 {
        switch self {
        case .step(MPM_STEP_EXECVE, let e): return e == ENOENT || e == ENOTDIR ? 127 : 126
        default: return 125
        }
    }

    public var description: String {
        switch self {
        case .clone(let e):
            return "cannot create the sandboxed process: clone: \(errnoText(e))"
                + (e == EPERM || e == ENOSPC ? " (user or PID namespaces unavailable: see mpm-run doctor)" : "")
        case .pipe(let e):
            return "cannot create the agent's output pipes: \(errnoText(e))"
        case .step(let step, let e):
            return "sandbox setup failed at \(Self.name(of: step)): \(errnoText(e))"
        case .seccomp(let e):
            return e.description
        case .notStarted:
            return "the agent was not started"
        }
    }

    static func name(of step: mpm_step) -> String {
        switch step {
        case MPM_STEP_SIGNALS: return "resetting signals"
        case MPM_STEP_SETGROUPS: return "setgroups"
        case MPM_STEP_SETGID: return "setresgid"
        case MPM_STEP_SETUID: return "setresuid"
        case MPM_STEP_KEEPCAPS: return "PR_SET_KEEPCAPS"
        case MPM_STEP_USERNS: return "unshare(CLONE_NEWUSER)"
        case MPM_STEP_ID_MAPS: return "writing the user namespace's id maps"
        case MPM_STEP_SETSID: return "setsid"
        case MPM_STEP_STDIO: return "redirecting stdio"
        case MPM_STEP_CLOSE_FDS: return "closing inherited file descriptors"
        case MPM_STEP_CHDIR: return "chdir into the sandbox"
        case MPM_STEP_RLIMIT: return "setrlimit"
        case MPM_STEP_PDEATHSIG: return "PR_SET_PDEATHSIG"
        case MPM_STEP_BOUNDING_SET: return "dropping the capability bounding set"
        case MPM_STEP_CAPSET: return "capset"
        case MPM_STEP_AMBIENT: return "setting ambient capabilities"
        case MPM_STEP_NO_NEW_PRIVS: return "PR_SET_NO_NEW_PRIVS"
        case MPM_STEP_LANDLOCK: return "landlock_restrict_self"
        case MPM_STEP_SECCOMP: return "installing the seccomp filter"
        case MPM_STEP_SECCOMP_LISTENER: return "handing over the seccomp listener"
        case MPM_STEP_EXECVE: return "execve"
        case MPM_STEP_CGROUP: return "joining the run's cgroups"
        case MPM_STEP_GATE: return "starting the agent"
        case MPM_STEP_CLONE: return "starting the agent's process (clone)"
        case MPM_STEP_SCHEDULING: return "resetting the scheduling priority"
        default: return "step \(step.rawValue)"
        }
    }
}

public enum Launcher {
    /// Makes the run's init, then calls `beforeAgent` with init's pid while init waits: the
    /// agent is started only if it returns true (the run's start is on record), else no code
    /// of the agent ever runs and this throws `.notStarted`.
    public static func launch(_ plan: LaunchPlan, beforeAgent: (pid_t) -> Bool) throws(LaunchFailure) -> LaunchedChild {
        let path = strdup(plan.executable)!
        let argv = CStringArray(plan.argv)
        let envp = CStringArray(plan.environment)
        let cwd = strdup(plan.workingDirectory)!
        let uidMap = strdup(plan.identity.uidMap)!
        let gidMap = strdup(plan.identity.gidMap)!
        defer {
            free(path); free(cwd); free(uidMap); free(gidMap)
            argv.deallocate(); envp.deallocate()
        }

        // Built after the strings exist: the no-execute filter lets through only this execve.
        let filter: SeccompFilter
        do throws(SeccompFilter.BuildError) {
            filter = try SeccompFilter.forLaunch(
                permissions: plan.permissions,
                ownExec: .init(path: UInt(bitPattern: path), argv: UInt(bitPattern: argv.pointer),
                               envp: UInt(bitPattern: envp.pointer)),
                notify: plan.reportDenials)
        } catch {
            throw .seccomp(error)
        }
        // The agent sends its seccomp listener over this pair before execve.
        var pair: [Int32] = [-1, -1]
        if plan.reportDenials && mpm_socketpair(&pair) != 0 { throw .clone(errno) }
        defer { for fd in pair where fd >= 0 { close(fd) } }
        let rlimits = Rlimits.table(for: plan.limits, addressSpace: !plan.memoryLimitedByCgroup,
                                    processes: !plan.processesLimitedByCgroup)

        var result = mpm_launch_result()
        let rc = filter.program.withUnsafeBytes { program in
            rlimits.withUnsafeBufferPointer { limits in plan.cgroupProcsFDs.withUnsafeBufferPointer { cgroups in
                var spec = mpm_launch_spec()
                spec.path = UnsafePointer(path)
                spec.argv = UnsafePointer(argv.pointer)
                spec.envp = UnsafePointer(envp.pointer)
                spec.cwd = UnsafePointer(cwd)
                spec.stdin_fd = plan.stdin
                spec.stdout_fd = plan.stdout
                spec.stderr_fd = plan.stderr
                spec.rlimits = limits.baseAddress
                spec.rlimit_count = Int32(limits.count)
                spec.identity = Int32(plan.identity.mode.rawValue)
                spec.uid = plan.identity.uid
                spec.gid = plan.identity.gid
                spec.uid_map = UnsafePointer(uidMap)
                spec.gid_map = UnsafePointer(gidMap)
                spec.new_pid_ns = 1
                spec.last_cap = Capabilities.lastCap
                spec.keep_caps = Capabilities.mask(plan.keptCapabilities)
                spec.cgroup_procs_fds = cgroups.baseAddress
                spec.cgroup_count = Int32(cgroups.count)
                spec.landlock_ruleset_fd = plan.landlockRulesetFD
                spec.landlock_restrict_flags = plan.landlockRestrictFlags
                spec.seccomp_filter = program.baseAddress
                spec.seccomp_length = UInt16(filter.instructionCount)
                spec.seccomp_flags = plan.reportDenials ? 1 << 3 /* SECCOMP_FILTER_FLAG_NEW_LISTENER */ : 0
                spec.seccomp_listener_socket = pair[1]
                let rc = mpm_launch(&spec, &result)
                guard rc == 0, result.failed_step == 0 else { return rc }
                // `spec` and all it points to live until mpm_start returns: the agent reads them.
                let go = beforeAgent(result.pid)
                var step: Int32 = 0, e: Int32 = 0
                mpm_start(result.run, go ? 1 : 0, &step, &e)
                if step != 0 {
                    // Init exits on its own (125 or 127); make sure, then reap it.
                    _ = mpm_pidfd_kill(result.pidfd, SIGKILL)
                    var status = mpm_exit()
                    _ = mpm_wait_run(result.run, result.pidfd, &status)
                    mpm_release(result.run)
                    close(result.pidfd)
                    result.failed_step = go ? step : Int32(MPM_STEP_GATE.rawValue)
                    result.failed_errno = go ? e : 0
                }
                return rc
            } }
        }
        if rc != 0 { throw .clone(result.failed_errno) }
        if result.failed_step == Int32(MPM_STEP_GATE.rawValue) && result.failed_errno == 0 { throw .notStarted }
        if result.failed_step != 0 {
            throw .step(mpm_step(UInt32(result.failed_step)), result.failed_errno)
        }
        var child = LaunchedChild(pid: result.pid, pidfd: result.pidfd, run: result.run)
        if plan.reportDenials {
            child.listener = mpm_receive_fd(pair[0])
            if child.listener < 0 {
                // The agent is running without anyone to answer its denied calls: end it.
                let e = errno
                _ = mpm_pidfd_kill(child.pidfd, SIGKILL)
                var status = mpm_exit()
                _ = mpm_wait_run(child.run, child.pidfd, &status)
                mpm_release(child.run)
                close(child.pidfd)
                throw .step(MPM_STEP_SECCOMP_LISTENER, e)
            }
        }
        return child
    }
}

/// A NULL-terminated `char *[]` for execve, owned until `deallocate`.
struct CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (i, s) in strings.enumerated() { pointer[i] = strdup(s) }
        pointer[strings.count] = nil
    }

    func deallocate() {
        for i in 0..<count { free(pointer[i]) }
        pointer.deallocate()
    }
}
