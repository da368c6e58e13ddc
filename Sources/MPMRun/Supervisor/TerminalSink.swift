import Glibc

/// Relays the agent's output to mpm-run's own stdout and stderr as it arrives. Writes block,
/// so a slow reader slows the agent instead of growing a buffer; once a reader is gone
/// (EPIPE), that stream is discarded rather than killing the supervisor mid-run.
public final class TerminalSink: OutputSink {
    private var closed: Set<Int32> = []

    public init() {
        signal(SIGPIPE, SIG_IGN)
    }

    public func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {
        let fd: Int32 = stream == .stdout ? 1 : 2
        guard !closed.contains(fd) else { return }
        if !writeFully(fd, bytes) { closed.insert(fd) }
    }

    public func finish() {}
}

/// Writes all of `bytes` to `fd`, waiting for a non-blocking one to drain; false once the
/// reader is gone (EPIPE) or the write fails otherwise.
func writeFully(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
    var off = 0
    while off < bytes.count {
        let n = write(fd, bytes.baseAddress! + off, bytes.count - off)
        if n >= 0 { off += n; continue }
        if errno == EINTR { continue }
        if errno == EAGAIN {
            var p = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            _ = poll(&p, 1, -1)
            continue
        }
        return false
    }
    return true
}
