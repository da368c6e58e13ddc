import CLauncher
import CSeccomp
import Glibc

/// What Landlock denied a run (files, and behind seccomp TCP, signals and abstract sockets),
/// read from the kernel's audit records while the run goes on. The agent gets EACCES (or
/// EPERM) from the kernel either way; this only makes the denial visible.
///
/// Where the kernel makes it observable (measured on Linux 6.18, Landlock ABI 7):
/// - Landlock logs a denial only while audit is enabled, one system-wide switch
///   (`auditctl -e 1`, or `audit=1` at boot); mpm-run never flips it.
/// - By default Landlock logs only the denials of the program that called
///   landlock_restrict_self, not those after its execve: the launcher then passes
///   LANDLOCK_RESTRICT_SELF_LOG_NEW_EXEC_ON (only when someone is reading, see `open`).
/// - Reading the records takes CAP_AUDIT_READ in the initial user namespace (a bind to
///   NETLINK_AUDIT's read-only multicast group), which auditd, if any, does not notice:
///   only a root mpm-run sees them.
/// - A record names the domain that denied, what it denied (`blockers`) and the object
///   (`path`, for a new file the folder it would be made in); the domain's first record
///   comes with one that names its creator's uid, and every run has a uid of its own: that
///   is how a record is matched to the run. The syscall record of the same event (absent
///   when audit rules exclude the task) adds the pid, as the host sees it, and the call.
/// - Records reach the group through the kernel's one audit queue, in order, a moment after
///   the denial. When the run ends, mpm-run logs one record of its own (AUDIT_TRUSTED_APP,
///   `mpm-run: run <id> ended`) and reads until it arrives: nothing the run did is left behind.
///   With the bind and close of the group (AUDIT_EVENT_LISTENER), those are the three records
///   a root run adds to the system's audit log. Records the kernel drops (a full backlog)
///   are not seen; the run's denial cap ends a flood long before.
public final class LandlockDenials {
    public struct Denial: Sendable, Equatable {
        public var permission: String
        public var plane: String
        public var syscall: String?
        public var path: String?
        public var pid: Int?
        public var reason: String
    }

    /// Whether this mpm-run can report Landlock's denials, and if not why: `mpm-run doctor`.
    public struct Status: Sendable {
        public var available: Bool
        public var detail: String
        public var fix: String?
    }

    /// The landlock_restrict_self flags a run gets when its denials are read.
    public static let restrictFlags = UInt32(MPM_LL_RESTRICT_SELF_LOG_NEW_EXEC_ON)

    public let fd: Int32
    private let uid: String
    private var ours: Set<String> = []
    private var theirs: Set<String> = []
    private var pending: [Pending] = []
    /// The text of the record `finish` waits for, and whether it came.
    private var marker: String?
    private var markerSeen = false

    private struct Pending {
        var serial: String
        var domain: String
        var blockers: [String]
        var path: String?
        var pid: Int?
        var syscall: String?
        var complete = false
        var arrived: Int64
    }

    /// A record that is not followed by its syscall record within this long is reported without.
    static let syscallWaitNS: Int64 = 100_000_000
    /// Records of domains not yet known to be anyone's: more are dropped, oldest first.
    static let pendingLimit = 4096

    init(fd: Int32, uid: uid_t) {
        self.fd = fd
        self.uid = String(uid)
    }

    deinit { close(fd) }

    // MARK: - Availability

    /// Reading starts here, before the agent does: nil when this mpm-run cannot see the
    /// records (not root, audit off, Landlock older than ABI 7); the run goes on, its denials
    /// enforced but not reported.
    public static func open(agentUID: uid_t, landlockABI: Int32 = mpm_sys_landlock_abi()) -> LandlockDenials? {
        guard landlockABI >= 7, geteuid() == 0, mpm_audit_enabled() >= 1 else { return nil }
        let fd = mpm_audit_open_log()
        return fd >= 0 ? LandlockDenials(fd: fd, uid: agentUID) : nil
    }

