import CLauncher
import Glibc

/// Reading the audit log's lines without ever holding the whole file: forwards for `verify`
/// and `audit`, backwards from the end for the tail queries and for an append's `prev`.
enum AuditFile {
    /// Opens an existing log for reading. Non-blocking so that a FIFO planted at the path
    /// cannot hang the reader; symlinks are followed (only the writer refuses them).
    static func openForReading(_ path: String) throws(AuditError) -> Int32 {
        var fd: Int32
        repeat { fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY) } while fd < 0 && errno == EINTR
        guard fd >= 0 else {
            if errno == ENOENT { throw AuditError(.missing(path: path)) }
            throw AuditError(.io(step: "open", path: path, errno: errno))
        }
        guard let st = FS.fstat(fd), FS.isRegular(st) else {
            let what = FS.fstat(fd).map(FS.kindName) ?? "unknown"
            close(fd)
            throw AuditError(.notAFile(path: path, what: what))
        }
        return fd
    }

    /// `openForReading`, or nil when there is no log (an empty history).
    static func openIfPresent(_ path: String) throws(AuditError) -> Int32? {
        do { return try openForReading(path) } catch {
            if case .missing = error.kind { return nil }
            throw error
        }
    }

    /// The log's size at a moment when no append was half-written: taken under a shared
    /// lock, so that every byte before it belongs to a complete write. Readers then work on
    /// that prefix without holding the lock, and appenders are never kept waiting.
    static func completeSize(_ fd: Int32, path: String) throws(AuditError) -> Int64 {
        try lock(fd, LOCK_SH, path: path)
        defer { unlock(fd) }
        guard let st = FS.fstat(fd) else { throw AuditError(.io(step: "stat", path: path, errno: errno)) }
        return Int64(st.st_size)
    }

    static func lock(_ fd: Int32, _ operation: Int32, path: String) throws(AuditError) {
        while flock(fd, operation) != 0 {
            if errno == EINTR { continue }
            throw AuditError(.io(step: "lock", path: path, errno: errno))
        }
    }

    static func unlock(_ fd: Int32) {
        _ = flock(fd, LOCK_UN)
    }

    /// pread until `count` bytes or the end of the file.
    static func read(_ fd: Int32, at offset: Int64, count: Int, path: String) throws(AuditError) -> [UInt8] {
        var buf = [UInt8](repeating: 0, count: count)
        var filled = 0
        while filled < count {
            let n = buf.withUnsafeMutableBytes { p in
                pread(fd, p.baseAddress! + filled, count - filled, off_t(offset) + off_t(filled))
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw AuditError(.io(step: "read", path: path, errno: errno))
            }
            if n == 0 { break }
            filled += n
        }
        if filled < count { buf.removeSubrange(filled...) }
        return buf
    }
}

/// Lines from the start of the file up to `limit` bytes, each without its newline.
struct ForwardLines {
    struct Line {
        var bytes: ArraySlice<UInt8>
        /// 1-based.
        var number: Int
        /// False for a last line that has no newline (a torn write).
        var terminated: Bool
    }

    let fd: Int32
    let path: String
    let limit: Int64
    private var offset: Int64 = 0
    private var buffer: [UInt8] = []
    private var start = 0
    /// Where the search for the next newline resumes: a long line is scanned once.
    private var scanned = 0
    private var number = 0
    private var peeked: Line?

    static let chunk = 256 * 1024

    /// From `offset`, which must be the start of a line (line numbers then count from it).
    init(fd: Int32, path: String, limit: Int64, from offset: Int64 = 0) {
        self.fd = fd
        self.path = path
        self.limit = limit
        self.offset = offset
    }

    mutating func peek() throws(AuditError) -> Line? {
        if peeked == nil { peeked = try readLine() }
        return peeked
    }

    mutating func next() throws(AuditError) -> Line? {
        if let p = peeked {
            peeked = nil
            return p
        }
        return try readLine()
    }

    private static func firstNewline(_ buffer: [UInt8], from: Int) -> Int? {
        guard from < buffer.count else { return nil }
        return buffer.withUnsafeBufferPointer { p in
            memchr(p.baseAddress! + from, 0x0A, p.count - from).map { p.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
        }
    }

    private mutating func readLine() throws(AuditError) -> Line? {
        while true {
            if let nl = Self.firstNewline(buffer, from: max(start, scanned)) {
                let line = buffer[start..<nl]
                start = nl + 1
                scanned = start
                number += 1
                return Line(bytes: line, number: number, terminated: true)
            }
            guard offset < limit else {
                guard start < buffer.count else { return nil }
                let line = buffer[start...]
                start = buffer.count
                number += 1
                return Line(bytes: line, number: number, terminated: false)
            }
            // Keep the unfinished line, append the next chunk.
            buffer.removeSubrange(..<start)
            start = 0
            scanned = buffer.count
            let more = try AuditFile.read(fd, at: offset, count: Int(min(Int64(Self.chunk), limit - offset)), path: path)
            if more.isEmpty {
                offset = limit  // the file shrank under us: what we have is all there is
                continue
            }
            offset += Int64(more.count)
            buffer.append(contentsOf: more)
        }
    }
}

/// Lines from the end of the first `size` bytes backwards, newest first, each without its
/// newline. Reads chunks from the end: a tail query on a 100 MB log touches only its tail.
struct BackwardLines {
    let fd: Int32
    let path: String
    /// `buffer` holds the file's bytes [bufferStart, bufferStart + buffer.count).
    private var buffer: [UInt8] = []
    private var bufferStart: Int64
    /// The end (exclusive, before its newline) of the next line to return; nil when done.
    private var end: Int64?
    /// Whether the newest line lacks its newline (a torn write).
    let lastLineTorn: Bool

