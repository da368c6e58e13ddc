import CLauncher
import Glibc

/// Copies the `--input` paths into input/, deciding what may be copied with the kernel, not
/// with string checks: every path is opened by openat2 beneath the folder the agent may
/// read (the read path that holds it, or the project root), with RESOLVE_BENEATH, so a
/// symlink that stays inside is followed and one that leaves fails with EXDEV.
struct InputCopier {
    static let maxEntries = 100_000
    static let maxDepth = 128
    static let resolve = MPM_RESOLVE_BENEATH | MPM_RESOLVE_NO_MAGICLINKS

    /// Absolute, without symlinks.
    let projectRoot: String
    let rootFd: Int32
    /// nil: read_files is not granted, and an input only has to lie inside the project.
    let readPaths: [String]?
    /// Absolute, without symlinks: what relative inputs are relative to.
    let cwd: String
    let owner: (uid: uid_t, gid: gid_t)?

    var skipped: [SkippedEntry] = []
    var entries = 0
    /// Names taken in input/, and which input took them.
    var taken: [FSPath: String] = [:]

    init(projectRoot: String, rootFd: Int32, readPaths: [String]?, cwd: String,
         owner: (uid: uid_t, gid: gid_t)?, reserved: [String]) {
        self.projectRoot = projectRoot
        self.rootFd = rootFd
        self.readPaths = readPaths
        self.cwd = cwd
        self.owner = owner
        for name in reserved { taken[FSPath(name)] = name }
    }

    /// Copies one input into `dest` (the input/ folder) under its base name.
    mutating func copy(_ input: String, into dest: Int32) throws(WorkspaceError) {
        guard !input.isEmpty, !input.utf8.contains(0) else {
            throw WorkspaceError(.inputMissing(path: input))
        }
        let absolute = ProjectPath.resolve(input, against: cwd)
        guard ProjectPath.isWithin(absolute, projectRoot) else {
            throw WorkspaceError(.inputOutsideAllowed(path: input, reason: "outside the project root \(projectRoot)"))
        }
        // The folder whose fd anchors the lookup: with read_files, the widest read path that
        // holds the input, so that a symlink may move anywhere inside what the agent may read.
        var base = projectRoot
        if let readPaths {
            let holders = readPaths.filter {
                ProjectPath.isWithin(absolute, $0) && ProjectPath.isWithin($0, projectRoot)
            }
            guard let widest = holders.min(by: { $0.utf8.count < $1.utf8.count }) else {
                let list = readPaths.isEmpty ? "none" : readPaths.joined(separator: ", ")
                throw WorkspaceError(.inputOutsideAllowed(path: input, reason: "outside the agent's read_paths (\(list))"))
            }
            base = widest
        }
        let baseFd: Int32
        if base == projectRoot {
            baseFd = rootFd
        } else {
            baseFd = FS.openat2(rootFd, relative(base, to: projectRoot), O_RDONLY | O_DIRECTORY, resolve: Self.resolve)
            guard baseFd >= 0 else {
                let display = String(base.dropFirst(projectRoot == "/" ? 1 : projectRoot.utf8.count + 1))
                switch errno {
                case EXDEV:
                    throw WorkspaceError(.inputOutsideAllowed(path: input, reason: "the read path \(display) is a symlink that leaves the project root"))
                case ENOENT:
                    throw WorkspaceError(.inputMissing(path: input))
                default:
                    throw WorkspaceError.io("open", base)
                }
            }
        }
        defer { if baseFd != rootFd { close(baseFd) } }

        let name = absolute == "/" ? FSPath("root") : FSPath(String(absolute.split(separator: "/").last!))
        if let first = taken[name] {
            throw WorkspaceError(.duplicateInputName(name: name.display, first: first, second: input))
        }
        taken[name] = input
        try copyEntry(base: baseFd, relative(absolute, to: base), into: dest, as: name,
                      display: input, topLevel: true, depth: 0, ancestors: [])
    }

    /// `path` relative to `parent` (which holds it), as bytes; empty for the folder itself.
    func relative(_ path: String, to parent: String) -> FSPath {
        if path == parent { return FSPath(bytes: []) }
        let drop = parent == "/" ? 1 : parent.utf8.count + 1
        return FSPath(bytes: Array(path.utf8.dropFirst(drop)))
    }

    struct FileID: Hashable {
        var dev: UInt64
        var ino: UInt64
        init(_ st: stat) {
            dev = UInt64(st.st_dev)
            ino = UInt64(st.st_ino)
        }
    }

