import CLauncher
import Glibc

/// A file name or a relative path, as bytes: a name that a project or an agent creates
/// need not be UTF-8, and a lossy String would name a different file (or none).
struct FSPath: Hashable, Sendable {
    var bytes: [UInt8]

    init(_ text: String) { bytes = Array(text.utf8) }
    init(bytes: [UInt8]) { self.bytes = bytes }

    static let dot = FSPath(".")
    var isEmpty: Bool { bytes.isEmpty }
    /// For messages only.
    var display: String { String(decoding: bytes, as: UTF8.self) }

    /// `self/name`; the empty path is the starting folder itself.
    func appending(_ name: FSPath) -> FSPath {
        isEmpty ? name : FSPath(bytes: bytes + [UInt8(ascii: "/")] + name.bytes)
    }

    func withCString<R>(_ body: (UnsafePointer<CChar>) -> R) -> R {
        var b = bytes.isEmpty ? [UInt8(ascii: ".")] : bytes
        b.append(0)
        return b.withUnsafeBufferPointer { buf in
            buf.withMemoryRebound(to: CChar.self) { body($0.baseAddress!) }
        }
    }
}

/// The system calls the workspace makes, each relative to a folder fd, never by a path
/// that someone else could swap underneath us. -1/nil results leave errno set.
enum FS {
    static let fileType = mode_t(S_IFMT)

    static func type(_ st: stat) -> mode_t { st.st_mode & fileType }
    static func isDir(_ st: stat) -> Bool { type(st) == S_IFDIR }
    static func isRegular(_ st: stat) -> Bool { type(st) == S_IFREG }
    static func isSymlink(_ st: stat) -> Bool { type(st) == S_IFLNK }

    /// "a FIFO", "a socket"… for messages.
    static func kindName(_ st: stat) -> String {
        switch type(st) {
        case S_IFIFO: return "a FIFO"
        case S_IFSOCK: return "a socket"
        case S_IFCHR: return "a character device"
        case S_IFBLK: return "a block device"
        case S_IFLNK: return "a symlink"
        case S_IFDIR: return "a folder"
        case S_IFREG: return "a file"
        default: return "an unknown kind of file"
        }
    }

    static func openat(_ dirfd: Int32, _ path: FSPath, _ flags: Int32, _ mode: mode_t = 0) -> Int32 {
        path.withCString { p in
            var fd: Int32
            repeat { fd = Glibc.openat(dirfd, p, flags | O_CLOEXEC, mode) } while fd < 0 && errno == EINTR
            return fd
        }
    }

    static func openat2(_ dirfd: Int32, _ path: FSPath, _ flags: Int32, resolve: UInt64) -> Int32 {
        path.withCString { mpm_sys_openat2(dirfd, $0, flags | O_CLOEXEC, 0, resolve) }
    }

    static func fstat(_ fd: Int32) -> stat? {
        var st = stat()
        return Glibc.fstat(fd, &st) == 0 ? st : nil
    }

    /// lstat relative to a folder: never follows a symlink.
    static func lstatat(_ dirfd: Int32, _ name: FSPath) -> stat? {
        var st = stat()
        let r = name.withCString { Glibc.fstatat(dirfd, $0, &st, AT_SYMLINK_NOFOLLOW) }
        return r == 0 ? st : nil
    }

    static func mkdirat(_ dirfd: Int32, _ name: FSPath, _ mode: mode_t) -> Bool {
        name.withCString { Glibc.mkdirat(dirfd, $0, mode) } == 0
    }

    static func unlinkat(_ dirfd: Int32, _ name: FSPath, dir: Bool) -> Bool {
        name.withCString { Glibc.unlinkat(dirfd, $0, dir ? AT_REMOVEDIR : 0) } == 0
    }

    static func sameFile(_ a: stat, _ b: stat) -> Bool { a.st_dev == b.st_dev && a.st_ino == b.st_ino }

    /// The names in a folder (without `.` and `..`), at most `limit` of them. Reads through
    /// a fresh fd so that the caller's fd keeps its own offset.
    static func names(in dirfd: Int32, limit: Int = Int.max) -> Result<[FSPath], Errno> {
        let fd = openat(dirfd, .dot, O_RDONLY | O_DIRECTORY)
        guard fd >= 0 else { return .failure(Errno(errno)) }
        guard let dir = fdopendir(fd) else {
            let e = errno
            close(fd)
            return .failure(Errno(e))
        }
        defer { closedir(dir) }
        var out: [FSPath] = []
        while out.count < limit {
            errno = 0
            guard let entry = readdir(dir) else {
                if errno != 0 { return .failure(Errno(errno)) }
                break
            }
            let name: [UInt8] = withUnsafePointer(to: &entry.pointee.d_name) { tuple in
                tuple.withMemoryRebound(to: UInt8.self, capacity: MemoryLayout.size(ofValue: tuple.pointee)) { p in
                    Array(UnsafeBufferPointer(start: p, count: strlen(UnsafeRawPointer(p).assumingMemoryBound(to: CChar.self))))
                }
            }
            if name == [0x2E] || name == [0x2E, 0x2E] { continue }
            out.append(FSPath(bytes: name))
        }
        return .success(out)
    }