    public static func status(landlockABI: Int32 = mpm_sys_landlock_abi()) -> Status {
        let unreported = "file accesses Landlock denies fail with EACCES but are not reported"
        guard landlockABI >= 7 else {
            return Status(available: false,
                          detail: "\(unreported): Landlock ABI \(max(0, landlockABI)) writes no audit records",
                          fix: "Linux 6.15+ (Landlock ABI 7) built with CONFIG_AUDIT=y")
        }
        guard geteuid() == 0 else {
            // A record is matched to its run by the run's own uid, which only root hands out.
            return Status(available: false,
                          detail: "\(unreported): only a root mpm-run can read the kernel's audit records",
                          fix: "run mpm-run as root")
        }
        let enabled = mpm_audit_enabled()
        switch enabled {
        case 1, 2:
            break
        case 0:
            return Status(available: false, detail: "\(unreported): the kernel's audit is off (audit_enabled 0)",
                          fix: "auditctl -e 1 (package auditd) or boot with audit=1; without auditd running, "
                              + "audit records also go to the kernel log")
        case -EPROTONOSUPPORT:
            return Status(available: false, detail: "\(unreported): the kernel has no audit",
                          fix: "a kernel built with CONFIG_AUDIT=y")
        case -EPERM:
            return Status(available: false,
                          detail: "\(unreported): AUDIT_GET needs CAP_AUDIT_CONTROL, which this root lacks",
                          fix: "run mpm-run as root with CAP_AUDIT_CONTROL and CAP_AUDIT_READ")
        case -ECONNREFUSED:
            return Status(available: false,
                          detail: "\(unreported): audit answers only the initial user namespace (a container?)",
                          fix: "run mpm-run as root on the host")
        default:
            return Status(available: false, detail: "\(unreported): AUDIT_GET: \(errnoText(-enabled))",
                          fix: "run mpm-run as root on the host")
        }
        let fd = mpm_audit_open_log()
        guard fd >= 0 else {
            return Status(available: false,
                          detail: "\(unreported): audit is on, but its log group refuses this process (\(errnoText(-fd)))",
                          fix: "run mpm-run as root with CAP_AUDIT_READ")
        }
        close(fd)
        return Status(available: true,
                      detail: "audit is on\(enabled == 2 ? " (locked)" : ""): each denied file access, TCP port, "
                          + "signal or abstract socket is reported as it happens, from Landlock's audit records")
    }

    // MARK: - Reading

    /// Reads every record waiting; returns this run's denials that are complete.
    public func read() -> [Denial] {
        drain()
        return take(all: false)
    }

    /// Once every process of the run is gone: logs a record of its own and reads, at most
    /// `timeoutMS`, until it arrives (every record of the run was queued before it), then
    /// returns everything not yet returned.
    public func finish(runID: String, timeoutMS: Int) -> [Denial] {
        let text = "mpm-run: run \(runID) ended"
        marker = "msg='\(text)'"
        markerSeen = mpm_audit_user_message(text) != 0  // not sent: nothing to wait for
        let deadline = Monotonic.now().nanoseconds + Int64(timeoutMS) * 1_000_000
        while true {
            drain()
            let waiting = !markerSeen || pending.contains { !ours.contains($0.domain) }
            let left = (deadline - Monotonic.now().nanoseconds) / 1_000_000
            if !waiting || left <= 0 { break }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            _ = poll(&p, 1, Int32(clamping: left))
        }
        return take(all: true)
    }

    /// Into a buffer of the read pool: every record on the machine wakes every run that
    /// listens, and a waiting run keeps no buffer (nor stack pages) for them.
    private func drain() {
        ReadBuffers.withBuffer { buffer in
            precondition(buffer.count >= Int(MPM_AUDIT_BUFFER_SIZE), "a read buffer is smaller than one audit record")
            let text = buffer.baseAddress!.bindMemory(to: CChar.self, capacity: buffer.count)
            var type: Int32 = 0
            while true {
                let n = mpm_audit_receive(fd, &type, text, buffer.count)
                if n == 0 { break }
                if n < 0 {
                    if n == -ENOBUFS { continue }  // records lost: each domain's final count still tells
                    break
                }
                let record = String(decoding: UnsafeRawBufferPointer(start: text, count: Int(n)), as: UTF8.self)
                handle(type: type, record, now: Monotonic.now().nanoseconds)
            }
        }
    }

    func handle(type: Int32, _ record: String, now: Int64) {
        guard let (serial, fields) = Self.parse(record) else { return }
        switch type {
        case MPM_AUDIT_LANDLOCK_ACCESS:
            guard let domain = fields["domain"], !theirs.contains(domain) else { return }
            if pending.count >= Self.pendingLimit, let i = pending.firstIndex(where: { !ours.contains($0.domain) }) {
                pending.remove(at: i)
            }
            pending.append(Pending(
                serial: serial, domain: domain,
                blockers: (fields["blockers"] ?? "").split(separator: ",").map(String.init),
                path: fields["path"].map(Self.untrusted), arrived: now))
        case MPM_AUDIT_LANDLOCK_DOMAIN:
            guard let domain = fields["domain"] else { return }
            if fields["status"] == "allocated" {
                if fields["uid"] == uid {
                    ours.insert(domain)
                } else {
                    if theirs.count >= 65536 { theirs.removeAll() }
                    theirs.insert(domain)
                    pending.removeAll { $0.domain == domain }
                }
            } else if fields["status"] == "deallocated" {
                theirs.remove(domain)  // never used again
            }
        case MPM_AUDIT_SYSCALL:
            for i in pending.indices where pending[i].serial == serial {
                pending[i].pid = fields["pid"].flatMap { Int($0) }
                if let nr = fields["syscall"].flatMap({ Int32($0) }),
                   let arch = fields["arch"].flatMap({ UInt32($0, radix: 16) }) {
                    pending[i].syscall = Self.syscallName(nr: nr, arch: arch)
                }
            }
        case MPM_AUDIT_EOE:
            for i in pending.indices where pending[i].serial == serial { pending[i].complete = true }
        case MPM_AUDIT_TRUSTED_APP:
            if let marker, record.contains(marker) { markerSeen = true }
        default:
            break
        }
    }