    mutating func copyEntry(base: Int32, _ rel: FSPath, into dest: Int32, as name: FSPath, display: String,
                            topLevel: Bool, depth: Int, ancestors: Set<FileID>) throws(WorkspaceError) {
        entries += 1
        if entries > Self.maxEntries {
            throw WorkspaceError(.inputTooLarge(path: display, reason: "more than \(Self.maxEntries) files and folders in the inputs"))
        }
        // First an O_PATH handle: it follows symlinks that stay beneath `base` but opens
        // nothing, so a FIFO cannot block us and a device driver never sees an open.
        let handle = FS.openat2(base, rel, MPM_O_PATH, resolve: Self.resolve)
        guard handle >= 0 else {
            let code = errno
            switch code {
            case EXDEV:
                throw WorkspaceError(.inputOutsideAllowed(path: display, reason: "a symlink leaves the allowed paths"))
            case ENOENT where topLevel:
                throw WorkspaceError(.inputMissing(path: display))
            case ENOENT:
                skipped.append(SkippedEntry(path: display, reason: "a symlink to nothing (or removed while copying)"))
                return
            case ELOOP where !topLevel:
                skipped.append(SkippedEntry(path: display, reason: "a symlink loop, not copied"))
                return
            case ELOOP:
                throw WorkspaceError(.inputOutsideAllowed(path: display, reason: "too many levels of symlinks"))
            default:
                throw WorkspaceError.io("open input", display, code)
            }
        }
        guard let st = FS.fstat(handle) else {
            let code = errno
            close(handle)
            throw WorkspaceError.io("stat input", display, code)
        }
        close(handle)

        if FS.isRegular(st) {
            try copyFile(base: base, rel, expected: st, into: dest, as: name, display: display)
        } else if FS.isDir(st) {
            try copyFolder(base: base, rel, expected: st, into: dest, as: name, display: display,
                           depth: depth, ancestors: ancestors)
        } else if topLevel {
            throw WorkspaceError(.inputNotCopyable(path: display, what: FS.kindName(st)))
        } else {
            skipped.append(SkippedEntry(path: display, reason: "\(FS.kindName(st)), not copied"))
        }
    }

    /// Opens `rel` again for reading, and checks that it is still the file we looked at.
    func reopen(base: Int32, _ rel: FSPath, flags: Int32, expected: stat, display: String) throws(WorkspaceError) -> Int32 {
        let fd = FS.openat2(base, rel, flags | O_NOCTTY, resolve: Self.resolve)
        guard fd >= 0 else {
            if errno == EXDEV {
                throw WorkspaceError(.inputOutsideAllowed(path: display, reason: "a symlink leaves the allowed paths"))
            }
            throw WorkspaceError.io("open input", display)
        }
        guard let now = FS.fstat(fd), FS.sameFile(now, expected), FS.type(now) == FS.type(expected) else {
            close(fd)
            throw WorkspaceError.io("copy input", display, EAGAIN)  // changed while we copied it
        }
        return fd
    }

    mutating func copyFile(base: Int32, _ rel: FSPath, expected: stat, into dest: Int32, as name: FSPath,
                           display: String) throws(WorkspaceError) {
        let src = try reopen(base: base, rel, flags: O_RDONLY | O_NONBLOCK, expected: expected, display: display)
        defer { close(src) }
        let out = FS.openat(dest, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard out >= 0 else { throw WorkspaceError.io("create the copy of", display) }
        defer { close(out) }
        if case .failure(let e) = FS.copy(from: src, to: out, limit: Int.max) {
            throw WorkspaceError.io("copy input", display, e.code)
        }
        try finish(out, mode: 0o400, display: display)
    }

    mutating func copyFolder(base: Int32, _ rel: FSPath, expected: stat, into dest: Int32, as name: FSPath,
                             display: String, depth: Int, ancestors: Set<FileID>) throws(WorkspaceError) {
        let id = FileID(expected)
        if ancestors.contains(id) {
            // A symlink back to a folder we are inside: copying it would never end.
            skipped.append(SkippedEntry(path: display, reason: "a symlink to a folder that contains it, not copied"))
            return
        }
        guard depth < Self.maxDepth else {
            throw WorkspaceError(.inputTooLarge(path: display, reason: "folders nested deeper than \(Self.maxDepth)"))
        }
        let src = try reopen(base: base, rel, flags: O_RDONLY | O_DIRECTORY, expected: expected, display: display)
        defer { close(src) }
        guard FS.mkdirat(dest, name, 0o700) else { throw WorkspaceError.io("create the copy of", display) }
        let out = FS.openat(dest, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard out >= 0 else { throw WorkspaceError.io("open the copy of", display) }
        defer { close(out) }
        let names: [FSPath]
        switch FS.names(in: src, limit: Self.maxEntries + 1) {
        case .success(let n): names = n.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        case .failure(let e): throw WorkspaceError.io("list input", display, e.code)
        }
        var inside = ancestors
        inside.insert(id)
        for child in names {
            try copyEntry(base: base, rel.appending(child), into: out, as: child,
                          display: display + "/" + child.display, topLevel: false,
                          depth: depth + 1, ancestors: inside)
        }
        // Read-only only once filled: a 0500 folder cannot take new entries.
        try finish(out, mode: 0o500, display: display)
    }

    func finish(_ fd: Int32, mode: mode_t, display: String) throws(WorkspaceError) {
        guard fchmod(fd, mode) == 0 else { throw WorkspaceError.io("set the mode of the copy of", display) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 {
            throw WorkspaceError.io("change the owner of the copy of", display)
        }
    }
}
