import CLauncher
import Glibc

/// Relays the agent's output to mpm-run's own stdout and stderr as it arrives. Writes block,
/// so a slow reader slows the agent instead of growing a buffer; once a reader is gone
/// (EPIPE), that stream is discarded rather than killing the supervisor mid-run.
public final class TerminalSink: OutputSink {
    private var closed: Set<Int32> = []

    /// What a stdout that is a pipe is grown to. With the default 64 KiB, each 64 KiB relayed
    /// waited for the reader to empty the pipe: side by side, 1 GiB went through at 0.65x the
    /// rate of `cat | cat`, and at 1.04x to 1.30x with 256 KiB (1 MiB did no better). Not more:
    /// a pipe's pages count against its owner's quota (/proc/sys/fs/pipe-user-pages-soft,
    /// 16384 pages; a default pipe has 16, this one 64), past which the kernel gives that
    /// user's new pipes 2 pages. stderr is left alone for the same reason. (The pages are
    /// charged to the pipe's creator; a root mpm-run is not held to that user's limit.)
    static let pipeSize: Int32 = 256 << 10
    /// Grown on the first write: a run refused before it starts, or one with nothing to say,
    /// leaves the caller's pipe as it was.
    private var stdoutGrown = false

    public init() {
        signal(SIGPIPE, SIG_IGN)
    }

    public func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {
        let fd: Int32 = stream == .stdout ? 1 : 2
        guard !closed.contains(fd) else { return }
        if fd == 1 && !stdoutGrown {
            stdoutGrown = true
            // Best effort, and only ever larger: a pipe the kernel will not grow stays as it is.
            _ = mpm_grow_pipe(1, Self.pipeSize)
        }
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
