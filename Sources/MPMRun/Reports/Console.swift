import Glibc

/// Writes whole lines to stdout or stderr with write(2): no shared FILE* state, so it is
/// safe from any thread, and a line is never interleaved with another writer's.
public enum Console {
    public static func out(_ text: String) { write(fd: 1, text + "\n") }
    public static func err(_ text: String) { write(fd: 2, text + "\n") }

    public static func write(fd: Int32, _ text: String) {
        var bytes = Array(text.utf8)
        bytes.withUnsafeMutableBytes { buf in
            var off = 0
            while off < buf.count {
                let n = Glibc.write(fd, buf.baseAddress! + off, buf.count - off)
                if n < 0 { if errno == EINTR { continue }; return }
                off += n
            }
        }
    }
}