    /// This run's denials that are ready (or all of them), in the order they were made.
    func take(all: Bool, now: Int64 = Monotonic.now().nanoseconds) -> [Denial] {
        var out: [Denial] = []
        var kept: [Pending] = []
        for p in pending {
            if !ours.contains(p.domain) {
                if !all { kept.append(p) }  // at the end, a record of a domain nobody claimed is not the run's
            } else if all || p.complete || now - p.arrived >= Self.syscallWaitNS {
                out.append(Self.denial(blockers: p.blockers, path: p.path, pid: p.pid, syscall: p.syscall))
            } else {
                kept.append(p)
            }
        }
        pending = kept
        return out
    }

    // MARK: - Meaning

    static func denial(blockers: [String], path: String?, pid: Int?, syscall: String?) -> Denial {
        let rights = blockers.map { $0.split(separator: ".", maxSplits: 1).last.map(String.init) ?? $0 }
        let what = blockers.joined(separator: ", ")
        let target = path.map { " on \($0)" } ?? ""
        func make(_ permission: String, _ plane: String, _ reason: String) -> Denial {
            Denial(permission: permission, plane: plane, syscall: syscall, path: path, pid: pid, reason: reason)
        }
        if blockers.contains(where: { $0.hasPrefix("net.") }) {
            return make(Permission.networkAccess.rawValue, "network", "Landlock denied \(what) without network_access")
        }
        if blockers.contains(where: { $0.hasPrefix("scope.") }) {
            return make("always_denied", "syscall", "Landlock denied \(what): signals and abstract sockets stay within the run")
        }
        let never: Set = ["make_char", "make_block", "ioctl_dev"]
        if rights.contains(where: never.contains) {
            return make("always_denied", "file", "Landlock denied \(what)\(target): device nodes are never allowed")
        }
        let reads: Set = ["read_file", "read_dir"]
        if rights.contains(where: { !reads.contains($0) && $0 != "execute" }) {
            return make(Permission.writeFiles.rawValue, "file", "Landlock denied \(what)\(target)")
        }
        if rights.contains(where: reads.contains) {
            return make(Permission.readFiles.rawValue, "file", "Landlock denied \(what)\(target)")
        }
        return make(Permission.executeCommands.rawValue, "file", "Landlock denied \(what)\(target)")
    }

    /// `audit(1795329020.095:115): key=value ...`: the event's serial and the fields.
    static func parse(_ record: String) -> (serial: String, fields: [String: String])? {
        guard record.hasPrefix("audit("), let close = record.firstIndex(of: ")"),
              let colon = record[..<close].lastIndex(of: ":") else { return nil }
        let serial = String(record[record.index(after: colon)..<close])
        var fields: [String: String] = [:]
        for word in record[close...].dropFirst(2).split(separator: " ") {
            guard let eq = word.firstIndex(of: "=") else { continue }
            let key = String(word[..<eq])
            if fields[key] == nil { fields[key] = String(word[word.index(after: eq)...]) }
        }
        return (serial, fields)
    }

    /// A value the kernel logged with audit_log_untrustedstring: `"text"` as is, or, when it
    /// holds a space, a quote, a control or a non-ASCII byte, the bytes in hex.
    static func untrusted(_ value: String) -> String {
        if value.count >= 2, value.hasPrefix("\""), value.hasSuffix("\"") {
            return String(value.dropFirst().dropLast())
        }
        let hex = Array(value.utf8)
        guard !hex.isEmpty, hex.count % 2 == 0 else { return value }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(hex.count / 2)
        var i = 0
        while i < hex.count {
            guard let b = UInt8(String(decoding: hex[i...i + 1], as: UTF8.self), radix: 16) else { return value }
            bytes.append(b)
            i += 2
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    static func syscallName(nr: Int32, arch: UInt32) -> String {
        guard let name = seccomp_syscall_resolve_num_arch(arch, nr) else { return "syscall_\(nr)" }
        defer { free(name) }
        return String(cString: name)
    }
}
