#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

/// The audit log (CONTRACT.md section 8): one JSON object a line, hash-chained, in a 0600
/// file in a 0700 folder, shared by every supervisor of the user.
///
///     {"seq":7,"ts":"2026-11-22T03:20:36.123Z","type":"incident","run_id":"r…","agent_id":"a",
///      "action":"killed","detail":"…","kind":"timeout","prev":"<sha256 of line 6>"}
///
/// Appends take an exclusive flock on the file, read the last line for its `seq` and hash,
/// and write the new line with one write(2), so several processes (and several instances in
/// one process: flock belongs to the open file description) append without interleaving or
/// breaking the chain. What write(2) accepted survives a crash of mpm-run. A crash of the
/// machine is covered for the records that matter to an investigation: a denial, an incident,
/// a rejection or a release is fsynced as it is written (like journald, which syncs at once
/// only for critical messages), while a run's routine run_started and run_exited are left to
/// the kernel's writeback. The sync happens outside the log's locks, so the appends of other
/// runs never wait for it. serve also syncs everything when it stops (`sync()`).
///
/// Reading (`verify`, `records`, `recentActivity`) is in AuditReader.swift.
public final class AuditLog: Sendable {
    public let path: String
    /// The open log; replaced when the path no longer names it (rotated or removed). The
    /// mutex also orders appends of threads sharing this instance, which one flock cannot.
    private let file: Mutex<Int32>
    private let clock: @Sendable () -> Date
    /// fsync(2); tests count the calls.
    private let syncFile: @Sendable (Int32) -> Int32
    /// Each agent's records as last read, for the rate limit and quarantine checks.
    let activityIndex = ActivityIndex()

    /// Opens `path` for appending, creating it (0600) and its missing folders (0700). Throws
    /// when the log cannot be created or written: a run must then be refused, never run
    /// unaudited.
    public convenience init(path: String) throws(AuditError) {
        try self.init(path: path, clock: AuditTime.now)
    }

    /// `clock` gives each record's `ts`; tests pass a fixed one.
    init(path: String, clock: @escaping @Sendable () -> Date,
         syncFile: @escaping @Sendable (Int32) -> Int32 = { fsync($0) }) throws(AuditError) {
        self.path = path
        self.clock = clock
        self.syncFile = syncFile
        file = Mutex(try Self.openForAppending(path))
    }

    deinit {
        file.withLock { fd in _ = close(fd) }
    }

    /// `$MPM_AUDIT_LOG`, else `$XDG_STATE_HOME/mpm-run/audit.jsonl`, else
    /// `$HOME/.local/state/mpm-run/audit.jsonl`, else the same under the effective user's home
    /// in the passwd database. Empty values count as unset, and a relative XDG_STATE_HOME is
    /// ignored as the XDG spec asks. With no home at all the path is under `/`, which fails to
    /// open with a message that names it: an unaudited run is never the fallback.
    public static func defaultPath(environment: [String: String]) -> String {
        if let p = environment["MPM_AUDIT_LOG"], !p.isEmpty { return p }
        if let state = environment["XDG_STATE_HOME"], state.hasPrefix("/") {
            return state + "/mpm-run/audit.jsonl"
        }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? passwdHome() ?? ""
        return (home.hasSuffix("/") ? String(home.dropLast()) : home) + "/.local/state/mpm-run/audit.jsonl"
    }

    /// Appends one record for `event` and returns it as written (what is reported next).
    @discardableResult
    public func append(_ event: Event) throws(AuditError) -> JSONValue {
        let (record, syncFD) = try file.withLock { (fd: inout Int32) throws(AuditError) -> (JSONValue, Int32?) in
            try lockCurrentFile(&fd)
            defer { AuditFile.unlock(fd) }
            guard let st = FS.fstat(fd) else { throw AuditError(.io(step: "stat", path: path, errno: errno)) }
            let tail = try Self.tail(fd, size: Int64(st.st_size), path: path)
            let (record, line) = AuditRecord.make(event, seq: tail.seq + 1, ts: AuditTime.format(clock()), prev: tail.hash)
            // A torn last line (a write that never finished) is closed first, so our record
            // starts a line of its own; it is chained to the torn bytes, which verify reports.
            var bytes = tail.torn ? [UInt8(ascii: "\n")] : []
            bytes.reserveCapacity(line.count + 2)
            bytes.append(contentsOf: line)
            bytes.append(UInt8(ascii: "\n"))
            do throws(AuditError) {
                try writeAll(fd, bytes)
            } catch {
                // A record that did not fit whole (disk full, a file size limit) is taken back:
                // a torn line would break the chain for every later reader and writer.
                while ftruncate(fd, off_t(st.st_size)) != 0 && errno == EINTR {}
                throw error
            }
            // The sync waits for the disk outside both locks, so that other appends (serve's
            // launches among them) do not wait on it; its own descriptor, because a rotation
            // seen by the next append closes this one.
            guard event.kind.syncedAtOnce else { return (.object(record), nil) }
            let copy = fcntl(fd, F_DUPFD_CLOEXEC, 0)
            guard copy >= 0 else { throw AuditError(.io(step: "sync", path: path, errno: errno)) }
            return (.object(record), copy)
        }
        if let syncFD {
            defer { close(syncFD) }
            // A failed sync leaves the record whole in the file (later records may follow it
            // already), and the caller fails closed: the run ends as for a failed write.
            try sync(syncFD)
        }
        return record
    }

    /// fsync of every record written so far, routine ones included: serve's last step.
    public func sync() throws(AuditError) {
        try file.withLock { (fd: inout Int32) throws(AuditError) in try sync(fd) }
    }

