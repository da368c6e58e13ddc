import CSeccomp
import CLauncher
import Glibc
import Synchronization

/// The seccomp program of a run, compiled with libseccomp and exported as BPF for the
/// launcher to install. What it denies:
///
/// - always: the syscalls of `Baseline.alwaysDeniedSyscalls`; `clone` with any namespace
///   flag; terminal input injection (TIOCSTI, TIOCLINUX); `clone3`, whose flags live in
///   memory a filter cannot read, fails with ENOSYS so that libc falls back to `clone`.
/// - without network_access: `socket` of any family (socketpair stays allowed).
/// - without write_files: the path forms of chmod, chown, utime and the xattr calls, which
///   Landlock does not govern.
/// - without execute_commands: `fork`, `vfork`, `clone` of anything but a thread,
///   `execveat`, and every `execve` except the launcher's own, recognised by its three
///   pointer arguments (addresses in the supervisor's memory that the agent never sees,
///   so it cannot repeat the call).
///
/// Foreign architectures (i386 via int 0x80, x32) are killed by libseccomp's default.
public struct SeccompFilter: Sendable {
    /// The BPF program: `struct sock_filter[]`, 8 bytes an instruction.
    public let program: [UInt8]
    public var instructionCount: Int { program.count / 8 }

    /// The launcher's own execve, which the no-execute filter must let through once.
    public struct OwnExec: Sendable {
        public var path: UInt
        public var argv: UInt
        public var envp: UInt
    }

    public enum BuildError: Error, CustomStringConvertible {
        case libseccomp(String, Int32)
        public var description: String {
            switch self {
            case .libseccomp(let step, let code): return "seccomp: \(step) failed: \(errnoText(-code))"
            }
        }
    }

    /// SCMP_ACT_ERRNO is a macro that does not import.
    static func actErrno(_ e: Int32) -> UInt32 { 0x0005_0000 | (UInt32(e) & 0xFFFF) }

    static let pathMetadataSyscalls = ["chmod", "fchmodat", "fchmodat2", "chown", "lchown", "fchownat", "utime",
                                       "utimes", "futimesat", "setxattr", "lsetxattr", "removexattr", "lremovexattr"]

    /// SCMP_ACT_NOTIFY: the call waits for the supervisor, which records it and answers EPERM.
    static let actNotify: UInt32 = 0x7FC0_0000

    /// With `notify`, every denial is reported to the supervisor through a listener (and still
    /// fails with EPERM); without, the kernel answers EPERM itself and nobody hears of it.
    public init(permissions: Set<Permission>, ownExec: OwnExec?, notify: Bool) throws(BuildError) {
        guard let ctx = seccomp_init(SCMP_ACT_ALLOW) else { throw .libseccomp("seccomp_init", -ENOMEM) }
        defer { seccomp_release(ctx) }
        let eperm = notify ? Self.actNotify : Self.actErrno(EPERM)

        func add(_ name: String, _ action: UInt32, _ conditions: [scmp_arg_cmp] = []) throws(BuildError) {
            let nr = seccomp_syscall_resolve_name(name)
            guard nr != __NR_SCMP_ERROR else { return }  // not a syscall on this architecture
            let rc = conditions.withUnsafeBufferPointer {
                seccomp_rule_add_array(ctx, action, nr, UInt32($0.count), $0.baseAddress)
            }
            guard rc == 0 else { throw .libseccomp("rule for \(name)", rc) }
        }
        func arg(_ index: UInt32, _ op: scmp_compare, _ a: UInt64, _ b: UInt64 = 0) -> scmp_arg_cmp {
            scmp_arg_cmp(arg: index, op: op, datum_a: a, datum_b: b)
        }

        for name in Baseline.alwaysDeniedSyscalls { try add(name, eperm) }
        try add("clone3", Self.actErrno(ENOSYS))
        for flag in CloneFlags.namespaces {
            try add("clone", eperm, [arg(0, SCMP_CMP_MASKED_EQ, UInt64(flag), UInt64(flag))])
        }
        // ioctl's request is an int: compare only the low 32 bits, or 0xffffffff00005412 slips by.
        for request in [0x5412 /* TIOCSTI */, 0x541C /* TIOCLINUX */] as [UInt64] {
            try add("ioctl", eperm, [arg(1, SCMP_CMP_MASKED_EQ, 0xFFFF_FFFF, request)])
        }

        if !permissions.contains(.networkAccess) {
            // Every family, AF_UNIX too: Landlock does not govern connect() to a named socket,
            // so a unix socket would reach the host's daemons (docker, dbus...). socketpair()
            // stays: it connects only the agent to itself.
            try add("socket", eperm)
        }

        if !permissions.contains(.writeFiles) {
            // Landlock does not govern metadata: without these rules an agent could chmod,
            // chown, retime or relabel any file its uid owns, anywhere. The fd forms stay:
            // their fd had to pass Landlock to be opened.
            for name in Self.pathMetadataSyscalls { try add(name, eperm) }
            try add("utimensat", eperm, [arg(1, SCMP_CMP_NE, 0)])  // utimensat(fd, NULL, ...) is futimens
        }

        if !permissions.contains(.executeCommands) {
            try add("fork", eperm)
            try add("vfork", eperm)
            try add("clone", eperm, [arg(0, SCMP_CMP_MASKED_EQ, CloneFlags.thread, 0)])
            try add("execveat", eperm)
            if let own = ownExec {
                // Denied unless all three pointers are the launcher's: three rules, any mismatch denies.
                try add("execve", eperm, [arg(0, SCMP_CMP_NE, UInt64(own.path))])
                try add("execve", eperm, [arg(1, SCMP_CMP_NE, UInt64(own.argv))])
                try add("execve", eperm, [arg(2, SCMP_CMP_NE, UInt64(own.envp))])
            } else {
                try add("execve", eperm)
            }
        }

        program = try Self.export(ctx)
    }

