import Glibc

/// The run's cgroups, when mpm-run runs as root and the kernel offers them: a memory cgroup
/// (the memory limit on what the agent really uses, and the OOM killer's count, which is how a
/// `memory_limit` incident is seen) and a pids cgroup (the process limit, and the count of
/// refused forks: `process_limit`). They are made beneath mpm-run's own cgroup, so any limit
/// on mpm-run still holds for its agents. Without them (not root, or no controllers) the
/// rlimits alone enforce the limits, and these two incidents cannot be observed.
///
/// Handles cgroup v1 (a hierarchy per controller) and v2 (one hierarchy, where mpm-run's own
/// cgroup must already delegate the memory and pids controllers to its children).
public final class RunCgroups {
    private struct Group {
        var path: String
        var procsFD: Int32
        var version: Int
        var controller: String
    }

    private var groups: [Group] = []
    let limits: ResourceLimits

    /// Whether memory is limited by a cgroup (then RLIMIT_AS is not needed, and would break
    /// runtimes that reserve large address spaces).
    var limitsMemory: Bool { groups.contains { $0.controller == "memory" } }
    /// Whether processes are limited by a pids cgroup (then RLIMIT_NPROC is not set).
    var limitsProcesses: Bool { groups.contains { $0.controller == "pids" } }
    var procsFDs: [Int32] { groups.map(\.procsFD) }

    private init(limits: ResourceLimits) { self.limits = limits }

    static let namePrefix = "mpm-run-"

    /// mpm-run's own cgroup folders that can hold run cgroups: (controller or "v2", folder).
    static func ownFolders() -> [(kind: String, path: String)] {
        guard let own = FS.readSmall(path: "/proc/self/cgroup", limit: 8192) else { return [] }
        var out: [(String, String)] = []
        for line in String(decoding: own, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            let path = String(parts[2]) == "/" ? "" : String(parts[2])
            if parts[0] == "0" {
                out.append(("v2", "/sys/fs/cgroup" + path))
                out.append(("v2", "/sys/fs/cgroup/unified" + path))
            } else {
                for c in parts[1].split(separator: ",") where c == "memory" || c == "pids" {
                    out.append((String(c), "/sys/fs/cgroup/\(c)" + path))
                }
            }
        }
        return out
    }

    static func create(runID: String, limits: ResourceLimits) -> RunCgroups? {
        guard geteuid() == 0 else { return nil }
        let cg = RunCgroups(limits: limits)
        let name = namePrefix + runID
        for (kind, base) in ownFolders() {
            if kind == "v2" { cg.createV2(base: base, name: name) } else { cg.createV1(controller: kind, base: base, name: name) }
        }
        return cg.groups.isEmpty ? nil : cg
    }

