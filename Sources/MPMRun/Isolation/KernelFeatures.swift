import CLauncher
import Glibc

/// The kernel features the sandbox is built from, as this machine offers them.
///
/// `probe()` is `mpm-run doctor`: it tries each feature for real (it clones probe children
/// into new namespaces), and says for each missing one how to get it.
/// `requirementProblem(forRoot:)` is the cheap check every launch makes: one syscall and
/// a few tiny /proc files, no clone.
public struct KernelFeatures: Sendable, Encodable {
    public struct Feature: Sendable, Encodable, Equatable {
        public var name: String
        public var available: Bool
        /// Whether a run cannot start without it (for this supervisor: root or not).
        public var required: Bool
        /// What was found, or why it is missing.
        public var detail: String
        /// How to get it, when it is missing.
        public var fix: String?

        public init(name: String, available: Bool, required: Bool, detail: String, fix: String? = nil) {
            self.name = name
            self.available = available
            self.required = required
            self.detail = detail
            self.fix = available ? nil : fix
        }

        enum CodingKeys: String, CodingKey { case name, available, required, detail, fix }

        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(name, forKey: .name)
            try c.encode(available, forKey: .available)
            try c.encode(required, forKey: .required)
            try c.encode(detail, forKey: .detail)
            try c.encode(fix, forKey: .fix)  // null when present: every object has the same keys
        }

