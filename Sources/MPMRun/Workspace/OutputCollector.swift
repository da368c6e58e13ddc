import CLauncher
import Glibc

/// What collectOutput copied, and what it left out and why.
public struct CollectedOutput: Sendable {
    public var files = 0
    public var bytes = 0
    public var folders = 0
    /// Symlinks, FIFOs, sockets, devices, names already taken at the destination,
    /// entries past the limits: each one listed, nothing dropped silently.
    public var skipped: [SkippedEntry] = []
}

extension Workspace {
    public static let maxOutputEntries = 100_000
    static let maxOutputDepth = 256

    /// Copies output/ into `dir` (created with its parents; folders 0755, files 0644).
    ///
    /// The agent controls output/, so it is read as hostile: entries are opened relative to
    /// their folder's fd with O_NOFOLLOW, symlinks and special files are skipped (never
    /// followed, never opened), each file is copied up to the size it had when opened, and
    /// at most `maxFiles` entries and `maxBytes` bytes are copied.
    ///
    /// - Parameter owner: who gets the copies (chown); nil: this process's uid and gid.
    public func collectOutput(to dir: String, owner: (uid: uid_t, gid: gid_t)? = nil,
                              maxFiles: Int = Workspace.maxOutputEntries,
                              maxBytes: Int = Int.max) throws(WorkspaceError) -> CollectedOutput {
        let dest = try Self.makeFolders(dir, owner: owner)
        defer { close(dest) }
        return try collectOutput(into: dest, path: dir, owner: owner, maxFiles: maxFiles, maxBytes: maxBytes)
    }

    /// The folder output/ will be copied to, made and opened now, before the agent starts:
    /// an agent that can write where the folder will be (its run id is no secret to it)
    /// cannot plant a symlink there first, nor swap the folder later, because the copy goes
    /// into this fd, not to a path.
    public static func openOutputFolder(_ dir: String, owner: (uid: uid_t, gid: gid_t)? = nil) throws(WorkspaceError) -> OutputFolder {
        OutputFolder(fd: try makeFolders(dir, owner: owner), path: dir, owner: owner)
    }

    /// Copies output/ into a folder opened before the run.
    public func collectOutput(into folder: OutputFolder, maxFiles: Int = Workspace.maxOutputEntries,
                              maxBytes: Int = Int.max) throws(WorkspaceError) -> CollectedOutput {
        try collectOutput(into: folder.fd, path: folder.path, owner: folder.owner, maxFiles: maxFiles, maxBytes: maxBytes)
    }

    private func collectOutput(into dest: Int32, path dir: String, owner: (uid: uid_t, gid: gid_t)?,
                               maxFiles: Int, maxBytes: Int) throws(WorkspaceError) -> CollectedOutput {
        let source = openOutputSource()
        guard source >= 0 else { throw WorkspaceError.io("open", outputPath) }
        defer { close(source) }
        guard let sourceStat = FS.fstat(source), UInt64(sourceStat.st_dev) == runDevice else {
            throw WorkspaceError.io("open", outputPath, EXDEV)
        }
        var copier = OutputCopier(device: sourceStat.st_dev, owner: owner, maxEntries: maxFiles, maxBytes: maxBytes)
        try copier.copyFolder(source, into: dest, display: "", destPath: dir, depth: 0)
        return copier.result
    }