    /// Removes run cgroups left by a supervisor that was killed: those older than a minute
    /// whose sandbox folder is gone (the stale-sandbox sweep runs first). The kernel refuses
    /// to remove a cgroup with processes in it.
    public static func removeStale(sandboxFolder: String) {
        guard geteuid() == 0 else { return }
        for (_, base) in ownFolders() {
            guard let dir = opendir(base) else { continue }
            defer { closedir(dir) }
            while let entry = readdir(dir) {
                let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                    String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
                }
                guard name.hasPrefix(namePrefix) else { continue }
                let runID = String(name.dropFirst(namePrefix.count))
                // A run's cgroup is empty for a moment between its creation and init joining
                // it, and its sandbox may be under another TMPDIR than ours: only a cgroup
                // left for a minute is stale (rmdir refuses one that still has processes).
                var st = stat()
                guard stat(base + "/" + name, &st) == 0, time(nil) - st.st_ctim.tv_sec > 60 else { continue }
                if access(sandboxFolder + "/" + runID, F_OK) != 0 { rmdir(base + "/" + name) }
            }
        }
    }

    private func createV1(controller: String, base: String, name: String) {
        let dir = base.hasSuffix("/") ? base + name : base + "/" + name
        guard mkdir(dir, 0o700) == 0 else { return }
        let mib = UInt64(1 << 20)
        let ok: Bool
        if controller == "memory" {
            let bytes = String(UInt64(limits.memoryMB) * mib)
            // memsw (memory plus swap) must not be below the memory limit: set it after.
            ok = write(dir + "/memory.limit_in_bytes", bytes)
                && (access(dir + "/memory.memsw.limit_in_bytes", F_OK) != 0 || write(dir + "/memory.memsw.limit_in_bytes", bytes))
        } else {
            ok = write(dir + "/pids.max", String(limits.maxProcesses))
        }
        let fd = open(dir + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard ok, fd >= 0 else {
            if fd >= 0 { close(fd) }
            rmdir(dir)
            return
        }
        groups.append(Group(path: dir, procsFD: fd, version: 1, controller: controller))
    }

    private func createV2(base: String, name: String) {
        guard groups.first(where: { $0.version == 2 }) == nil,
              let control = FS.readSmall(path: base + "/cgroup.subtree_control", limit: 4096) else { return }
        let enabled = String(decoding: control, as: UTF8.self).split(whereSeparator: { $0 == " " || $0 == "\n" })
        guard enabled.contains("memory") || enabled.contains("pids") else { return }
        let dir = base + "/" + name
        guard mkdir(dir, 0o700) == 0 else { return }
        var ok = true
        if enabled.contains("memory") {
            ok = ok && write(dir + "/memory.max", String(UInt64(limits.memoryMB) << 20)) && write(dir + "/memory.swap.max", "0")
        }
        if enabled.contains("pids") { ok = ok && write(dir + "/pids.max", String(limits.maxProcesses)) }
        let fd = open(dir + "/cgroup.procs", O_WRONLY | O_CLOEXEC)
        guard ok, fd >= 0 else {
            if fd >= 0 { close(fd) }
            rmdir(dir)
            return
        }
        if enabled.contains("memory") { groups.append(Group(path: dir, procsFD: fd, version: 2, controller: "memory")) }
        if enabled.contains("pids") {
            groups.append(Group(path: dir, procsFD: enabled.contains("memory") ? dup(fd) : fd, version: 2, controller: "pids"))
        }
    }

    /// What the kernel counted: the OOM killer's kills and the refused forks.
    func incidents() -> [(kind: String, detail: String, action: String)] {
        var out: [(String, String, String)] = []
        for g in groups {
            if g.controller == "memory" {
                let file = g.version == 1 ? "/memory.oom_control" : "/memory.events"
                if let n = counter(g.path + file, "oom_kill"), n > 0 {
                    out.append(("memory_limit", "the kernel's OOM killer ended \(n) process\(n == 1 ? "" : "es") at the \(limits.memoryMB) MB limit", "killed"))
                }
            } else if let n = counter(g.path + "/pids.events", "max"), n > 0 {
                out.append(("process_limit", "\(n) attempt\(n == 1 ? "" : "s") to start a process past the limit of \(limits.maxProcesses) failed", "refused"))
            }
        }
        return out
    }

    /// Removes the cgroups; every process of the run is gone by then.
    func remove() {
        for g in groups {
            close(g.procsFD)
            rmdir(g.path)
        }
        groups = []
    }

    deinit { remove() }

    private func counter(_ path: String, _ key: String) -> Int? {
        guard let bytes = FS.readSmall(path: path, limit: 4096) else { return nil }
        for line in String(decoding: bytes, as: UTF8.self).split(separator: "\n") {
            let words = line.split(separator: " ")
            if words.count == 2, words[0] == key { return Int(words[1]) }
        }
        return nil
    }

    private func write(_ path: String, _ value: String) -> Bool {
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        let bytes = Array(value.utf8)
        return Glibc.write(fd, bytes, bytes.count) == bytes.count
    }
}