    /// The next read's size: small first (an append needs one line of a few hundred bytes),
    /// doubling for a query that reads on, up to 64 KiB.
    private var chunk = 1024

    init(fd: Int32, path: String, size: Int64) throws(AuditError) {
        self.fd = fd
        self.path = path
        guard size > 0 else {
            bufferStart = 0
            end = nil
            lastLineTorn = false
            return
        }
        let count = Int(min(Int64(chunk), size))
        buffer = try AuditFile.read(fd, at: size - Int64(count), count: count, path: path)
        guard buffer.count == count else { throw AuditError(.io(step: "read", path: path, errno: EIO)) }
        bufferStart = size - Int64(count)
        lastLineTorn = buffer.last != UInt8(ascii: "\n")
        end = lastLineTorn ? size : size - 1
    }

    private static func lastNewline(_ buffer: [UInt8], before end: Int) -> Int? {
        buffer.withUnsafeBufferPointer { p in
            var i = end - 1
            while i >= 0 {
                if p[i] == 0x0A { return i }
                i -= 1
            }
            return nil
        }
    }

    /// The next older line and the offset where it starts.
    mutating func next() throws(AuditError) -> (bytes: ArraySlice<UInt8>, offset: Int64)? {
        guard let end else { return nil }
        while true {
            let searchEnd = Int(end - bufferStart)
            if let nl = Self.lastNewline(buffer, before: searchEnd) {
                let lineStart = bufferStart + Int64(nl) + 1
                self.end = lineStart - 1
                return (buffer[(nl + 1)..<searchEnd], lineStart)
            }
            if bufferStart == 0 {
                self.end = nil
                return (buffer[..<searchEnd], 0)
            }
            try prependChunk(keeping: searchEnd)
        }
    }

    /// The next older line that contains `needle` (which holds no newline). The lines passed
    /// over are never split one by one: each chunk is searched whole (memmem), so reading
    /// back through megabytes of other agents' records costs little more than reading them.
    mutating func next(containing needle: [UInt8]) throws(AuditError) -> (bytes: ArraySlice<UInt8>, offset: Int64)? {
        precondition(!needle.isEmpty && !needle.contains(0x0A))
        while let end {
            let searchEnd = Int(end - bufferStart)
            if let at = Self.lastOccurrence(of: needle, in: buffer, before: searchEnd) {
                // Pass over the lines after the one that holds it; next() returns that line,
                // reading further back if it starts before the buffer.
                if let nl = Self.firstNewline(buffer, from: at + needle.count, before: searchEnd) {
                    self.end = bufferStart + Int64(nl)
                }
                return try next()
            }
            if bufferStart == 0 {
                self.end = nil
                return nil
            }
            // None here: only the first line, which may begin in the chunk before, can still
            // hold one (across the boundary). Keep it alone and prepend that chunk.
            var keep = searchEnd
            if let nl = Self.firstNewline(buffer, from: 0, before: searchEnd) {
                keep = nl
                self.end = bufferStart + Int64(nl)
            }
            try prependChunk(keeping: keep)
        }
        return nil
    }

    /// Prepends the previous chunk to `buffer[..<keep]`; what lies after was already returned.
    /// Chunks grow with the line too, so a very long line costs linear time, not quadratic.
    private mutating func prependChunk(keeping keep: Int) throws(AuditError) {
        chunk = min(chunk * 2, 64 * 1024)
        let count = Int(min(Int64(max(chunk, keep)), bufferStart))
        let more = try AuditFile.read(fd, at: bufferStart - Int64(count), count: count, path: path)
        guard more.count == count else {
            throw AuditError(.io(step: "read", path: path, errno: EIO))
        }
        buffer = more + buffer[..<keep]
        bufferStart -= Int64(count)
    }

    private static func firstNewline(_ buffer: [UInt8], from: Int, before end: Int) -> Int? {
        guard from < end else { return nil }
        return buffer.withUnsafeBufferPointer { p in
            memchr(p.baseAddress! + from, 0x0A, end - from).map { p.baseAddress!.distance(to: $0.assumingMemoryBound(to: UInt8.self)) }
        }
    }

    /// Where `needle` last starts in `buffer[..<end]` (it must end before `end`).
    private static func lastOccurrence(of needle: [UInt8], in buffer: [UInt8], before end: Int) -> Int? {
        buffer.withUnsafeBufferPointer { h -> Int? in
            needle.withUnsafeBufferPointer { n -> Int? in
                guard let base = h.baseAddress, let nb = n.baseAddress, end >= n.count else { return nil }
                var from = 0
                var last: Int?
                while from + n.count <= end,
                      let hit = mpm_memmem(base + from, end - from, nb, n.count) {
                    let at = UnsafeRawPointer(base).distance(to: hit)
                    last = at
                    from = at + 1
                }
                return last
            }
        }
    }
}
