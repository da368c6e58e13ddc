import Glibc

/// Who made a sandbox: the supervisor's pid and its start time (field 22 of
/// /proc/<pid>/stat, in clock ticks since boot). The pair, unlike the pid alone, is not
/// fooled when the kernel hands a dead supervisor's pid to another process.
struct SupervisorStamp: Equatable {
    var pid: Int32
    var startTime: UInt64

    static func current() -> SupervisorStamp {
        let pid = getpid()
        return SupervisorStamp(pid: pid, startTime: startTime(of: pid) ?? 0)
    }

    /// Field 22 of /proc/<pid>/stat; nil when there is no such process.
    static func startTime(of pid: Int32) -> UInt64? {
        guard let bytes = FS.readSmall(path: "/proc/\(pid)/stat") else { return nil }
        // The command name (field 2) is in parentheses and may contain anything, ')' too:
        // count fields from the last ')'. After it come field 3 (state), 4, … so field 22
        // is the 20th word.
        guard let close = bytes.lastIndex(of: UInt8(ascii: ")")) else { return nil }
        let words = bytes[(close + 1)...].split(separator: UInt8(ascii: " "))
        guard words.count >= 20 else { return nil }
        return UInt64(String(decoding: words[19], as: UTF8.self))
    }

    /// Whether this supervisor is still running: its pid exists and started when it did.
    /// When /proc cannot tell (hidepid, no /proc), a pid that exists is taken as alive:
    /// removing a live run's sandbox is the worse mistake.
    var isAlive: Bool {
        guard pid > 0 else { return false }
        if kill(pid, 0) != 0 && errno == ESRCH { return false }
        // The pid exists (kill succeeded, or said EPERM). Hidden from our /proc (hidepid):
        // cannot tell, so alive.
        guard let now = Self.startTime(of: pid) else { return true }
        return now == startTime
    }

    var text: String { "\(pid) \(startTime)\n" }

    static func parse(_ bytes: [UInt8]) -> SupervisorStamp? {
        let words = bytes.split(whereSeparator: { $0 == 0x20 || $0 == 0x0A })
        guard words.count == 2,
              let pid = Int32(String(decoding: words[0], as: UTF8.self)),
              let start = UInt64(String(decoding: words[1], as: UTF8.self)) else { return nil }
        return SupervisorStamp(pid: pid, startTime: start)
    }

    /// Writes supervisor.pid in the run folder (mode 0644, kept by the supervisor's uid).
    func write(in runFd: Int32, path: String) throws(WorkspaceError) {
        let file = path + "/" + Workspace.pidFileName
        let fd = FS.openat(runFd, FSPath(Workspace.pidFileName), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644)
        guard fd >= 0 else { throw WorkspaceError.io("create", file) }
        defer { close(fd) }
        guard FS.writeAll(fd, Array(text.utf8)) else { throw WorkspaceError.io("write", file) }
    }
}

/// Sandboxes left behind by a supervisor that was killed: a supervisor that starts removes
/// every run folder in `<tmp>/mpm-run` whose supervisor is gone.
public enum StaleSandboxes {
    /// A run folder without a readable supervisor.pid may be one that another supervisor
    /// is creating right now; it counts as stale only once it is this old.
    public static let graceSeconds = 60

    public struct Sweep: Sendable {
        /// Paths of the run folders removed.
        public var removed: [String] = []
        /// Run folders of live supervisors (or too young to judge).
        public var kept = 0
        /// One line per folder that was stale but could not be removed.
        public var problems: [String] = []
    }

    /// Removes stale run folders: only folders owned by us (any, when root), only folders
    /// (a symlink in `<tmp>/mpm-run` is never followed), and only through folder fds.
    @discardableResult
    public static func removeAll(tmp: String? = nil) -> Sweep {
        var sweep = Sweep()
        let basePath = (tmp ?? Workspace.defaultTemporaryFolder()) + "/" + Workspace.sandboxFolderName
        let baseFd = FS.openat(AT_FDCWD, FSPath(basePath), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard baseFd >= 0 else {
            if errno != ENOENT { sweep.problems.append("\(basePath): \(errnoText(errno))") }
            return sweep
        }
        defer { close(baseFd) }
        // The same checks as when a run starts: a folder someone else controls is not ours to clean.
        guard let baseStat = FS.fstat(baseFd), baseStat.st_uid == 0 || baseStat.st_uid == geteuid() else {
            sweep.problems.append("\(basePath): not owned by root or by us; left alone")
            return sweep
        }
        let names: [FSPath]
        switch FS.names(in: baseFd) {
        case .success(let n): names = n
        case .failure(let e):
            sweep.problems.append("\(basePath): \(errnoText(e.code))")
            return sweep
        }
        let me = geteuid()
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        for name in names {
            let path = basePath + "/" + name.display
            guard let st = FS.lstatat(baseFd, name), FS.isDir(st) else { continue }
            guard me == 0 || st.st_uid == me else { continue }
            let runFd = FS.openat(baseFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            guard runFd >= 0 else { continue }
            defer { close(runFd) }
            guard let opened = FS.fstat(runFd), FS.sameFile(opened, st) else { continue }
            if FS.lstatat(runFd, FSPath(Workspace.keptFileName)) != nil { sweep.kept += 1; continue }
            if let bytes = FS.readSmall(runFd, FSPath(Workspace.pidFileName), limit: 64),
               let stamp = SupervisorStamp.parse(bytes) {
                if stamp.isAlive { sweep.kept += 1; continue }
            } else {
                let changed = st.st_mtim.tv_sec
                if Int(now.tv_sec - changed) < graceSeconds { sweep.kept += 1; continue }
            }
            if let failure = TreeRemover.empty(runFd) {
                let where_ = failure.path.isEmpty ? path : path + "/" + failure.path
                sweep.problems.append("cannot remove \(where_): \(errnoText(failure.errno))")
                continue
            }
            // Unlink the name only while it still is the folder we emptied.
            if let again = FS.lstatat(baseFd, name), FS.sameFile(again, st) {
                if FS.unlinkat(baseFd, name, dir: true) || errno == ENOENT {
                    sweep.removed.append(path)
                } else {
                    sweep.problems.append("cannot remove \(path): \(errnoText(errno))")
                }
            }
        }
        return sweep
    }
}
