import Glibc

/// The bytes of an agent or profile file, read so that no input can hang or flood the
/// reader: opened non-blocking (a FIFO planted in `agents/` must not block `check`),
/// refused unless it is a regular file, and refused before reading if over the size cap.
public struct SourceFile: Sendable, Equatable {
    public static let maxBytes = 1 << 20

    /// The name used in every message about this file (as the user spelled the folder).
    public var displayName: String
    public var bytes: [UInt8]
    /// st_mode and st_uid, for `check`'s "anyone but its owner can write" warning.
    public var mode: UInt32
    public var ownerUID: UInt32

    public init(displayName: String, bytes: [UInt8], mode: UInt32 = 0o644, ownerUID: UInt32 = 0) {
        self.displayName = displayName
        self.bytes = bytes
        self.mode = mode
        self.ownerUID = ownerUID
    }

    public static func read(path: String, displayName: String) throws(Diagnostic) -> SourceFile {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY)
        guard fd >= 0 else {
            throw Diagnostic(.error, file: displayName, "cannot open: \(errnoText(errno))")
        }
        defer { close(fd) }
        var st = stat()
        guard fstat(fd, &st) == 0 else {
            throw Diagnostic(.error, file: displayName, "cannot stat: \(errnoText(errno))")
        }
        guard (st.st_mode & S_IFMT) == S_IFREG else {
            throw Diagnostic(.error, file: displayName, "not a regular file")
        }
        guard st.st_size <= maxBytes else {
            throw Diagnostic(.error, file: displayName, "file is larger than 1 MiB (\(st.st_size) bytes)")
        }
        // Read to EOF, never more than the cap plus one byte: the file may grow while read.
        // The buffer starts at the size fstat gave (plus one byte, to see EOF) and grows only
        // if the file does: a catalog holds every file, and serve holds a catalog per run.
        var bytes = [UInt8](repeating: 0, count: Int(st.st_size) + 1)
        var filled = 0
        while true {
            if filled == bytes.count {
                guard bytes.count <= maxBytes else { break }
                bytes.append(contentsOf: repeatElement(0, count: min(max(bytes.count, 4096), maxBytes + 1 - bytes.count)))
            }
            let n = bytes.withUnsafeMutableBytes { buf in
                Glibc.read(fd, buf.baseAddress! + filled, buf.count - filled)
            }
            if n < 0 {
                if errno == EINTR { continue }
                throw Diagnostic(.error, file: displayName, "cannot read: \(errnoText(errno))")
            }
            if n == 0 { break }
            filled += n
        }
        guard filled <= maxBytes else {
            throw Diagnostic(.error, file: displayName, "file is larger than 1 MiB")
        }
        bytes.removeSubrange(filled...)
        return SourceFile(displayName: displayName, bytes: bytes, mode: st.st_mode, ownerUID: st.st_uid)
    }
}

/// strerror's text, e.g. "No such file or directory".
public func errnoText(_ code: Int32) -> String {
    String(cString: strerror(code))
}
