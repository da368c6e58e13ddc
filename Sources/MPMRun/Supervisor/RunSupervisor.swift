import CLauncher
import Glibc

/// Where a run's output goes: the terminal for `mpm-run <agent>`, JSON lines for `--json`,
/// notifications for `serve`.
public protocol OutputSink: AnyObject {
    func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer)
    /// Called once when the run ends, to write out anything held back.
    func finish()
}

public enum OutputStreamKind: String, Sendable, Codable { case stdout, stderr }

/// How a run ended, and what mpm-run exits with.
public struct RunOutcome: Sendable {
    public enum Reason: String, Sendable, Codable {
        case exited, timeout, cancelled, limit, denied
    }

    public var reason: Reason
    /// The agent's own exit code, when it exited.
    public var exitCode: Int32?
    /// The signal that killed the agent, when one did.
    public var signal: Int32?
    /// The limit that ended the run (`output_limit`), when one did.
    public var limit: String?
    /// A signal mpm-run itself received, which ended the run.
    public var supervisorSignal: Int32?
    public var durationMS: Int
    public var maxRSSKB: Int
    public var cpuMS: Int
    public var outputBytes: Int

    /// CONTRACT.md section 2: 124 timeout, 128+N signal, else the agent's code.
    public var status: Int32 {
        if reason == .timeout { return 124 }
        if let s = supervisorSignal { return 128 + s }
        if let code = exitCode { return code }
        if let s = signal { return 128 + s }
        return 125
    }
}

/// Owns one running child until it is reaped: pumps its output as it is written, enforces
/// the wall-clock timeout and the output limit, and ends the whole run (the agent is init
/// of its own PID namespace, so killing it kills every process of the run, including any
/// that called setsid).
public final class RunSupervisor {
    let child: LaunchedChild
    let stdoutFD: Int32
    let stderrFD: Int32
    let timeoutSeconds: Int
    let maxOutputBytes: Int
    let signalFD: Int32
    private var buffer: UnsafeMutableRawBufferPointer

    /// Takes ownership of the two pipe read ends and of the child's pidfd.
    public init(child: LaunchedChild, stdoutFD: Int32, stderrFD: Int32, timeoutSeconds: Int,
                maxOutputBytes: Int, signalFD: Int32 = -1) {
        self.child = child
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.timeoutSeconds = timeoutSeconds
        self.maxOutputBytes = maxOutputBytes
        self.signalFD = signalFD
        buffer = .allocate(byteCount: 1 << 16, alignment: 16)
        for fd in [stdoutFD, stderrFD] { _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) }
    }

    deinit {
        buffer.deallocate()
        close(stdoutFD)
        close(stderrFD)
        close(child.pidfd)
    }

    public func kill() { _ = mpm_pidfd_kill(child.pidfd, SIGKILL) }

    public func run(sink: OutputSink, started: Monotonic.Instant = Monotonic.now()) -> RunOutcome {
        let deadline = started.adding(seconds: timeoutSeconds)
        var open: [OutputStreamKind: Int32] = [.stdout: stdoutFD, .stderr: stderrFD]
        var exited = false
        var reason = RunOutcome.Reason.exited
        var limit: String?
        var supervisorSignal: Int32?
        var outputBytes = 0
        var drainDeadline: Monotonic.Instant?
        var killed = false

        func end(_ r: RunOutcome.Reason) {
            if reason == .exited { reason = r }
            if !killed { kill() }
            killed = true
        }

        while !(exited && open.isEmpty) {
            var fds: [pollfd] = []
            var kinds: [OutputStreamKind?] = []
            for (kind, fd) in open {
                fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                kinds.append(kind)
            }
            if !exited { fds.append(pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let signalIndex = signalFD >= 0 ? fds.count : -1
            if signalFD >= 0 { fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }

            let now = Monotonic.now()
            // Until the agent ends: its deadline; once killed: its reaping; then: the drain.
            var wait = Int32(clamping: max(0, deadline.milliseconds(since: now)))
            if killed { wait = 1000 }
            if let d = drainDeadline { wait = Int32(clamping: max(0, d.milliseconds(since: now))) }
            let n = poll(&fds, nfds_t(fds.count), wait)
            if n < 0 && errno == EINTR { continue }

            if n == 0 {
                if exited { break }  // output still open after the agent's end: give up on it
                if !killed { end(.timeout) }
                continue
            }
            for (i, p) in fds.enumerated() where p.revents != 0 {
                if i == signalIndex {
                    supervisorSignal = mpm_read_signal(signalFD)
                    end(.cancelled)
                } else if let kind = kinds[i] {
                    let got = read(p.fd, buffer.baseAddress, buffer.count)
                    if got > 0 {
                        outputBytes += got
                        if outputBytes > maxOutputBytes && limit == nil {
                            let allowed = got - (outputBytes - maxOutputBytes)
                            if allowed > 0 { sink.deliver(kind, UnsafeRawBufferPointer(rebasing: buffer[..<allowed])) }
                            limit = "output_limit"
                            end(.limit)
                        } else if limit == nil {
                            sink.deliver(kind, UnsafeRawBufferPointer(rebasing: buffer[..<got]))
                        }
                    } else if got == 0 || (errno != EAGAIN && errno != EINTR) {
                        open[kind] = nil
                    }
                } else {
                    exited = true
                    // Every process of the run is gone with the agent; what they wrote is
                    // still in the pipes. Drain it, but never wait on it for long.
                    drainDeadline = Monotonic.now().adding(seconds: 2)
                }
            }
            if !exited && !killed && Monotonic.now() >= deadline { end(.timeout) }
        }
        sink.finish()

        var status = mpm_exit()
        _ = mpm_wait_run(child.run, child.pidfd, &status)
        mpm_release(child.run)
        let duration = Monotonic.now().milliseconds(since: started)
        return RunOutcome(
            reason: reason,
            exitCode: status.exited != 0 ? status.status : nil,
            signal: status.exited == 0 ? status.status : nil,
            limit: limit,
            supervisorSignal: supervisorSignal,
            durationMS: duration,
            maxRSSKB: status.max_rss_kb,
            cpuMS: Int((status.user_usec + status.system_usec) / 1000),
            outputBytes: outputBytes)
    }
}

/// CLOCK_MONOTONIC, for deadlines that a clock change cannot move.
public enum Monotonic {
    public struct Instant: Sendable, Comparable {
        var nanoseconds: Int64
        public static func < (a: Instant, b: Instant) -> Bool { a.nanoseconds < b.nanoseconds }
        public func adding(seconds: Int) -> Instant { Instant(nanoseconds: nanoseconds + Int64(seconds) * 1_000_000_000) }
        public func milliseconds(since other: Instant) -> Int { Int((nanoseconds - other.nanoseconds) / 1_000_000) }
    }

    public static func now() -> Instant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return Instant(nanoseconds: Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec))
    }
}
