import CLauncher
import Glibc
import Synchronization

/// Where a run's output goes: the terminal for `mpm-run <agent>`, JSON lines for `--json`,
/// notifications for `serve`.
public protocol OutputSink: AnyObject {
    func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer)
    /// Called once when the run ends, to write out anything held back.
    func finish()
    /// True while the reader is behind: the supervisor then stops reading the agent's pipes
    /// (the agent blocks on a full pipe) until `resumeFD` becomes readable. Nothing is
    /// buffered without bound and nothing is dropped.
    var backlogged: Bool { get }
    /// Polled while `backlogged`; -1 for a sink that never falls behind.
    var resumeFD: Int32 { get }
}

extension OutputSink {
    public var backlogged: Bool { false }
    public var resumeFD: Int32 { -1 }
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
    /// System calls the seccomp filter denied, and accesses Landlock denied that were reported.
    public var denials: Int = 0

    /// CONTRACT.md section 2: 124 timeout, 128+N signal, else the agent's code.
    public var status: Int32 {
        if reason == .timeout { return 124 }
        if let s = supervisorSignal { return 128 + s }
        if let code = exitCode { return code }
        if let s = signal { return 128 + s }
        return 125
    }
}

/// Owns one running child until it is reaped: pumps its output as it is written, answers
/// and records each denied system call, enforces the wall-clock timeout, the output limit
/// and the denial threshold, and ends the whole run (the agent runs under an init of its
/// own PID namespace, so killing init kills every process of the run, including any that
/// called setsid).
public final class RunSupervisor {
    /// Denials recorded one by one; past this many, they are counted and summarised at the end.
    public static let denialEventsPerRun = 100

    public struct Configuration {
        public var runID: String
        public var agentID: String
        public var timeoutSeconds: Int
        public var maxOutputBytes: Int
        public var maxDenials: Int
        /// Exact secret values the run passed to the agent: redacted wherever they appear.
        public var secretValues: [String]
        public init(runID: String, agentID: String, timeoutSeconds: Int, maxOutputBytes: Int, maxDenials: Int,
                    secretValues: [String] = []) {
            self.runID = runID
            self.agentID = agentID
            self.timeoutSeconds = timeoutSeconds
            self.maxOutputBytes = maxOutputBytes
            self.maxDenials = maxDenials
            self.secretValues = secretValues
        }
    }

    let child: LaunchedChild
    let stdoutFD: Int32
    let stderrFD: Int32
    let config: Configuration
    let signalFD: Int32
    let recorder: EventRecorder
    /// Another thread's cancel (serve's `cancel`, shutdown).
    let control: RunControl?
    /// Landlock's denials of this run, from the audit records (root, audit on): set before `run`.
    public var landlockDenials: LandlockDenials?

    // What the run has come to.
    private var reason = RunOutcome.Reason.exited
    private var killed = false
    private var limit: String?
    private var supervisorSignal: Int32?
    private var denials = 0
    private var unlisted: [String: Int] = [:]
    /// One per stream: secrets never reach the sink, even split across two writes.
    private let redactors: [OutputStreamKind: OutputRedactor]