    private init(program: [UInt8]) { self.program = program }

    /// libseccomp 2.5.4 exports only to a file descriptor: write to a memfd, read it back.
    private static func export(_ ctx: scmp_filter_ctx) throws(BuildError) -> [UInt8] {
        let fd = mpm_memfd("mpm-seccomp")
        guard fd >= 0 else { throw .libseccomp("memfd_create", -errno) }
        defer { close(fd) }
        let rc = seccomp_export_bpf(ctx, fd)
        guard rc == 0 else { throw .libseccomp("seccomp_export_bpf", rc) }
        let size = Int(lseek(fd, 0, SEEK_END))
        var bytes = [UInt8](repeating: 0, count: size)
        let n = bytes.withUnsafeMutableBytes { pread(fd, $0.baseAddress, size, 0) }
        guard n == size else { throw .libseccomp("reading the exported filter", -EIO) }
        return bytes
    }
}

/// Compiling with libseccomp costs far more than the launch it guards (a rule tree, its BPF
/// export through a memfd), and a program differs between two runs of one policy only in
/// the launcher's three execve pointers. So each (permissions, notify) is compiled once,
/// with sentinel values in place of the pointers, and every launch copies that program and
/// writes its own pointers over the sentinels. A compile whose sentinels are not found
/// exactly where they belong (the comparisons of execve's arguments) is not cached: such
/// launches compile their own program, as before.
extension SeccompFilter {
    struct TemplateKey: Hashable {
        var permissions: Set<Permission>
        var notify: Bool
    }

    /// A compiled program and where in it each half of each execve pointer goes.
    struct Template: Sendable {
        var program: [UInt8]
        /// (byte offset of an instruction's `k`, which of `sentinelHalves` it holds)
        var slots: [(offset: Int, half: Int)]
    }

    /// Values no real pointer has (user space ends below 2^47) and no other comparison
    /// uses: each 32-bit half is distinct, so a half found in the program is known to be
    /// the one that was put there.
    static let sentinels = OwnExec(path: 0x7E5A_3C11_6B2D_9F01, argv: 0x7E5A_3C22_6B2D_9F02, envp: 0x7E5A_3C33_6B2D_9F03)
    static let sentinelHalves: [UInt32] = halves(sentinels)

    /// path high, path low, argv high, argv low, envp high, envp low.
    static func halves(_ own: OwnExec) -> [UInt32] {
        [own.path, own.argv, own.envp].flatMap { [UInt32(truncatingIfNeeded: UInt64($0) >> 32), UInt32(truncatingIfNeeded: $0)] }
    }

    private static let templates = Mutex<[TemplateKey: Template]>([:])

    /// The program for a launch whose execve uses `ownExec`: the cached compile of this
    /// policy with the pointers patched in, or a fresh compile.
    public static func forLaunch(permissions: Set<Permission>, ownExec: OwnExec, notify: Bool) throws(BuildError) -> SeccompFilter {
        guard let t = try template(permissions: permissions, notify: notify) else {
            return try SeccompFilter(permissions: permissions, ownExec: ownExec, notify: notify)
        }
        // With execute_commands there are no execve rules: nothing to patch.
        return SeccompFilter(program: t.slots.isEmpty ? t.program : patched(t, with: ownExec))
    }

    static func patched(_ t: Template, with own: OwnExec) -> [UInt8] {
        var program = t.program
        let values = halves(own)
        program.withUnsafeMutableBytes { raw in
            for slot in t.slots { raw.storeBytes(of: values[slot.half], toByteOffset: slot.offset, as: UInt32.self) }
        }
        return program
    }

