import Glibc
import Synchronization

/// One run's sandbox folder, `<tmp>/mpm-run/<run_id>/` (mode 0700):
///
///     input/            copies of the --input files (0400) and folders (0500), INSTRUCTIONS.md
///     output/           what the agent leaves for the user; copied out by collectOutput
///     temp/             the agent's TMPDIR
///     supervisor.pid    "<pid> <start time>" of the supervisor, for StaleSandboxes
///
/// The workspace keeps fds of `<tmp>/mpm-run` and of the run folder: once the agent runs,
/// it may own the run folder and rename things in it, so every later step (collecting
/// output, removing) works from these fds and never re-resolves a path the agent controls.
public final class Workspace: Sendable {
    public static let sandboxFolderName = "mpm-run"
    public static let pidFileName = "supervisor.pid"
    /// Present in a sandbox kept on purpose (--keep-sandbox): the stale-sandbox sweep leaves it.
    public static let keptFileName = "kept"
    public static let instructionsFileName = "INSTRUCTIONS.md"

    public let runID: String
    /// `<tmp>/mpm-run/<run_id>`.
    public let path: String
    public var inputPath: String { path + "/input" }
    public var outputPath: String { path + "/output" }
    public var tempPath: String { path + "/temp" }
    public var instructionsPath: String { inputPath + "/" + Self.instructionsFileName }
    /// Entries inside input folders that were not copied (FIFOs, sockets, devices,
    /// symlinks to nothing or to a folder that contains them), each with its reason.
    public let skippedInputs: [SkippedEntry]

    let baseFd: Int32
    let runFd: Int32
    let runDevice: UInt64
    let runInode: UInt64

    init(runID: String, path: String, skippedInputs: [SkippedEntry], baseFd: Int32, runFd: Int32, runStat: stat) {
        self.runID = runID
        self.path = path
        self.skippedInputs = skippedInputs
        self.baseFd = baseFd
        self.runFd = runFd
        runDevice = UInt64(runStat.st_dev)
        runInode = UInt64(runStat.st_ino)
    }

    deinit {
        close(runFd)
        close(baseFd)
    }