    /// Copies at most `limit` bytes from `src` to `dst` (both at their current offsets).
    /// Returns the bytes copied; stops early at EOF, so a file that shrinks is fine and one
    /// that grows while we read is cut at `limit`.
    static func copy(from src: Int32, to dst: Int32, limit: Int) -> Result<Int, Errno> {
        let chunk = 256 * 1024
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buf.deallocate() }
        var total = 0
        while total < limit {
            let n = Glibc.read(src, buf, min(chunk, limit - total))
            if n < 0 {
                if errno == EINTR { continue }
                return .failure(Errno(errno))
            }
            if n == 0 { break }
            var off = 0
            while off < n {
                let w = Glibc.write(dst, buf + off, n - off)
                if w < 0 {
                    if errno == EINTR { continue }
                    return .failure(Errno(errno))
                }
                off += w
            }
            total += n
        }
        return .success(total)
    }

    /// Copies the first `size` bytes of `src` to `dst` keeping holes as holes (as `cp --sparse`
    /// does): only the data segments are read and written, and `dst` is extended to `size`. A
    /// sparse file the agent made cheaply stays cheap. Falls back to a plain copy on file
    /// systems without SEEK_DATA. Returns the data bytes written.
    static func copySparse(from src: Int32, to dst: Int32, size: Int) -> Result<Int, Errno> {
        let seekData: Int32 = 3, seekHole: Int32 = 4  // SEEK_DATA, SEEK_HOLE (GNU-only in Swift)
        let chunk = 256 * 1024
        let buf = UnsafeMutableRawPointer.allocate(byteCount: chunk, alignment: 16)
        defer { buf.deallocate() }
        var pos = 0
        var total = 0
        while pos < size {
            let data = Int(lseek(src, off_t(pos), seekData))
            if data < 0 {
                if errno == ENXIO { break }  // only a hole is left
                guard pos == 0, lseek(src, 0, SEEK_SET) == 0 else { return .failure(Errno(errno)) }
                return copy(from: src, to: dst, limit: size)
            }
            if data >= size { break }
            let hole = min(size, max(data, Int(lseek(src, off_t(data), seekHole))))
            var at = data
            while at < hole {
                let n = pread(src, buf, min(chunk, hole - at), off_t(at))
                if n < 0 { if errno == EINTR { continue }; return .failure(Errno(errno)) }
                if n == 0 { break }
                var off = 0
                while off < n {
                    let w = pwrite(dst, buf + off, n - off, off_t(at + off))
                    if w < 0 { if errno == EINTR { continue }; return .failure(Errno(errno)) }
                    off += w
                }
                at += n
                total += n
            }
            pos = max(hole, data + 1)
        }
        guard ftruncate(dst, off_t(size)) == 0 else { return .failure(Errno(errno)) }
        return .success(total)
    }

    /// Writes all of `bytes` to `fd`.
    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                off += n
            }
            return true
        }
    }

    /// Reads a small file (under /proc or a pid file) of at most `limit` bytes, opened so
    /// that a FIFO or a symlink planted in its place can neither block nor redirect us.
    static func readSmall(_ dirfd: Int32, _ path: FSPath, limit: Int = 4096, followSymlinks: Bool = false) -> [UInt8]? {
        let fd = openat(dirfd, path, O_RDONLY | O_NONBLOCK | O_NOCTTY | (followSymlinks ? 0 : O_NOFOLLOW))
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        guard let st = fstat(fd), isRegular(st) else { return nil }
        var out = [UInt8](repeating: 0, count: limit)
        var filled = 0
        while filled < limit {
            let n = out.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress! + filled, limit - filled) }
            if n < 0 {
                if errno == EINTR { continue }
                return nil
            }
            if n == 0 { break }
            filled += n
        }
        return Array(out[..<filled])
    }

    static func readSmall(path: String, limit: Int = 4096) -> [UInt8]? {
        readSmall(AT_FDCWD, FSPath(path), limit: limit, followSymlinks: true)
    }
}

/// An errno value carried in a Result.
struct Errno: Error, Sendable {
    var code: Int32
    init(_ code: Int32) { self.code = code }
}
