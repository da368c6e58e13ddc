import Glibc

/// Empties a folder that an agent may have shaped to resist removal: read-only folders,
/// symlinks pointing anywhere, nesting deeper than there are file descriptors. Works only
/// through folder fds and *at calls, never follows a symlink (a symlink is unlinked, not
/// its target), and never descends into another file system.
struct TreeRemover {
    /// Nesting below this is moved up to the top folder and removed from there, so that
    /// neither the stack nor the number of open fds grows with the agent's nesting.
    static let maxDepth = 32
    static let batch = 4096

    let top: Int32
    let device: dev_t
    let isRoot = geteuid() == 0
    var moved = 0
    /// The first failure, kept for the error; removal carries on past it.
    var failure: (path: String, errno: Int32)?

    init(top: Int32) {
        self.top = top
        device = FS.fstat(top)?.st_dev ?? 0
    }

    /// Removes everything inside `top`. Returns nil, or the first entry it could not remove.
    /// Out of descriptors (EMFILE, ENFILE: in serve, other runs hold them for a moment), it
    /// tries again every 25 ms, `attempts` times in all (40: for up to a second).
    static func empty(_ top: Int32, attempts: Int = 40) -> (path: String, errno: Int32)? {
        var failure: (path: String, errno: Int32)?
        for attempt in 0..<max(1, attempts) {
            if attempt > 0 { usleep(25_000) }
            var r = TreeRemover(top: top)
            failure = r.run()
            guard let f = failure, f.errno == EMFILE || f.errno == ENFILE else { return failure }
        }
        return failure
    }

    mutating func run() -> (path: String, errno: Int32)? {
        makeWritable(top)
        // Each pass removes what it can; folders moved up from deep inside show up in the
        // next pass. A pass that removes nothing ends the loop (something is stuck).
        for _ in 0..<10_000 {
            let removedAny = emptyFolder(top, depth: 0, display: "")
            switch FS.names(in: top, limit: 1) {
            case .success(let names) where names.isEmpty: return nil
            case .failure(let e): return failure ?? ("", e.code)
            default: if !removedAny { return failure ?? ("", ENOTEMPTY) }
            }
        }
        return failure ?? ("", ENOTEMPTY)
    }

    /// Removes the entries of `dir`; true if anything was removed or moved.
    mutating func emptyFolder(_ dir: Int32, depth: Int, display: String) -> Bool {
        var progress = false
        while true {
            let names: [FSPath]
            switch FS.names(in: dir, limit: Self.batch) {
            case .success(let n): names = n
            case .failure(let e): note(display, e.code); return progress
            }
            if names.isEmpty { return progress }
            var removedInBatch = false
            for name in names {
                let path = display.isEmpty ? name.display : display + "/" + name.display
                if removeEntry(name, in: dir, depth: depth, display: path) {
                    removedInBatch = true
                    progress = true
                }
            }
            if !removedInBatch { return progress }
        }
    }

    mutating func removeEntry(_ name: FSPath, in dir: Int32, depth: Int, display: String) -> Bool {
        guard let st = FS.lstatat(dir, name) else {
            if errno == ENOENT { return true }  // someone else removed it: fine
            note(display, errno)
            return false
        }
        if !FS.isDir(st) {
            if FS.unlinkat(dir, name, dir: false) || errno == ENOENT { return true }
            note(display, errno)
            return false
        }
        guard st.st_dev == device else {
            // A mount point: leave the other file system alone, like `rm --one-file-system`.
            note(display, EXDEV)
            return false
        }
        // An empty folder goes without a descriptor (rmdir never follows a symlink).
        if FS.unlinkat(dir, name, dir: true) { return true }
        if depth >= Self.maxDepth && dir != top {
            moved += 1
            let newName = FSPath(".mpm-rm-\(getpid())-\(moved)")
            let ok = name.withCString { from in newName.withCString { to in renameat(dir, from, top, to) } }
            if ok == 0 { return true }
            note(display, errno)
            return false
        }
        var fd = FS.openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        if fd < 0 && errno == EACCES && !isRoot {
            // A folder we own but cannot read (mode 0, or 0200). Not root: the agent runs as
            // our own uid, so fchmodat following a swapped-in symlink could only change what
            // the agent could change itself.
            _ = name.withCString { fchmodat(dir, $0, 0o700, 0) }
            fd = FS.openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW)
        }
        guard fd >= 0 else {
            if errno == ENOENT { return true }
            note(display, errno)
            return false
        }
        if let now = FS.fstat(fd), !FS.sameFile(now, st) {
            close(fd)  // swapped while we looked; the next pass sees what is there now
            return true
        }
        makeWritable(fd)
        _ = emptyFolder(fd, depth: depth + 1, display: display)
        close(fd)
        if FS.unlinkat(dir, name, dir: true) || errno == ENOENT { return true }
        note(display, errno)
        return false
    }

    /// Unlinking inside a folder needs write and search on it (root needs neither).
    func makeWritable(_ fd: Int32) {
        guard !isRoot, let st = FS.fstat(fd), st.st_mode & 0o300 != 0o300 else { return }
        fchmod(fd, (st.st_mode & 0o7777) | 0o700)
    }

    mutating func note(_ path: String, _ code: Int32) {
        if failure == nil { failure = (path, code) }
    }
}
