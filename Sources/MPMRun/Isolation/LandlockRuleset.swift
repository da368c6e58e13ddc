import CLauncher
import Glibc

/// The Landlock ruleset of a run: what the agent may read, write and execute, built in the
/// supervisor and handed to the launcher as an fd. Everything not granted here is denied by
/// the kernel, whatever the file modes say.
///
/// - read and execute: the system's runtime folders (/usr, /bin, /lib..., /etc read-only)
/// - read: /proc (its other processes stay out of reach: Landlock refuses ptrace-mode access
///   to tasks outside the domain), the sandbox root, `input/`, and with read_files the read paths
/// - read and write: `temp/`, a few devices (/dev/null...), and with write_files `output/` and
///   the write paths
/// - execute in the sandbox and project paths only with execute_commands
/// - without network_access, TCP bind and connect (ABI 4) are denied too, behind seccomp
/// - signals and abstract unix sockets are scoped to the run (ABI 6): the agent cannot signal
///   the supervisor or other agents, nor reach their abstract sockets
public struct LandlockRuleset: ~Copyable {
    public let fd: Int32
    public let abi: Int32

    public struct Sandbox: Sendable {
        public var root: String
        public var input: String
        public var output: String
        public var temp: String
        public init(root: String, input: String, output: String, temp: String) {
            self.root = root
            self.input = input
            self.output = output
            self.temp = temp
        }
    }

    public struct BuildError: Error, CustomStringConvertible {
        public var description: String
    }

    static let systemReadExecute = ["/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32"]
    static let systemReadOnly = ["/etc", "/proc"]
    static let devices = ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]

    static let read = MPM_LL_ACCESS_FS_READ_FILE | MPM_LL_ACCESS_FS_READ_DIR
    static let execute = MPM_LL_ACCESS_FS_EXECUTE
    static let fileOnly = MPM_LL_ACCESS_FS_EXECUTE | MPM_LL_ACCESS_FS_WRITE_FILE | MPM_LL_ACCESS_FS_READ_FILE
        | MPM_LL_ACCESS_FS_TRUNCATE | MPM_LL_ACCESS_FS_IOCTL_DEV

    /// Every filesystem right this ABI knows, so that each is denied unless granted.
    static func handledFS(abi: Int32) -> UInt64 {
        var rights: UInt64 = (1 << 13) - 1
        if abi >= 2 { rights |= MPM_LL_ACCESS_FS_REFER }
        if abi >= 3 { rights |= MPM_LL_ACCESS_FS_TRUNCATE }
        if abi >= 5 { rights |= MPM_LL_ACCESS_FS_IOCTL_DEV }
        return rights
    }

    /// Creating, removing, renaming and writing files; never device nodes.
    static func write(abi: Int32) -> UInt64 {
        handledFS(abi: abi) & (MPM_LL_ACCESS_FS_WRITE_FILE | MPM_LL_ACCESS_FS_REMOVE_DIR | MPM_LL_ACCESS_FS_REMOVE_FILE
            | MPM_LL_ACCESS_FS_MAKE_DIR | MPM_LL_ACCESS_FS_MAKE_REG | MPM_LL_ACCESS_FS_MAKE_SYM
            | MPM_LL_ACCESS_FS_MAKE_FIFO | MPM_LL_ACCESS_FS_MAKE_SOCK | MPM_LL_ACCESS_FS_REFER
            | MPM_LL_ACCESS_FS_TRUNCATE)
    }

    private init(fd: Int32, abi: Int32) {
        self.fd = fd
        self.abi = abi
    }

    public static func build(abi: Int32, policy: EffectivePolicy, sandbox: Sandbox) throws(BuildError) -> LandlockRuleset {
        guard abi >= 1 else { throw BuildError(description: "Landlock is not available") }
        let handled = handledFS(abi: abi)
        let handledNet = abi >= 4 && !policy.has(.networkAccess)
            ? MPM_LL_ACCESS_NET_BIND_TCP | MPM_LL_ACCESS_NET_CONNECT_TCP : 0
        let scoped = abi >= 6 ? MPM_LL_SCOPE_SIGNAL | MPM_LL_SCOPE_ABSTRACT_UNIX_SOCKET : 0
        let fd = mpm_landlock_create_ruleset(abi, handled, handledNet, scoped)
        guard fd >= 0 else { throw BuildError(description: "landlock_create_ruleset: \(errnoText(errno))") }

        let exec = policy.has(.executeCommands) ? execute : 0
        let write = write(abi: abi)
        var rules: [(String, UInt64)] = []
        rules += systemReadExecute.map { ($0, read | execute) }
        rules += systemReadOnly.map { ($0, read) }
        rules += devices.map { ($0, MPM_LL_ACCESS_FS_READ_FILE | MPM_LL_ACCESS_FS_WRITE_FILE) }
        if let exe = policy.executable, !systemReadExecute.contains(where: { ProjectPath.isWithin(exe, $0) }) {
            rules.append((exe, MPM_LL_ACCESS_FS_READ_FILE | execute))
        }
        rules.append((sandbox.root, read))
        rules.append((sandbox.input, read | exec))
        rules.append((sandbox.temp, read | write | exec))
        rules.append((sandbox.output, policy.has(.writeFiles) ? read | write : read))
        rules += policy.readPaths.map { ($0, read | exec) }
        rules += policy.writePaths.map { ($0, read | write) }

        for (path, access) in rules {
            var st = stat()
            guard stat(path, &st) == 0 else { continue }  // a folder this system does not have
            let isDir = (st.st_mode & S_IFMT) == S_IFDIR
            let rights = (isDir ? access : access & fileOnly) & handled
            guard rights != 0 else { continue }
            if mpm_landlock_allow_path(fd, path, rights) != 0 {
                let e = errno
                close(fd)
                throw BuildError(description: "landlock rule for \(path): \(errnoText(e))")
            }
        }
        return LandlockRuleset(fd: fd, abi: abi)
    }

    deinit { close(fd) }
}