        /// The one line a refused run prints: `landlock: not available (…) — boot with …`.
        public var problem: String {
            "\(name): \(detail)" + (fix.map { " — \($0)" } ?? "")
        }
    }

    public var root: Bool
    /// 0 when Landlock is unavailable.
    public var landlockABI: Int
    public var features: [Feature]
    /// Every required feature is present.
    public var ok: Bool { features.allSatisfy { $0.available || !$0.required } }

    public subscript(name: String) -> Feature? { features.first { $0.name == name } }

    enum CodingKeys: String, CodingKey { case ok, root, landlockABI = "landlock_abi", features }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ok, forKey: .ok)
        try c.encode(root, forKey: .root)
        try c.encode(landlockABI, forKey: .landlockABI)
        try c.encode(features, forKey: .features)
    }

    // MARK: - The full probe

    public static func probe() -> KernelFeatures {
        let root = geteuid() == 0
        let actions = seccompActions()
        let abi = Int(mpm_sys_landlock_abi())
        let mounts = Mount.all()
        var features = [
            seccompFilter(mode: mpm_sys_seccomp_mode(), actions: actions),
            seccompNotify(actions: actions),
            landlock(abi),
            landlockAudit(abi),
            noNewPrivs(mpm_sys_no_new_privs()),
        ]
        // User namespaces: what matters is whether an unprivileged uid may make one (the
        // agent, or a non-root supervisor). As root, probe that as the agent's uid.
        let agent = (uid: uid_t(Identity.agentIDRange.lowerBound), gid: gid_t(Identity.agentIDRange.lowerBound))
        let userErr = root ? mpm_sys_probe_unprivileged_userns(agent.uid, agent.gid) : mpm_sys_probe_namespaces(1, 0)
        features.append(userNamespaces(errno: userErr, root: root))
        let pidErr = root ? mpm_sys_probe_namespaces(0, 1) : mpm_sys_probe_namespaces(1, 1)
        features.append(pidNamespaces(errno: pidErr, root: root))
        let v2 = cgroupV2(mounts)
        let v1 = cgroupV1(mounts, v2Usable: v2.available)
        features.append(v2)
        features.append(v1)
        if root, let attach = cgroupAttach(mounts) { features.append(attach) }
        features.append(Feature(
            name: "root", available: root, required: false,
            detail: root ? "yes: agents run as uid \(agent.uid), never as root"
                         : "no (uid \(geteuid())): agents run as this uid, in a user namespace of their own"))
        return KernelFeatures(root: root, landlockABI: max(0, abi), features: features)
    }

    // MARK: - The cheap check at launch

    /// The one line naming the first feature a run needs that is missing, or nil.
    ///
    /// Checks: a seccomp filter able to return errno, Landlock ABI >= 1, no_new_privs
    /// (present on every kernel with Landlock, so not asked), and a PID namespace: as root
    /// CLONE_NEWPID; not as root also unprivileged user namespaces. `forRoot: false`
    /// therefore also answers "may an unprivileged uid create a user namespace", which a
    /// root supervisor needs too if its agent enters one after dropping to its uid.
    public static func requirementProblem(forRoot: Bool) -> String? {
        let seccomp = seccompFilter(mode: 0, actions: seccompActions())
        if !seccomp.available { return seccomp.problem }
        let ll = landlock(Int(mpm_sys_landlock_abi()))
        if !ll.available { return ll.problem }
        if access("/proc/self/ns/pid", F_OK) != 0 && errno == ENOENT {
            return pidNamespaces(errno: EINVAL, root: forRoot).problem
        }
        if !forRoot {
            if let reason = userNamespaceBlocker() {
                return Feature(name: "userns", available: false, required: true,
                               detail: "not available (\(reason.detail))", fix: reason.fix).problem
            }
        }
        return nil
    }

    // MARK: - Each feature

    static func seccompActions() -> Set<String>? {
        guard let bytes = FS.readSmall(path: "/proc/sys/kernel/seccomp/actions_avail") else { return nil }
        return Set(String(decoding: bytes, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).map(String.init))
    }

    static func seccompFilter(mode: Int32, actions: Set<String>?) -> Feature {
        let fix = "use a kernel built with CONFIG_SECCOMP_FILTER (Linux 3.5+)"
        if mode < 0 {
            return Feature(name: "seccomp", available: false, required: true,
                           detail: "not available (prctl(PR_GET_SECCOMP): \(errnoText(-mode)))", fix: fix)
        }
        guard let actions else {
            return Feature(name: "seccomp", available: false, required: true,
                           detail: "not available (no /proc/sys/kernel/seccomp/actions_avail)", fix: fix)
        }
        guard actions.contains("errno") else {
            return Feature(name: "seccomp", available: false, required: true,
                           detail: "filters cannot return errno (actions: \(actions.sorted().joined(separator: " ")))",
                           fix: fix)
        }
        var detail = "filter mode; denied calls fail with EPERM"
        if mode == 2 { detail += " (mpm-run itself already runs under a filter; filters stack)" }
        return Feature(name: "seccomp", available: true, required: true, detail: detail)
    }

    static func seccompNotify(actions: Set<String>?) -> Feature {
        let on = actions?.contains("user_notif") ?? false
        return Feature(
            name: "seccomp_notify", available: on, required: false,
            detail: on ? "user notification: each denied call is reported as it happens"
                       : "not available: denied calls still fail with EPERM, but are not reported one by one",
            fix: "Linux 5.0+ (SECCOMP_RET_USER_NOTIF)")
    }

    static func landlock(_ abi: Int) -> Feature {
        if abi >= 1 {
            var parts = ["file rules"]
            if abi >= 4 { parts.append("TCP rules") }
            if abi >= 6 { parts.append("signal and abstract-socket scoping") }
            return Feature(name: "landlock", available: true, required: true,
                           detail: "ABI \(abi): " + parts.joined(separator: ", "))
        }
        switch Int32(-abi) {
        case EOPNOTSUPP:
            return Feature(name: "landlock", available: false, required: true,
                           detail: "not available (built in, but not enabled at boot)",
                           fix: "boot with lsm=landlock,... (add landlock to the kernel's lsm= list; Linux 5.13+)")
        case ENOSYS:
            return Feature(name: "landlock", available: false, required: true,
                           detail: "not available (the kernel has no Landlock)",
                           fix: "use Linux 5.13+ built with CONFIG_SECURITY_LANDLOCK=y and boot with lsm=landlock,...")
        default:
            return Feature(name: "landlock", available: false, required: true,
                           detail: "not available (\(errnoText(Int32(-abi))))",
                           fix: "use Linux 5.13+ with Landlock enabled (lsm=landlock,...)")
        }
    }

    /// Whether the file accesses Landlock denies are reported (they are denied either way).
    static func landlockAudit(_ abi: Int) -> Feature {
        let s = LandlockDenials.status(landlockABI: Int32(abi))
        return Feature(name: "landlock_audit", available: s.available, required: false, detail: s.detail, fix: s.fix)
    }

    static func noNewPrivs(_ value: Int32) -> Feature {
        if value < 0 {
            return Feature(name: "no_new_privs", available: false, required: true,
                           detail: "not available (prctl(PR_GET_NO_NEW_PRIVS): \(errnoText(-value)))",
                           fix: "Linux 3.5+")
        }
        return Feature(name: "no_new_privs", available: true, required: true,
                       detail: "setuid and file capabilities cannot raise the agent's privileges"
                           + (value == 1 ? " (already set for mpm-run)" : ""))
    }

    /// Why unprivileged user namespaces are off, read from the sysctls that switch them
    /// off, or nil when none does.
    static func userNamespaceBlocker() -> (detail: String, fix: String)? {
        func value(_ path: String) -> Int? {
            FS.readSmall(path: path, limit: 32).flatMap {
                Int(String(decoding: $0.filter { $0 != UInt8(ascii: " ") && $0 != UInt8(ascii: "\n") }, as: UTF8.self))
            }
        }
        if value("/proc/sys/kernel/unprivileged_userns_clone") == 0 {
            return ("unprivileged user namespaces disabled",
                    "sysctl kernel.unprivileged_userns_clone=1 or run mpm-run as root")
        }
        if value("/proc/sys/kernel/apparmor_restrict_unprivileged_userns") == 1 {
            return ("AppArmor restricts unprivileged user namespaces",
                    "sysctl kernel.apparmor_restrict_unprivileged_userns=0, or an AppArmor profile allowing userns for mpm-run")
        }
        if value("/proc/sys/user/max_user_namespaces") == 0 {
            return ("user.max_user_namespaces is 0", "sysctl user.max_user_namespaces=15000 or run mpm-run as root")
        }
        if access("/proc/self/ns/user", F_OK) != 0 && errno == ENOENT {
            return ("the kernel has no user namespaces", "use a kernel built with CONFIG_USER_NS=y")
        }
        return nil
    }

    static func userNamespaces(errno code: Int32, root: Bool) -> Feature {
        let how = root ? "an agent uid (\(Identity.agentIDRange.lowerBound)+) can create a user namespace"
                       : "this uid can create a user namespace"
        if code == 0 {
            return Feature(name: "userns", available: true, required: !root, detail: "available: \(how)")
        }
        let known = userNamespaceBlocker()
        return Feature(name: "userns", available: false, required: !root,
                       detail: "not available (\(known?.detail ?? "unshare/clone(CLONE_NEWUSER): \(errnoText(code))"))",
                       fix: known?.fix ?? "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run mpm-run as root")
    }

    static func pidNamespaces(errno code: Int32, root: Bool) -> Feature {
        let call = root ? "clone(CLONE_NEWPID)" : "clone(CLONE_NEWUSER|CLONE_NEWPID)"
        if code == 0 {
            return Feature(name: "pidns", available: true, required: true,
                           detail: "available: \(call) works; no process of a run outlives it")
        }
        let fix: String
        switch code {
        case EINVAL: fix = "use a kernel built with CONFIG_PID_NS=y"
        case ENOSPC: fix = "raise user.max_pid_namespaces (sysctl user.max_pid_namespaces=15000)"
        case EPERM where root: fix = "mpm-run lacks CAP_SYS_ADMIN (a restricted container?): give it CAP_SYS_ADMIN"
        default: fix = userNamespaceBlocker()?.fix ?? "allow unprivileged user namespaces (sysctl kernel.unprivileged_userns_clone=1) or run mpm-run as root"
        }
        return Feature(name: "pidns", available: false, required: true,
                       detail: "not available (\(call): \(errnoText(code)))", fix: fix)
    }

    static func cgroupV2(_ mounts: [Mount]) -> Feature {
        let v2 = mounts.filter { $0.type == "cgroup2" }
        guard let mount = v2.first(where: { $0.point == "/sys/fs/cgroup" }) ?? v2.first else {
            return Feature(name: "cgroup_v2", available: false, required: false,
                           detail: "no cgroup2 file system mounted",
                           fix: "optional: boot with systemd.unified_cgroup_hierarchy=1 (runs are bounded by rlimits and a PID namespace)")
        }
        let controllers = FS.readSmall(path: mount.point + "/cgroup.controllers")
            .map { String(decoding: $0, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" }).joined(separator: " ") }
        let layout = mount.point == "/sys/fs/cgroup" ? "unified" : "hybrid"
        let list = controllers.map { $0.isEmpty ? "none" : $0 } ?? "unreadable"
        return Feature(name: "cgroup_v2", available: true, required: false,
                       detail: "cgroup2 at \(mount.point) (\(layout)); controllers: \(list)")
    }

    static func cgroupV1(_ mounts: [Mount], v2Usable: Bool) -> Feature {
        var found: [String: String] = [:]
        for m in mounts where m.type == "cgroup" {
            for option in m.options.split(separator: ",") where ["memory", "pids", "cpu"].contains(option) {
                found[String(option)] = m.point
            }
        }
        let wanted = ["memory", "pids", "cpu"]
        let missing = wanted.filter { found[$0] == nil }
        if missing.isEmpty {
            return Feature(name: "cgroup_v1", available: true, required: false,
                           detail: "memory, pids and cpu controllers mounted")
        }
        let have = wanted.filter { found[$0] != nil }
        return Feature(name: "cgroup_v1", available: false, required: false,
                       detail: "controllers missing: \(missing.joined(separator: ", "))"
                           + (have.isEmpty ? "" : "; mounted: \(have.joined(separator: ", "))"),
                       fix: v2Usable ? nil : "optional: mount the memory, pids and cpu controllers, or use cgroup v2")
    }

    /// As root: how long a new process takes to join a run's cgroups (made as a run's are,
    /// then removed), as each launch's init does. Where the kernel makes every move wait for an
    /// RCU grace period (cgroup v1, and v2 without favordynmods), each launch waits for it.
    /// The quickest of three moves, 50 ms apart (a move right after another does not wait):
    /// load on the machine only adds to a move (its lock is shared with every fork), and a
    /// grace period is several milliseconds, so slow means 2 ms or more.
    static func cgroupAttach(_ mounts: [Mount]) -> Feature? {
        let limits = ResourceLimits(memoryMB: 64, cpuSeconds: 1, timeoutSeconds: 1, maxProcesses: 8,
                                    maxOpenFiles: 64, maxFileSizeMB: 1, maxOutputBytes: 1)
        guard let groups = RunCgroups.create(runID: "doctor-\(getpid())", limits: limits) else { return nil }
        defer { groups.remove() }
        var samples: [Int64] = []
        for i in 0..<3 {
            if i > 0 { usleep(50_000) }
            let ns = groups.procsFDs.withUnsafeBufferPointer { mpm_sys_probe_cgroup_attach($0.baseAddress, Int32($0.count)) }
            guard ns >= 0 else {
                return Feature(name: "cgroup_attach", available: false, required: false,
                               detail: "a probe process could not join a run's cgroups: \(errnoText(Int32(-ns)))")
            }
            samples.append(ns)
        }
        let hundredths = Int((samples.min()! + 5_000) / 10_000)
        let ms = "\(hundredths / 100).\(hundredths % 100 < 10 ? "0" : "")\(hundredths % 100) ms"
        let v2 = mounts.first { $0.type == "cgroup2" }
        if hundredths < 200 {
            let favoured = v2?.options.split(separator: ",").contains("favordynmods") ?? false
            return Feature(name: "cgroup_attach", available: true, required: false,
                           detail: "a run's init joins its cgroups in \(ms)" + (favoured ? " (favordynmods)" : ""))
        }
        return Feature(name: "cgroup_attach", available: false, required: false,
                       detail: "a run's init takes \(ms) to join its cgroups (the kernel waits for an RCU grace period "
                           + "at each move): every launch as root waits that long",
                       fix: v2.map { "optional: mount -o remount,favordynmods \($0.point) (system-wide: moving processes "
                           + "between cgroups stops waiting; forks and exits cost a little more)" }
                           ?? "optional: mount cgroup2 with favordynmods (kernel 6.1 or later)")
    }

    // MARK: - Output

    /// One line per feature, then a summary:
    /// `ok      landlock          ABI 7: file rules, TCP rules, signal and abstract-socket scoping`.
    public func render() -> String {
        var lines: [String] = []
        for f in features {
            let status = f.available ? (f.name == "root" ? "info" : "ok")
                : f.required ? "MISSING" : f.fix == nil ? "info" : f.name == "cgroup_attach" ? "slow" : "absent"
            var line = pad(status, 8) + pad(f.name, 18) + f.detail
            if let fix = f.fix { line += "  fix: " + fix }
            lines.append(line)
        }
        let missing = features.filter { $0.required && !$0.available }.map(\.name)
        lines.append(missing.isEmpty
            ? "every feature a run needs is present"
            : "missing \(missing.joined(separator: ", ")): mpm-run refuses to start agents (exit 125)")
        return lines.joined(separator: "\n")
    }

    private func pad(_ s: String, _ width: Int) -> String {
        s.count >= width ? s + " " : s + String(repeating: " ", count: width - s.count)
    }
}

/// One line of /proc/self/mounts.
struct Mount: Sendable {
    var point: String
    var type: String
    var options: String

    static func all() -> [Mount] {
        guard let bytes = FS.readSmall(path: "/proc/self/mounts", limit: 1 << 20) else { return [] }
        return String(decoding: bytes, as: UTF8.self).split(separator: "\n").compactMap { line in
            let f = line.split(separator: " ")
            guard f.count >= 4 else { return nil }
            return Mount(point: unescape(f[1]), type: String(f[2]), options: String(f[3]))
        }
    }

    /// The kernel writes space, tab, newline and backslash in paths as \040, \011, \012, \134.
    static func unescape(_ s: Substring) -> String {
        var out: [UInt8] = []
        let b = Array(s.utf8)
        var i = 0
        while i < b.count {
            if b[i] == UInt8(ascii: "\\"), i + 3 < b.count,
               let v = UInt8(String(decoding: b[(i + 1)...(i + 3)], as: UTF8.self), radix: 8) {
                out.append(v)
                i += 4
            } else {
                out.append(b[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}