    private func sync(_ fd: Int32) throws(AuditError) {
        while syncFile(fd) != 0 {
            if errno == EINTR { continue }
            throw AuditError(.io(step: "sync", path: path, errno: errno))
        }
    }

    // MARK: opening

    static func openForAppending(_ path: String) throws(AuditError) -> Int32 {
        // O_NOFOLLOW: a symlink at the path is refused, not followed. O_NONBLOCK: a FIFO
        // planted there cannot block the open (it is refused after fstat).
        let flags = O_RDWR | O_APPEND | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK
        var fd = openRetrying(path, flags | O_CREAT | O_EXCL, 0o600)
        var created = fd >= 0
        if fd < 0 && (errno == ENOENT || errno == ENOTDIR) {
            // Making the folders names the one that cannot be made.
            try makeFolders(for: path)
            fd = openRetrying(path, flags | O_CREAT | O_EXCL, 0o600)
            created = fd >= 0
        }
        if fd < 0 && errno == EEXIST {
            fd = openRetrying(path, flags, 0)
        }
        guard fd >= 0 else {
            if errno == ELOOP { throw AuditError(.symlink(path: path)) }
            throw AuditError(.open(path: path, errno: errno))
        }
        guard let st = FS.fstat(fd), FS.isRegular(st) else {
            let what = FS.fstat(fd).map(FS.kindName) ?? "unknown"
            close(fd)
            throw AuditError(.notAFile(path: path, what: what))
        }
        // The umask may have taken bits from 0600; set exactly what the contract promises.
        if created && fchmod(fd, 0o600) != 0 {
            let code = errno
            close(fd)
            throw AuditError(.open(path: path, errno: code))
        }
        return fd
    }

    private static func openRetrying(_ path: String, _ flags: Int32, _ mode: mode_t) -> Int32 {
        var fd: Int32
        repeat { fd = open(path, flags, mode) } while fd < 0 && errno == EINTR
        return fd
    }

    /// mkdir -p of the log's folder; each folder we create gets exactly 0700. Folders that
    /// exist are left as they are (the log may live in a folder the user chose).
    static func makeFolders(for path: String) throws(AuditError) {
        guard let slash = path.lastIndex(of: "/") else { return }
        let folder = String(path[..<slash])
        var prefix = path.hasPrefix("/") ? "" : "."
        for part in folder.split(separator: "/", omittingEmptySubsequences: true) {
            prefix += "/" + part
            if mkdir(prefix, 0o700) == 0 {
                if chmod(prefix, 0o700) != 0 {
                    throw AuditError(.createFolder(path: path, folder: display(prefix), errno: errno))
                }
            } else if errno != EEXIST {
                throw AuditError(.createFolder(path: path, folder: display(prefix), errno: errno))
            }
        }
    }

    private static func display(_ prefix: String) -> String {
        prefix.hasPrefix("./") ? String(prefix.dropFirst(2)) : prefix
    }

    /// The effective user's home from the passwd database.
    static func passwdHome() -> String? {
        var pw = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buf = [CChar](repeating: 0, count: 16 * 1024)
        let rc = getpwuid_r(geteuid(), &pw, &buf, buf.count, &result)
        guard rc == 0, result != nil, let dir = pw.pw_dir else { return nil }
        let home = String(cString: dir)
        return home.isEmpty ? nil : home
    }

    // MARK: appending

    /// Takes the exclusive lock on the file the path names now. When the log was rotated or
    /// removed since we opened it, reopens the path first: records written to a renamed or
    /// unlinked file would be lost to every reader.
    private func lockCurrentFile(_ fd: inout Int32) throws(AuditError) {
        for _ in 0..<8 {
            try AuditFile.lock(fd, LOCK_EX, path: path)
            var st = stat()
            if lstat(path, &st) == 0, let mine = FS.fstat(fd), FS.sameFile(st, mine) { return }
            AuditFile.unlock(fd)
            let fresh = try Self.openForAppending(path)
            close(fd)
            fd = fresh
        }
        // Replaced eight times in a row: append to what we hold rather than spin.
        try AuditFile.lock(fd, LOCK_EX, path: path)
    }

    /// The last line's seq and hash, and whether it lacks its newline.
    struct Tail: Equatable {
        var seq: Int
        var hash: String
        var torn: Bool
    }

    /// Reads backwards from the end only as far as the last line (and, when that line is
    /// torn or otherwise unreadable, as far as the last line with a seq: the lines after it
    /// each count as one, so the next seq stays one past the line number verify expects).
    static func tail(_ fd: Int32, size: Int64, path: String) throws(AuditError) -> Tail {
        var lines = try BackwardLines(fd: fd, path: path, size: size)
        guard let last = try lines.next() else { return Tail(seq: 0, hash: AuditRecord.genesis, torn: false) }
        let hash = AuditRecord.hash(last.bytes)
        var line: ArraySlice<UInt8>? = last.bytes
        var skipped = 0
        while let l = line {
            if let seq = AuditRecord.quickSeq(l) ?? AuditRecord.parse(l)?["seq"]?.intValue {
                return Tail(seq: seq + skipped, hash: hash, torn: lines.lastLineTorn)
            }
            skipped += 1
            line = skipped < 1000 ? try lines.next()?.bytes : nil
        }
        return Tail(seq: skipped, hash: hash, torn: lines.lastLineTorn)
    }

    private func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws(AuditError) {
        var off = 0
        while off < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + off, $0.count - off) }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io(step: "write", path: path, errno: errno))
            }
            off += n
        }
    }
}