    /// Takes ownership of the two pipe read ends, the child's pidfd and its listener.
    public init(child: LaunchedChild, stdoutFD: Int32, stderrFD: Int32, configuration: Configuration,
                recorder: EventRecorder, signalFD: Int32 = -1, control: RunControl? = nil) {
        self.child = child
        self.control = control
        self.stdoutFD = stdoutFD
        self.stderrFD = stderrFD
        self.config = configuration
        self.recorder = recorder
        self.signalFD = signalFD
        redactors = [.stdout: OutputRedactor(literals: configuration.secretValues),
                     .stderr: OutputRedactor(literals: configuration.secretValues)]
        for fd in [stdoutFD, stderrFD, child.listener] where fd >= 0 {
            _ = fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK)
        }
    }

    deinit {
        close(stdoutFD)
        close(stderrFD)
        close(child.pidfd)
        if child.listener >= 0 { close(child.listener) }
    }

    public func kill() { _ = mpm_pidfd_kill(child.pidfd, SIGKILL) }

    /// Ends the run as cancelled (an orchestrator's cancel, or an event the log refused).
    public func cancel() { end(.cancelled) }

    /// Ends the run for `why`, once; an incident names it unless it is a plain cancel.
    private func end(_ why: RunOutcome.Reason, incident: (kind: String, detail: String)? = nil) {
        if reason == .exited { reason = why }
        if !killed {
            kill()
            killed = true
            if let incident {
                record(.incident(runID: config.runID, agentID: config.agentID, kind: incident.kind,
                                 detail: incident.detail, action: "killed"))
            }
        }
    }

    private func record(_ event: Event) {
        // No unaudited run: if the log cannot take the event, the run ends.
        if !recorder.record(event) && !killed {
            if reason == .exited { reason = .cancelled }
            kill()
            killed = true
        }
    }

    public func run(sink: OutputSink, started: Monotonic.Instant = Monotonic.now()) -> RunOutcome {
        let deadline = started.adding(seconds: config.timeoutSeconds)
        var open: [OutputStreamKind: Int32] = [.stdout: stdoutFD, .stderr: stderrFD]
        var listening = child.listener >= 0
        var exited = false
        var outputBytes = 0
        var drainDeadline: Monotonic.Instant?

        while !(exited && open.isEmpty) {
            if let control, control.isCancelled, !killed, !exited { end(.cancelled) }
            var fds: [pollfd] = []
            var kinds: [OutputStreamKind?] = []
            // A slow reader: leave the pipes unread (the agent blocks) until it catches up.
            let paused = sink.backlogged
            if !paused {
                for (kind, fd) in open {
                    fds.append(pollfd(fd: fd, events: Int16(POLLIN), revents: 0))
                    kinds.append(kind)
                }
            } else if drainDeadline != nil && reason != .cancelled {
                // Waiting on the reader is not waiting on the pipes: the drain's bound restarts.
                // (Not for a cancelled run: nobody waits for the rest of its output.)
                drainDeadline = Monotonic.now().adding(seconds: 2)
            }
            let resumeIndex = paused && sink.resumeFD >= 0 ? fds.count : -1
            if resumeIndex >= 0 { fds.append(pollfd(fd: sink.resumeFD, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let controlIndex = control.map { $0.wakeFD >= 0 } ?? false ? fds.count : -1
            if controlIndex >= 0 { fds.append(pollfd(fd: control!.wakeFD, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let pidIndex = exited ? -1 : fds.count
            if !exited { fds.append(pollfd(fd: child.pidfd, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let listenerIndex = listening ? fds.count : -1
            if listening { fds.append(pollfd(fd: child.listener, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let landlockIndex = landlockDenials == nil ? -1 : fds.count
            if let l = landlockDenials { fds.append(pollfd(fd: l.fd, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }
            let signalIndex = signalFD >= 0 ? fds.count : -1
            if signalFD >= 0 { fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)); kinds.append(nil) }

            // Until the agent ends: its deadline; once killed: its reaping; then: the drain.
            let now = Monotonic.now()
            var wait = Int32(clamping: max(0, deadline.milliseconds(since: now)))
            if killed { wait = 1000 }
            if let d = drainDeadline { wait = Int32(clamping: max(0, d.milliseconds(since: now))) }
            // Output held back in case it starts a secret is released within a short bound.
            for r in redactors.values {
                if let hold = r.holdDeadline {
                    wait = min(wait, Int32(clamping: max(0, (hold - now.nanoseconds + 999_999) / 1_000_000)))
                }
            }
            let n = poll(&fds, nfds_t(fds.count), wait)
            if n < 0 && errno == EINTR { continue }
            let afterPoll = Monotonic.now().nanoseconds
            for (kind, r) in redactors where r.holdDeadline.map({ $0 <= afterPoll }) ?? false {
                deliver(sink, kind, r.flushExpired(now: afterPoll))
            }

            if n == 0 {
                // Woken by a deadline: the drain's, the run's, or only a redactor's hold.
                if exited {
                    // Not while paused: what is left in the pipes waits for the reader, however
                    // slow, unless the run was cancelled.
                    if !paused || reason == .cancelled, drainDeadline.map({ Monotonic.now() >= $0 }) ?? true { break }  // give up on output still open
                } else if !killed && Monotonic.now() >= deadline {
                    end(.timeout, incident: ("timeout", "ran longer than its \(config.timeoutSeconds) s timeout"))
                }
                continue
            }
            for (i, p) in fds.enumerated() where p.revents != 0 {
                switch i {
                case resumeIndex:
                    continue  // the sink clears it; the next round polls the pipes again
                case controlIndex:
                    control?.acknowledge()
                    if !killed && !exited { end(.cancelled) }
                case signalIndex:
                    let signo = mpm_read_signal(signalFD)
                    supervisorSignal = signo
                    end(.cancelled, incident: ("supervisor_signal", "mpm-run received signal \(signo)"))
                case listenerIndex:
                    if p.revents & Int16(POLLIN) != 0 {
                        answerDenial()
                    } else {
                        listening = false  // every process under the filter is gone
                    }
                case landlockIndex:
                    reportLandlockDenials(landlockDenials!.read(), live: !exited)
                case pidIndex:
                    exited = true
                    // A cancel kills init before it wakes this loop, so the exit can be seen
                    // first: the run was still cancelled.
                    if reason == .exited, control?.isCancelled == true { reason = .cancelled }
                    // Every process of the run is gone with the agent; what they wrote is
                    // still in the pipes. Drain it, but never wait on it for long.
                    drainDeadline = Monotonic.now().adding(seconds: 2)
                default:
                    guard let kind = kinds[i] else { continue }
                    if !pump(kind, from: p.fd, into: sink, outputBytes: &outputBytes) {
                        open[kind] = nil
                        deliver(sink, kind, redactors[kind]!.flush())
                    }
                }
            }
            if !exited && !killed && Monotonic.now() >= deadline {
                end(.timeout, incident: ("timeout", "ran longer than its \(config.timeoutSeconds) s timeout"))
            }
        }
        for kind in [OutputStreamKind.stdout, .stderr] { deliver(sink, kind, redactors[kind]!.flush()) }
        sink.finish()
        let found = redactors.values.reduce(into: [SecretScanner.Kind: Int]()) { all, r in
            for (k, n) in r.findings { all[k, default: 0] += n }
        }
        if !found.isEmpty {
            let detail = found.sorted { $0.key.rawValue < $1.key.rawValue }.map { "\($0.value) \($0.key.rawValue)" }
                .joined(separator: ", ")
            record(.incident(runID: config.runID, agentID: config.agentID, kind: "secret_in_output",
                             detail: "redacted from the output: \(detail)", action: "redacted"))
        }
        // The kernel reports a run's last file denials shortly after it ends: wait for them, briefly.
        if let l = landlockDenials { reportLandlockDenials(l.finish(runID: config.runID, timeoutMS: 500), live: false) }
        if !unlisted.isEmpty {
            let total = unlisted.values.reduce(0, +)
            let bySyscall = unlisted.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
            var summary = Event.permissionDenied(
                runID: config.runID, agentID: config.agentID, permission: "*", plane: "syscall",
                reason: "\(total) more denied calls, counted but not listed one by one (\(bySyscall))")
            summary.fields["count"] = .int(total)
            record(summary)
        }

        var status = mpm_exit()
        _ = mpm_wait_run(child.run, child.pidfd, &status)
        control?.detach()
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
            outputBytes: outputBytes,
            denials: denials)
    }

    /// One read of the stream's pipe, delivered up to the output limit. False at the stream's end
    /// (or on a read error other than EAGAIN and EINTR).
    private func pump(_ kind: OutputStreamKind, from fd: Int32, into sink: OutputSink, outputBytes: inout Int) -> Bool {
        ReadBuffers.withBuffer { buffer in
            let got = read(fd, buffer.baseAddress, buffer.count)
            guard got > 0 else { return got < 0 && (errno == EAGAIN || errno == EINTR) }
            outputBytes += got
            if limit != nil { return true }
            let allowed = min(got, got - (outputBytes - config.maxOutputBytes))
            if allowed > 0 {
                let chunk = UnsafeRawBufferPointer(rebasing: buffer[..<allowed])
                deliver(sink, kind, redactors[kind]!.feed(chunk, now: Monotonic.now().nanoseconds))
            }
            if outputBytes > config.maxOutputBytes {
                limit = "output_limit"
                end(.limit, incident: ("output_limit", "wrote more than its \(config.maxOutputBytes) bytes of output"))
            }
            return true
        }
    }

    private func deliver(_ sink: OutputSink, _ kind: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {
        if !bytes.isEmpty { sink.deliver(kind, bytes) }
    }

    /// One denied call: answer EPERM at once (the agent waits for it), then record it.
    private func answerDenial() {
        var n = mpm_notification()
        guard mpm_notif_receive(child.listener, &n) == 0 else { return }  // ENOENT: the caller died
        _ = mpm_notif_deny(child.listener, n.id, EPERM)
        denials += 1
        let args = withUnsafeBytes(of: n.args) { Array($0.bindMemory(to: UInt64.self)) }
        let denial = SeccompFilter.classify(nr: n.nr, args: args)
        // Once the run is being killed, what still arrives is only counted (for the summary).
        if denials <= Self.denialEventsPerRun && !killed {
            record(.permissionDenied(runID: config.runID, agentID: config.agentID, permission: denial.permission,
                                     plane: "syscall", syscall: denial.syscall, pid: Int(n.pid), reason: denial.reason))
        } else {
            unlisted[denial.syscall, default: 0] += 1
        }
        if denials > config.maxDenials && !killed {
            end(.denied, incident: ("denial_burst", "more than \(config.maxDenials) denied calls"))
        }
    }

    /// File accesses (and TCP, signals) that Landlock denied: counted against the same cap as
    /// denied calls. `live`: the run is still going (else there is nothing left to kill).
    private func reportLandlockDenials(_ found: [LandlockDenials.Denial], live: Bool) {
        for d in found {
            denials += 1
            if denials <= Self.denialEventsPerRun && !killed {
                record(.permissionDenied(runID: config.runID, agentID: config.agentID, permission: d.permission,
                                         plane: d.plane, syscall: d.syscall, path: d.path, pid: d.pid, reason: d.reason))
            } else {
                unlisted["landlock " + (d.syscall ?? d.plane), default: 0] += 1
            }
            if denials > config.maxDenials && !killed && live {
                end(.denied, incident: ("denial_burst", "more than \(config.maxDenials) denied calls"))
            }
        }
    }
}

/// The 64 KiB buffers that supervisors read their runs' pipes into, each lent for one read and
/// the delivery of what it read. A run between reads holds none: a thousand quiet runs under
/// `serve` would otherwise keep a thousand buffers, each with pages touched.
enum ReadBuffers {
    static let byteCount = 1 << 16
    /// Buffers kept for the next reads; one returned beyond these is freed.
    static let spareLimit = 8
    /// Addresses (a pointer is not Sendable; its bit pattern is).
    private static let spare = Mutex<[UInt]>([])

    static var spareCount: Int { spare.withLock { $0.count } }

    static func withBuffer<T>(_ body: (UnsafeMutableRawBufferPointer) -> T) -> T {
        let base = spare.withLock { $0.popLast() }.flatMap { UnsafeMutableRawPointer(bitPattern: $0) }
            ?? UnsafeMutableRawPointer.allocate(byteCount: byteCount, alignment: 16)
        defer {
            let kept = spare.withLock { list in
                guard list.count < spareLimit else { return false }
                list.append(UInt(bitPattern: base))
                return true
            }
            if !kept { base.deallocate() }
        }
        return body(UnsafeMutableRawBufferPointer(start: base, count: byteCount))
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