    /// The cached compile for this policy, made on first use. Nil-slotted (and never
    /// patched) when the policy allows execve; nil when the compile could not be verified.
    static func template(permissions: Set<Permission>, notify: Bool) throws(BuildError) -> Template? {
        let key = TemplateKey(permissions: permissions, notify: notify)
        if let t = templates.withLock({ $0[key] }) { return t }
        let filter = try SeccompFilter(permissions: permissions, ownExec: sentinels, notify: notify)
        let template: Template
        if permissions.contains(.executeCommands) {
            template = Template(program: filter.program, slots: [])
        } else {
            guard let slots = sentinelSlots(filter.program) else { return nil }
            template = Template(program: filter.program, slots: slots)
        }
        templates.withLock { $0[key] = template }
        return template
    }

    /// Where the sentinels stand, if every one of the six halves is there and each only as
    /// the constant of a `jeq` (BPF_JMP | BPF_JEQ | BPF_K): how libseccomp compares a
    /// 64-bit argument, half by half.
    static func sentinelSlots(_ program: [UInt8]) -> [(offset: Int, half: Int)]? {
        let jeqK: UInt16 = 0x15
        var slots: [(offset: Int, half: Int)] = []
        var seen = Set<Int>()
        let ok = program.withUnsafeBytes { raw -> Bool in
            for i in 0..<(raw.count / 8) {
                let k = raw.loadUnaligned(fromByteOffset: i * 8 + 4, as: UInt32.self)
                guard let half = sentinelHalves.firstIndex(of: k) else { continue }
                guard raw.loadUnaligned(fromByteOffset: i * 8, as: UInt16.self) == jeqK else { return false }
                slots.append((i * 8 + 4, half))
                seen.insert(half)
            }
            return true
        }
        return ok && seen.count == sentinelHalves.count ? slots : nil
    }
}

extension SeccompFilter {
    /// A denied call, as an event names it.
    public struct Denial: Sendable, Equatable {
        public var syscall: String
        /// The permission the agent lacked, or `always_denied`.
        public var permission: String
        public var reason: String
    }

    /// What the filter denied: `nr` and `args` from the notification.
    public static func classify(nr: Int32, args: [UInt64]) -> Denial {
        let name: String
        if let cName = seccomp_syscall_resolve_num_arch(UInt32(SCMP_ARCH_NATIVE), nr) {
            name = String(cString: cName)
            free(cName)
        } else {
            name = "syscall_\(nr)"
        }
        let always = "always_denied"
        switch name {
        case "socket":
            let family = args.first.map { Self.familyName(Int32(truncatingIfNeeded: $0)) } ?? "?"
            return Denial(syscall: name, permission: Permission.networkAccess.rawValue,
                          reason: "socket(\(family)) without network_access")
        case "fork", "vfork":
            return Denial(syscall: name, permission: Permission.executeCommands.rawValue,
                          reason: "a new process without execute_commands")
        case "execve", "execveat":
            return Denial(syscall: name, permission: Permission.executeCommands.rawValue,
                          reason: "running another program without execute_commands")
        case "clone":
            let flags = args.first ?? 0
            if CloneFlags.namespaces.contains(where: { flags & $0 != 0 }) {
                return Denial(syscall: name, permission: always, reason: "clone into new namespaces is never allowed")
            }
            return Denial(syscall: name, permission: Permission.executeCommands.rawValue,
                          reason: "a new process without execute_commands")
        case "ioctl":
            return Denial(syscall: name, permission: always, reason: "terminal input injection is never allowed")
        case _ where pathMetadataSyscalls.contains(name) || name == "utimensat":
            return Denial(syscall: name, permission: Permission.writeFiles.rawValue,
                          reason: "changing a file's metadata without write_files")
        default:
            return Denial(syscall: name, permission: always, reason: "\(name) is never allowed")
        }
    }

    static func familyName(_ family: Int32) -> String {
        switch family {
        case 2: return "AF_INET"
        case 10: return "AF_INET6"
        case 16: return "AF_NETLINK"
        case 17: return "AF_PACKET"
        case 4: return "AF_IPX"
        case 5: return "AF_APPLETALK"
        case 9: return "AF_X25"
        case 38: return "AF_ALG"
        case 40: return "AF_VSOCK"
        default: return "family \(family)"
        }
    }
}

/// clone(2) flags from the kernel ABI (glibc shows them to Swift only with _GNU_SOURCE).
enum CloneFlags {
    static let thread: UInt64 = 0x0001_0000
    /// NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET.
    static let namespaces: [UInt64] = [0x0002_0000, 0x0200_0000, 0x0400_0000, 0x0800_0000,
                                       0x1000_0000, 0x2000_0000, 0x4000_0000]
}