    /// output/, for reading. The agent of an unprivileged mpm-run is mpm-run's own user and
    /// may have taken the owner's bits off its run folder or output/ (chmod 000): they are given
    /// back first (the agent has ended), or its output could not be collected and its sandbox
    /// would be kept for good. output/ is changed through an O_PATH handle, never through a
    /// symlink the agent left in its place.
    private func openOutputSource() -> Int32 {
        let source = FS.openat(runFd, FSPath("output"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        guard source < 0, errno == EACCES, geteuid() != 0 else { return source }
        if let st = FS.fstat(runFd), st.st_mode & 0o700 != 0o700 { fchmod(runFd, (st.st_mode & 0o7777) | 0o700) }
        let handle = FS.openat(runFd, FSPath("output"), MPM_O_PATH | O_DIRECTORY | O_NOFOLLOW)
        if handle >= 0 {
            if let st = FS.fstat(handle), st.st_uid == geteuid(), st.st_mode & 0o700 != 0o700 {
                chmod("/proc/self/fd/\(handle)", (st.st_mode & 0o7777) | 0o700)
            }
            close(handle)
        }
        return FS.openat(runFd, FSPath("output"), O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
    }

    /// `mkdir -p dir` (new folders 0755, given to `owner`), then an fd of `dir`. The path is
    /// the user's own choice, so symlinks along it are followed as the user would expect.
    static func makeFolders(_ dir: String, owner: (uid: uid_t, gid: gid_t)?) throws(WorkspaceError) -> Int32 {
        guard !dir.isEmpty else { throw WorkspaceError.io("create", dir, ENOENT) }
        var prefix = dir.hasPrefix("/") ? "" : "."
        for part in dir.split(separator: "/") {
            prefix += "/" + part
            if part == "." || part == ".." { continue }
            let p = FSPath(prefix)
            if p.withCString({ mkdir($0, 0o755) }) == 0 {
                let fd = FS.openat(AT_FDCWD, p, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                guard fd >= 0 else { throw WorkspaceError.io("open", prefix) }
                defer { close(fd) }
                fchmod(fd, 0o755)
                if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw WorkspaceError.io("change the owner of", prefix) }
            } else if errno != EEXIST {
                throw WorkspaceError.io("create", prefix)
            }
        }
        let fd = FS.openat(AT_FDCWD, FSPath(dir), O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { throw WorkspaceError.io("open", dir) }
        return fd
    }
}

/// An output folder opened before the run (see `Workspace.openOutputFolder`).
public final class OutputFolder: Sendable {
    let fd: Int32
    public let path: String
    let owner: (uid: uid_t, gid: gid_t)?

    init(fd: Int32, path: String, owner: (uid: uid_t, gid: gid_t)?) {
        self.fd = fd
        self.path = path
        self.owner = owner
    }

    deinit { close(fd) }
}

struct OutputCopier {
    let device: dev_t
    let owner: (uid: uid_t, gid: gid_t)?
    let maxEntries: Int
    let maxBytes: Int
    var entries = 0
    var limitNoted = false
    var result = CollectedOutput()

    mutating func skip(_ path: String, _ reason: String) {
        result.skipped.append(SkippedEntry(path: path, reason: reason))
    }

    mutating func copyFolder(_ src: Int32, into dest: Int32, display: String, destPath: String, depth: Int) throws(WorkspaceError) {
        let names: [FSPath]
        // Never list more than the limit allows: a folder of millions of names costs nothing
        // to make and must not cost us their memory.
        switch FS.names(in: src, limit: max(0, maxEntries - entries) + 1) {
        case .success(let n): names = n.sorted { $0.bytes.lexicographicallyPrecedes($1.bytes) }
        case .failure(let e):
            skip(display.isEmpty ? "." : display, "cannot list: \(errnoText(e.code))")
            return
        }
        for name in names {
            let path = display.isEmpty ? name.display : display + "/" + name.display
            guard entries < maxEntries else {
                if !limitNoted {
                    limitNoted = true
                    skip(path, "more than \(maxEntries) entries in output/; this and the rest not copied")
                }
                return
            }
            entries += 1
            guard let st = FS.lstatat(src, name) else {
                skip(path, "cannot stat: \(errnoText(errno))")
                continue
            }
            if FS.isRegular(st) {
                try copyFile(name, in: src, into: dest, display: path, destPath: destPath + "/" + name.display)
            } else if FS.isDir(st) {
                guard st.st_dev == device else { skip(path, "another file system mounted here, not copied"); continue }
                guard depth < Workspace.maxOutputDepth else {
                    skip(path, "nested deeper than \(Workspace.maxOutputDepth) folders, not copied")
                    continue
                }
                let sub = FS.openat(src, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                guard sub >= 0 else { skip(path, "cannot open: \(errnoText(errno))"); continue }
                defer { close(sub) }
                let subDestPath = destPath + "/" + name.display
                // A folder that is already there (the user's, in an --output of theirs) keeps its
                // mode and owner: only one made here gets 0755 and the output's owner.
                let made = FS.mkdirat(dest, name, 0o755)
                if !made && errno != EEXIST {
                    throw WorkspaceError.io("create", subDestPath)
                }
                let out = FS.openat(dest, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
                guard out >= 0 else {
                    skip(path, errno == ENOTDIR || errno == ELOOP ? "the destination \(subDestPath) is not a folder"
                                                                 : "cannot open the destination \(subDestPath): \(errnoText(errno))")
                    continue
                }
                defer { close(out) }
                if made { try finish(out, mode: 0o755, path: subDestPath) }
                result.folders += 1
                try copyFolder(sub, into: out, display: path, destPath: subDestPath, depth: depth + 1)
            } else {
                skip(path, "\(FS.kindName(st)), not copied")
            }
        }
    }

    mutating func copyFile(_ name: FSPath, in src: Int32, into dest: Int32, display: String, destPath: String) throws(WorkspaceError) {
        // O_NONBLOCK: if the agent swaps in a FIFO after our lstat, the open does not hang.
        let fd = FS.openat(src, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else { skip(display, "cannot open: \(errnoText(errno))"); return }
        defer { close(fd) }
        guard let st = FS.fstat(fd), FS.isRegular(st) else { skip(display, "changed while being copied, not copied"); return }
        let size = Int(st.st_size)
        guard result.bytes + size <= maxBytes else {
            skip(display, "\(size) bytes would pass the limit of \(maxBytes) bytes, not copied")
            return
        }
        let out = FS.openat(dest, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o600)
        guard out >= 0 else {
            if errno == EEXIST { skip(display, "\(destPath) already exists, not replaced"); return }
            throw WorkspaceError.io("create", destPath)
        }
        defer { close(out) }
        switch FS.copySparse(from: fd, to: out, size: size) {
        case .success: result.bytes += size
        case .failure(let e):
            // Nothing half-written is left under the file's name.
            _ = FS.unlinkat(dest, name, dir: false)
            throw WorkspaceError.io("copy output to", destPath, e.code)
        }
        try finish(out, mode: 0o644, path: destPath)
        result.files += 1
    }

    func finish(_ fd: Int32, mode: mode_t, path: String) throws(WorkspaceError) {
        guard fchmod(fd, mode) == 0 else { throw WorkspaceError.io("set the mode of", path) }
        if let owner, fchown(fd, owner.uid, owner.gid) != 0 { throw WorkspaceError.io("change the owner of", path) }
    }
}