    /// Makes the sandbox for one run and fills input/. On any failure nothing is left behind.
    ///
    /// - Parameters:
    ///   - runID: the run folder's name (random, chosen by the caller): 1 to 128 of
    ///     `[A-Za-z0-9._-]`, not `.` or `..`.
    ///   - inputs: `--input` paths, relative to `cwd` or absolute. Each must lie inside the
    ///     project root, and with read_files inside one of `policy.readPaths`.
    ///   - owner: when the supervisor is root and the agent runs as another uid: the run
    ///     folder and everything in it is given to that uid/gid.
    ///   - tmp: the folder that holds `mpm-run/`; default `$TMPDIR` or `/tmp`.
    public static func create(runID: String, policy: EffectivePolicy, inputs: [String], projectRoot: String,
                              cwd: String, owner: (uid: uid_t, gid: gid_t)?,
                              tmp: String? = nil) throws(WorkspaceError) -> Workspace {
        guard isValidRunID(runID) else { throw WorkspaceError(.badRunID(runID)) }
        let basePath = (tmp ?? defaultTemporaryFolder()) + "/" + sandboxFolderName
        let root = try realPath(projectRoot, what: "the project root")
        let workingDir = try realPath(cwd, what: "the working folder")
        let rootFd = FS.openat(AT_FDCWD, FSPath(root), O_RDONLY | O_DIRECTORY)
        guard rootFd >= 0 else { throw WorkspaceError.io("open the project root", root) }
        defer { close(rootFd) }

        let baseFd = try openSandboxRoot(basePath)
        let name = FSPath(runID)
        let path = basePath + "/" + runID
        guard FS.mkdirat(baseFd, name, 0o700) else {
            let e = errno
            close(baseFd)
            throw WorkspaceError.io("create", path, e)
        }
        let runFd = FS.openat(baseFd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard runFd >= 0, let runStat = FS.fstat(runFd) else {
            let e = errno
            if runFd >= 0 { close(runFd) }
            _ = FS.unlinkat(baseFd, name, dir: true)
            close(baseFd)
            throw WorkspaceError.io("open", path, e)
        }
        do {
            let skipped = try fill(runFd: runFd, path: path, policy: policy, inputs: inputs,
                                   projectRoot: root, rootFd: rootFd, cwd: workingDir, owner: owner)
            return Workspace(runID: runID, path: path, skippedInputs: skipped, baseFd: baseFd, runFd: runFd, runStat: runStat)
        } catch {
            // Nothing half-made stays: empty the folder through its fd, then remove its name
            // (later, if descriptors are short now).
            let made = Workspace(runID: runID, path: path, skippedInputs: [], baseFd: baseFd, runFd: runFd, runStat: runStat)
            if let problem = made.removeOrDefer() { Console.err("mpm-run: \(problem)") }
            throw error
        }
    }

    static func fill(runFd: Int32, path: String, policy: EffectivePolicy, inputs: [String], projectRoot: String,
                     rootFd: Int32, cwd: String, owner: (uid: uid_t, gid: gid_t)?) throws(WorkspaceError) -> [SkippedEntry] {
        guard fchmod(runFd, 0o700) == 0 else { throw WorkspaceError.io("set the mode of", path) }
        try SupervisorStamp.current().write(in: runFd, path: path)

        for sub in ["input", "output", "temp"] {
            guard FS.mkdirat(runFd, FSPath(sub), 0o700) else { throw WorkspaceError.io("create", path + "/" + sub) }
        }
        let inputFd = try openOwnFolder(runFd, "input", path: path)
        defer { close(inputFd) }

        // INSTRUCTIONS.md first, so an input of that name is a duplicate, not a replacement.
        let instructions = FS.openat(inputFd, FSPath(instructionsFileName), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard instructions >= 0 else { throw WorkspaceError.io("create", path + "/input/" + instructionsFileName) }
        defer { close(instructions) }
        guard FS.writeAll(instructions, Array(policy.instructions.utf8)) else {
            throw WorkspaceError.io("write", path + "/input/" + instructionsFileName)
        }
        try setMode(instructions, 0o400, owner: owner, path: path + "/input/" + instructionsFileName)

        var copier = InputCopier(projectRoot: projectRoot, rootFd: rootFd,
                                 readPaths: policy.has(.readFiles) ? policy.readPaths : nil,
                                 cwd: cwd, owner: owner, reserved: [instructionsFileName])
        for input in inputs {
            try copier.copy(input, into: inputFd)
        }
        try setMode(inputFd, 0o500, owner: owner, path: path + "/input")

        for sub in ["output", "temp"] {
            let fd = try openOwnFolder(runFd, sub, path: path)
            defer { close(fd) }
            try setMode(fd, 0o700, owner: owner, path: path + "/" + sub)
        }
        try setMode(runFd, 0o700, owner: owner, path: path)
        return copier.skipped
    }

    /// Marks the sandbox as kept on purpose, so that no later supervisor sweeps it away.
    /// Through the run folder's fd: by then the agent may own the folder and could have put
    /// a symlink where its name was.
    /// Nil, or one line saying it could not be marked (and may be swept away later).
    public func markKept() -> String? {
        /// 0, or the errno of the create.
        func mark() -> Int32 {
            let fd = FS.openat(runFd, FSPath(Self.keptFileName), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0o644)
            let e = errno
            if fd >= 0 { close(fd); return 0 }
            // Whatever the agent put there under that name marks it as well (the sweep lstats).
            return FS.lstatat(runFd, FSPath(Self.keptFileName)) != nil ? 0 : e
        }
        var e = mark()
        if e == 0 { return nil }
        // The agent may have taken the write bit off its run folder.
        if e == EACCES, let st = FS.fstat(runFd), fchmod(runFd, (st.st_mode & 0o7777) | 0o700) == 0 {
            e = mark()
            if e == 0 { return nil }
            _ = fchmod(runFd, st.st_mode & 0o7777)  // for nothing: as the agent left it
        }
        return Diagnostic.oneLine("the sandbox \(path) could not be marked as kept (\(errnoText(e))): "
                                  + "an mpm-run that starts after this one has ended may remove it")
    }

    /// Removes the sandbox: everything in it, then the folder itself. Agent-made obstacles
    /// (read-only folders, symlinks, deep nesting) do not stop it, and no symlink is followed.
    /// Out of descriptors, it tries again for up to a second (`attempts` of 25 ms).
    public func remove(attempts: Int = 40) throws(WorkspaceError) {
        if let failure = TreeRemover.empty(runFd, attempts: attempts) {
            throw WorkspaceError.io("remove", failure.path.isEmpty ? path : path + "/" + failure.path, failure.errno)
        }
        let name = FSPath(runID)
        // Remove the name only while it still is our folder; if the agent renamed it, its
        // contents are gone already and the name now belongs to something else.
        guard let now = FS.lstatat(baseFd, name) else { return }
        guard UInt64(now.st_dev) == runDevice, UInt64(now.st_ino) == runInode else { return }
        guard FS.unlinkat(baseFd, name, dir: true) || errno == ENOENT else {
            throw WorkspaceError.io("remove", path)
        }
    }

    // MARK: - Removal when descriptors are short

    /// Sandboxes whose removal failed for want of descriptors, each holding its two fds:
    /// removed later, through those fds, by `removeDeferred`.
    private static let deferred = Mutex<[Workspace]>([])

    /// Removes the sandbox at once. If descriptors are short (EMFILE, ENFILE: in serve, runs
    /// that wait hold theirs), it is not left behind nor waited for: it joins the sandboxes
    /// that `removeDeferred` removes, which serve calls as each run ends and before it
    /// exits, and the run command before it exits. Nil, or one line for a sandbox that could
    /// not be removed (the next mpm-run to start sweeps it away).
    public func removeOrDefer() -> String? {
        do throws(WorkspaceError) {
            try remove(attempts: 1)
            return nil
        } catch {
            if Self.outOfDescriptors(error) {
                Self.deferred.withLock { $0.append(self) }
                return nil
            }
            return Self.problem(error)
        }
    }

    /// Tries again to remove the sandboxes set aside by `removeOrDefer`. `last`: nothing
    /// more will end (serve's runs are over, or the run command is done), so each gets the
    /// full second of retries and none is set aside again. Lines for those that failed.
    public static func removeDeferred(last: Bool = false) -> [String] {
        let waiting = deferred.withLock { list in
            let taken = list
            list = []
            return taken
        }
        var problems: [String] = []
        for workspace in waiting {
            do throws(WorkspaceError) {
                try workspace.remove(attempts: last ? 40 : 1)
            } catch {
                if !last && outOfDescriptors(error) {
                    deferred.withLock { $0.append(workspace) }
                } else {
                    problems.append(problem(error))
                }
            }
        }
        return problems
    }

    /// How many sandboxes wait in `removeDeferred`'s list.
    static var deferredCount: Int { deferred.withLock { $0.count } }

    private static func outOfDescriptors(_ error: WorkspaceError) -> Bool {
        if case .io(_, _, let code) = error.kind { return code == EMFILE || code == ENFILE }
        return false
    }

    /// One line: the path may hold names the agent chose (line breaks, terminal escapes).
    private static func problem(_ error: WorkspaceError) -> String {
        Diagnostic.oneLine("sandbox not removed: \(error.description) "
                           + "(an mpm-run that starts after this one has ended removes it)")
    }

    // MARK: - Helpers

    /// Run ids become a folder name: no `/`, no `..`, nothing a shell or a log would mangle.
    static func isValidRunID(_ id: String) -> Bool {
        guard (1...128).contains(id.utf8.count), id != ".", id != ".." else { return false }
        return id.utf8.allSatisfy { b in
            (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A)
                || b == UInt8(ascii: "-") || b == UInt8(ascii: "_") || b == UInt8(ascii: ".")
        }
    }

    /// `$TMPDIR` when it is an absolute path, else `/tmp`; without a trailing slash.
    public static func defaultTemporaryFolder() -> String {
        if let v = getenv("TMPDIR") {
            var s = String(cString: v)
            while s.count > 1 && s.hasSuffix("/") { s.removeLast() }
            if s.hasPrefix("/") { return s }
        }
        return "/tmp"
    }

    static func realPath(_ path: String, what: String) throws(WorkspaceError) -> String {
        guard let real = realpath(path, nil) else { throw WorkspaceError.io("resolve \(what)", path) }
        defer { free(real) }
        return String(cString: real)
    }

    /// Opens `<tmp>/mpm-run`, creating it (mode 01777: shared by several users like /tmp
    /// itself, and sticky so that no one can rename or remove another's run folder).
    /// Refused when it is a symlink, not a folder, owned by someone other than root or us,
    /// or writable by others without the sticky bit: any of those would let another user
    /// swap our run folder.
    static func openSandboxRoot(_ path: String) throws(WorkspaceError) -> Int32 {
        let p = FSPath(path)
        var fd = FS.openat(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        if fd < 0 && errno == ENOENT {
            let created = p.withCString { mkdir($0, 0o1777) } == 0
            guard created || errno == EEXIST else { throw WorkspaceError.io("create", path) }
            fd = FS.openat(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
            // The umask took bits away from mkdir's mode; put them back.
            if created && fd >= 0 { fchmod(fd, 0o1777) }
        }
        guard fd >= 0 else {
            let e = errno
            if e == ELOOP || e == ENOTDIR {
                let st = FS.lstatat(AT_FDCWD, p)
                let what = st.map { FS.isSymlink($0) ? "is a symlink" : "is \(FS.kindName($0)), not a folder" } ?? "is not a folder"
                throw WorkspaceError(.unsafeSandboxRoot(path: path, reason: "\(what); remove it or set TMPDIR"))
            }
            throw WorkspaceError.io("open", path, e)
        }
        guard let st = FS.fstat(fd) else {
            let e = errno
            close(fd)
            throw WorkspaceError.io("stat", path, e)
        }
        let me = geteuid()
        if st.st_uid != 0 && st.st_uid != me {
            close(fd)
            throw WorkspaceError(.unsafeSandboxRoot(path: path, reason: "owned by uid \(st.st_uid), not by root or uid \(me); remove it or set TMPDIR"))
        }
        if st.st_mode & 0o022 != 0 && st.st_mode & mode_t(S_ISVTX) == 0 {
            close(fd)
            throw WorkspaceError(.unsafeSandboxRoot(path: path, reason: "writable by others without the sticky bit; chmod 1777 it or set TMPDIR"))
        }
        return fd
    }

    static func openOwnFolder(_ runFd: Int32, _ sub: String, path: String) throws(WorkspaceError) -> Int32 {
        let fd = FS.openat(runFd, FSPath(sub), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard fd >= 0 else { throw WorkspaceError.io("open", path + "/" + sub) }
        return fd
    }

    static func setMode(_ fd: Int32, _ mode: mode_t, owner: (uid: uid_t, gid: gid_t)?, path: String) throws(WorkspaceError) {
        guard fchmod(fd, mode) == 0 else { throw WorkspaceError.io("set the mode of", path) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw WorkspaceError.io("change the owner of", path)
        }
    }
}
