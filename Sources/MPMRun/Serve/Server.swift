#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CLauncher
import Glibc
import Synchronization

/// `mpm-run serve`: JSON-RPC 2.0 over stdin and stdout (CONTRACT.md section 6).
///
/// One thread reads requests and answers them; one thread writes every line to stdout
/// (`ServeOutput`); a few long-lived threads launch the runs (`Launchers`: a run's init
/// shares the thread-local storage of the thread that cloned it, and its parent-death signal
/// follows that thread), and each run is then watched to its end by a thread of its own.
/// Every request looks at the agents' and profiles' files (`CatalogCache`), so an edit takes
/// effect at the next `run`.
public final class Server: @unchecked Sendable {
    public struct Options: Sendable {
        public var agentsDir: String
        public var profilesDir: String
        public var projectRoot: String
        public var workingDirectory: String
        public var environment: [String: String]
        /// Folders no agent may write (the audit log's, besides agents and profiles).
        public var protectedPaths: [String] = []
        public var maxConcurrent = 64
        public var version: String

        public init(agentsDir: String, profilesDir: String, projectRoot: String, workingDirectory: String,
                    environment: [String: String], version: String) {
            self.agentsDir = agentsDir
            self.profilesDir = profilesDir
            self.projectRoot = projectRoot
            self.workingDirectory = workingDirectory
            self.environment = environment
            self.version = version
        }
    }

    struct Entry {
        var agent: String
        var control: RunControl
        var startedAt: String
    }

    let options: Options
    let log: AuditLog
    let catalogs: CatalogCache
    let output: ServeOutput
    /// The runs that hold a slot (`--max-concurrent`, `status`, `cancel`): from the answer to
    /// their `run/exited`.
    private let runs = Mutex<[String: Entry]>([:])
    /// Run threads not yet finished: a run's sandbox and cgroups are removed after its
    /// `run/exited`, and serve does not exit before that is done.
    private let liveRuns = Atomic<Int>(0)
    /// A launch thread is trying the set-aside sandbox removals again.
    private let removingDeferred = Atomic<Bool>(false)
    /// Readable when a run has ended (the reader waits for the last one at EOF).
    private let runEnded = mpm_eventfd()
    private let started = Monotonic.now()
    private var accepting = true
    /// Launches to hand to `launchers` once the line that asked for them has been answered.
    private var pendingStarts: [@Sendable () -> Void] = []
    /// The threads that launch runs; each run is then watched by a thread of its own.
    private var launchers: Launchers?

    public init(options: Options, log: AuditLog, outputFD: Int32 = 1) {
        self.options = options
        self.log = log
        catalogs = CatalogCache(agentsDir: options.agentsDir, profilesDir: options.profilesDir)
        output = ServeOutput(fd: outputFD)
    }

    deinit { if runEnded >= 0 { close(runEnded) } }

    /// Serves until EOF on `inputFD`, `shutdown`, a termination signal or a broken stdout,
    /// then waits for every run to end and for every line to be written. Returns the exit
    /// status: 0, or 1 when stdout broke.
    public func serve(inputFD: Int32 = 0, signalFD: Int32 = -1) -> Int32 {
        signal(SIGPIPE, SIG_IGN)
        // Each run holds about ten descriptors (pipes, pidfd, listener, eventfds, cgroups):
        // a thousand runs need more than the usual soft limit of 1024.
        var files = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &files) == 0, files.rlim_cur < files.rlim_max {
            files.rlim_cur = files.rlim_max
            _ = setrlimit(Int32(RLIMIT_NOFILE.rawValue), &files)
        }
        // glibc gives each new thread a malloc arena of its own (up to 8 a core), and a run's
        // thread keeps its arena's pages after the run: with hundreds of runs that was 29 MiB
        // of serve's RSS. Runs allocate little and rarely at the same moment: two arenas do.
        _ = mpm_malloc_arena_max(2)
        guard let writer = Self.startThread(name: "mpm-run output", stackSize: 256 << 10, { [output] in output.runWriter() }) else {
            Console.err("mpm-run serve: cannot start the output thread: \(errnoText(errno))")
            return 125
        }
        guard let launchers = Launchers(count: Launchers.defaultCount) else {
            Console.err("mpm-run serve: cannot start the launch threads: \(errnoText(errno))")
            output.close()
            pthread_join(writer, nil)
            return 125
        }
        self.launchers = launchers
        defer { launchers.close() }
        var reader = LineReader(fd: inputFD, maxLineBytes: JSONRPC.maxLineBytes)
        var status: Int32 = 0
        var brokenSeen = false
        var signalled = false
        // Answers are bounded like run output: while too many wait for stdout, stdin is not
        // read (an orchestrator that writes but does not read cannot grow serve).
        let answersResume = mpm_eventfd()
        defer { close(answersResume) }
        while accepting || liveRuns.load(ordering: .acquiring) > 0 {
            var fds = [pollfd(fd: runEnded, events: Int16(POLLIN), revents: 0),
                       pollfd(fd: output.brokenFD, events: Int16(POLLIN), revents: 0)]
            if signalFD >= 0 { fds.append(pollfd(fd: signalFD, events: Int16(POLLIN), revents: 0)) }
            mpm_eventfd_clear(answersResume)
            let answersWait = accepting && output.isBacklogged(0, resumeFD: answersResume)
            let inputIndex = accepting && !answersWait ? fds.count : -1
            if inputIndex >= 0 { fds.append(pollfd(fd: inputFD, events: Int16(POLLIN), revents: 0)) }
            if answersWait { fds.append(pollfd(fd: answersResume, events: Int16(POLLIN), revents: 0)) }
            // Sandboxes set aside for want of descriptors are tried again as runs end, and
            // every second while none does: by a launch thread, not this one (a sandbox may
            // hold many files; requests and signals do not wait for it).
            let retrying = Workspace.deferredCount > 0
            let ready = poll(&fds, nfds_t(fds.count), retrying ? 1000 : -1)
            let pollErrno = errno
            if retrying, !removingDeferred.exchange(true, ordering: .acquiring) {
                launchers.submit { [self] in
                    for problem in Workspace.removeDeferred() { Console.err("mpm-run serve: \(problem)") }
                    removingDeferred.store(false, ordering: .releasing)
                }
            }
            if ready < 0 {
                if pollErrno == EINTR { continue }
                Console.err("mpm-run serve: poll: \(errnoText(pollErrno))")
                stopAccepting(cancelRuns: true)
                continue
            }
            if fds[0].revents != 0 { mpm_eventfd_clear(runEnded) }
            if fds[1].revents != 0 && !brokenSeen {
                brokenSeen = true
                status = 1
                Console.err("mpm-run serve: stdout is closed: cancelling every run")
                stopAccepting(cancelRuns: true)
            }
            if signalFD >= 0 && fds[2].revents != 0 {
                let signo = mpm_read_signal(signalFD)
                Console.err("mpm-run serve: received signal \(signo): cancelling every run")
                signalled = true
                stopAccepting(cancelRuns: true)
            }
            if inputIndex >= 0 && fds[inputIndex].revents != 0 {
                switch reader.fill() {
                case .data, .eof:
                    while accepting, let line = reader.nextLine() { handle(line) }
                    if reader.atEOF, accepting {
                        if let last = reader.rest() { handle(last) }
                        stopAccepting(cancelRuns: false)
                    }
                case .error(let e):
                    Console.err("mpm-run serve: reading stdin: \(errnoText(e))")
                    stopAccepting(cancelRuns: false)
                }
            }
        }
        // Every run is over: what is still set aside goes now (after a retry under way).
        while removingDeferred.load(ordering: .acquiring) { usleep(1000) }
        for problem in Workspace.removeDeferred(last: true) { Console.err("mpm-run serve: \(problem)") }
        output.close()
        if signalled {
            // Asked to stop by a signal: what is left is written if the reader reads it soon,
            // but a reader that never does cannot keep serve alive.
            var drained = pollfd(fd: output.drainedFD, events: Int16(POLLIN), revents: 0)
            while poll(&drained, 1, Self.signalFlushSeconds * 1000) < 0 && errno == EINTR {}
            if drained.revents == 0 {
                Console.err("mpm-run serve: stdout was not read for \(Self.signalFlushSeconds) s after the signal: "
                            + "exiting with \(output.queuedBytes) bytes unwritten")
                _ = try? log.sync()
                return status == 0 ? 1 : status
            }
        }
        pthread_join(writer, nil)
        do throws(AuditError) { try log.sync() } catch {
            Console.err("mpm-run serve: \(error.description)")
            status = status == 0 ? 1 : status
        }
        return status
    }

    /// How long serve waits, after SIGTERM or SIGINT, for a reader to take the last lines.
    static let signalFlushSeconds: Int32 = 10

    private var runCount: Int { runs.withLock { $0.count } }

    private func stopAccepting(cancelRuns: Bool) {
        accepting = false
        if cancelRuns { runs.withLock { for entry in $0.values { entry.control.cancel() } } }
    }

    // MARK: lines and messages

    private func handle(_ line: LineReader.Line) {
        switch line {
        case .tooLong(let n):
            send(JSONRPC.error(id: .null, .init(JSONRPC.Code.invalidRequest,
                                                 "line of \(n) bytes is longer than the limit of \(JSONRPC.maxLineBytes)")))
        case .bytes(let bytes):
            if bytes.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0D }) { return }  // a blank line
            guard let value = JSONValue(parsing: bytes) else {
                send(JSONRPC.error(id: .null, .init(JSONRPC.Code.parseError, "not valid JSON")))
                return
            }
            if case .array(let batch) = value {
                if batch.isEmpty {
                    send(JSONRPC.error(id: .null, .init(JSONRPC.Code.invalidRequest, "an empty batch")))
                } else {
                    let answers = batch.compactMap { message($0) }
                    if !answers.isEmpty { send(.array(answers)) }
                }
            } else if let answer = message(value) {
                send(answer)
            }
        }
        // Runs start only after their `{run_id}` is on its way: run/started never precedes it.
        let starts = pendingStarts
        pendingStarts = []
        for start in starts { start() }
    }

    private func send(_ value: JSONValue) { output.post(JSONRPC.line(value)) }

    /// The answer to one message, or nil for a notification.
    private func message(_ value: JSONValue) -> JSONValue? {
        let request: JSONRPC.Request
        switch JSONRPC.decode(value) {
        case .success(let r): request = r
        case .failure(let rejection): return JSONRPC.error(id: rejection.id, rejection.failure)
        }
        let result: JSONValue
        do throws(JSONRPC.Failure) {
            result = try dispatch(request)
        } catch {
            return request.id.map { JSONRPC.error(id: $0, error) }
        }
        return request.id.map { JSONRPC.result(id: $0, result) }
    }

    private func dispatch(_ request: JSONRPC.Request) throws(JSONRPC.Failure) -> JSONValue {
        switch request.method {
        case "run": return try run(request.params)
        case "cancel": return try cancel(request.params)
        case "agents/list":
            _ = try Params(request.params, allowed: [])
            return agentsList()
        case "agents/explain": return try explain(request.params)
        case "status":
            _ = try Params(request.params, allowed: [])
            return status()
        case "shutdown":
            _ = try Params(request.params, allowed: [])
            stopAccepting(cancelRuns: true)
            return .object([:])
        default:
            throw JSONRPC.Failure(JSONRPC.Code.methodNotFound, "method not found: \(request.method)")
        }
    }

    // MARK: methods

    private func catalog() -> Catalog { catalogs.current() }

    private func runner() -> Runner {
        var runner = Runner(catalog: catalog(), projectRoot: options.projectRoot,
                            workingDirectory: options.workingDirectory, environment: options.environment)
        runner.protectedPaths += options.protectedPaths
        return runner
    }

    private func run(_ raw: [String: JSONValue]) throws(JSONRPC.Failure) -> JSONValue {
        let p = try Params(raw, allowed: ["agent", "inputs", "args", "stdin", "timeout_seconds", "output_dir"])
        var request = RunRequest(agent: try p.string("agent", required: true)!)
        request.inputs = try p.strings("inputs")
        request.args = try p.strings("args")
        request.timeoutSeconds = try p.positiveInt("timeout_seconds")
        request.outputDir = try p.string("output_dir")
        if case .string(let text)? = raw["stdin"] {
            request.stdinData = Array(text.utf8)
        } else if let other = raw["stdin"], other != .null {
            throw JSONRPC.Failure(JSONRPC.Code.invalidParams, "parameter 'stdin' must be a string")
        }
        guard accepting else {
            throw JSONRPC.Failure(JSONRPC.Code.busy, "shutting down: no new runs are accepted")
        }
        let active = runCount
        guard active < options.maxConcurrent else {
            throw JSONRPC.Failure(JSONRPC.Code.busy, "busy: \(active) runs going on (--max-concurrent \(options.maxConcurrent))")
        }

        let runner = runner()
        let runID = RunID.make()
        let prepared: Runner.Prepared
        do throws(Runner.Refusal) {
            let recorder = EventRecorder(store: log, reporter: DiscardingReporter())
            prepared = try runner.recordingRefusal(recorder) { () throws(Runner.Refusal) in
                try runner.prepare(request, runID: runID, store: log)
            }
        } catch {
            let code: Int
            switch error.code {
            case .unknownAgent: code = JSONRPC.Code.unknownAgent
            case .limited: code = JSONRPC.Code.limited
            default: code = JSONRPC.Code.refused
            }
            Console.err("mpm-run serve: \(request.agent): \(error.description)")
            throw JSONRPC.Failure(code, error.description, data: ["run_id": .string(runID), "exit_code": .int(Int(error.status))])
        }

        let control = RunControl()
        let entry = Entry(agent: prepared.policy.agent.id, control: control, startedAt: AuditTime.format(AuditTime.now()))
        runs.withLock { $0[runID] = entry }
        liveRuns.add(1, ordering: .releasing)
        let channel = output.channel()
        let auditLog = log
        // The launch and the run's thread need the folders, not the files read for its policy.
        let launcher = { var r = runner; r.catalog = runner.catalog.emptied(); return r }()
        let accepted = request
        pendingStarts.append { [self] in
            let job: @Sendable () -> Void = { [self] in
                Self.launch(runner: launcher, prepared: prepared, request: accepted, control: control, channel: channel,
                            log: auditLog, beforeExited: { [self] in release(runID) }, ended: { [self] in ended(runID) })
            }
            // Always there while serve reads requests; were it not, this thread would launch.
            if let launchers { launchers.submit(job) } else { job() }
        }
        return ["run_id": .string(runID)]
    }

    /// The run's slot is free: its `run/exited` is about to be queued.
    private func release(_ runID: String) {
        runs.withLock { _ = $0.removeValue(forKey: runID) }
    }

    /// The run's thread is done, cleanup included.
    private func ended(_ runID: String) {
        release(runID)
        // Its descriptors are free: sandboxes set aside for want of them can go now.
        for problem in Workspace.removeDeferred() { Console.err("mpm-run serve: \(problem)") }
        liveRuns.subtract(1, ordering: .releasing)
        mpm_eventfd_signal(runEnded)
    }

    /// On a launch thread: starts the run's own thread, makes the run's sandbox and starts its
    /// agent, then hands the run to that thread, which supervises it, collects its output and
    /// reports `run/exited`. `ended` is called once all of that is done, or the run never
    /// started; the run's objects (and their descriptors) are gone by then.
    private static func launch(runner: Runner, prepared: Runner.Prepared, request: RunRequest, control: RunControl,
                               channel: ServeOutput.Channel, log: AuditLog, beforeExited: @escaping @Sendable () -> Void,
                               ended: @escaping @Sendable () -> Void) {
        // The thread first: without one, the run is refused before anything is made.
        let handoff = Handoff()
        let watch: @Sendable () -> Void = {
            guard let notices = watchToEnd(runner: runner, handoff: handoff) else { return }  // never started
            for notice in notices { Console.err("mpm-run serve: \(prepared.runID): \(notice)") }
            ended()
        }
        guard startThread(name: runThreadName, stackSize: 1 << 20, detached: true, watch) != nil else {
            let text = "cannot start a thread for the run: \(errnoText(errno))"
            let reporter = JSONLinesReporter(output: channel)
            reporter.beforeExited = beforeExited
            // On record like every other run that was accepted and then refused.
            let recorder = EventRecorder(store: log, reporter: reporter)
            var error = text
            if !recorder.record(Event(.policyRejected, runID: prepared.runID, agentID: prepared.policy.agent.id,
                                      ["reason": .string(text)])) {
                error += " (and \(recorder.failure ?? "the audit log failed"))"
            }
            Console.err("mpm-run serve: \(prepared.runID): \(error)")
            reporter.notStarted(runID: prepared.runID, reason: .denied, status: 125, error: error, durationMS: 0)
            ended()
            return
        }
        let started = handoff.give(start(runner: runner, prepared: prepared, request: request, control: control,
                                         channel: channel, log: log, beforeExited: beforeExited))
        if !started { ended() }
    }

    /// The launch proper; nil when the run was refused (and reported as not started).
    private static func start(runner: Runner, prepared: Runner.Prepared, request: RunRequest, control: RunControl,
                              channel: ServeOutput.Channel, log: AuditLog,
                              beforeExited: @escaping @Sendable () -> Void) -> Runner.Started? {
        let reporter = JSONLinesReporter(output: channel)
        reporter.beforeExited = beforeExited
        let recorder = EventRecorder(store: log, reporter: reporter)
        let begun = Monotonic.now()
        do throws(Runner.Refusal) {
            return try runner.recordingRefusal(recorder) { () throws(Runner.Refusal) in
                try runner.start(prepared, request, recorder: recorder, control: control)
            }
        } catch {
            let reason: RunOutcome.Reason = error.code == .cancelled ? .cancelled : .denied
            if error.code != .cancelled { Console.err("mpm-run serve: \(prepared.runID): \(error.description)") }
            if !error.ended {
                reporter.notStarted(runID: prepared.runID, reason: reason, status: error.status, error: error.description,
                                    durationMS: Monotonic.now().milliseconds(since: begun))
            }
            return nil
        }
    }

    /// On the run's thread: waits for the launch, then supervises the run to its end. The
    /// run's notices, or nil when it never started.
    private static func watchToEnd(runner: Runner, handoff: Handoff) -> [String]? {
        guard let run = handoff.take() else { return nil }
        return runner.finish(run).notices
    }

    private func cancel(_ raw: [String: JSONValue]) throws(JSONRPC.Failure) -> JSONValue {
        let p = try Params(raw, allowed: ["run_id"])
        let runID = try p.string("run_id", required: true)!
        let control = runs.withLock { $0[runID]?.control }
        return ["cancelled": .bool(control?.cancel() ?? false)]
    }

    private func agentsList() -> JSONValue {
        let catalog = catalog()
        return .array(catalog.agents.keys.sorted().compactMap { id in
            guard let def = catalog.agents[id] else { return nil }
            var profile = JSONValue.null
            if case .profile(let p, _) = catalog.profiles.choice(for: def.type) { profile = .string(p.name) }
            return [
                "agent_id": .string(def.id), "type": def.type.map(JSONValue.string) ?? .null, "profile": profile,
                "version": .string(def.version), "name": .string(def.name), "format": .string(def.format.rawValue),
            ]
        })
    }

    private func explain(_ raw: [String: JSONValue]) throws(JSONRPC.Failure) -> JSONValue {
        let p = try Params(raw, allowed: ["agent"])
        let agent = try p.string("agent", required: true)!
        let catalog = catalog()
        let def: AgentDefinition
        switch catalog.agent(agent) {
        case .success(let d): def = d
        case .failure(let e):
            if case .unknown = e { throw JSONRPC.Failure(JSONRPC.Code.unknownAgent, e.description) }
            throw JSONRPC.Failure(JSONRPC.Code.refused, e.description)
        }
        switch PolicyResolver.resolve(def, profiles: catalog.profiles, projectRoot: options.projectRoot) {
        case .success(let policy):
            // The same bytes `explain --json` prints, read back as a value.
            return JSONValue(parsing: Array(JSONOutput.encode(policy, pretty: false).utf8)) ?? .null
        case .failure(let refusal):
            throw JSONRPC.Failure(JSONRPC.Code.refused, refusal.errors.map(\.description).joined(separator: "\n"))
        }
    }

    private func status() -> JSONValue {
        let list = runs.withLock { runs in
            runs.sorted { $0.key < $1.key }.map { id, e -> JSONValue in
                let pid = e.control.pid
                return ["run_id": .string(id), "agent": .string(e.agent), "pid": pid > 0 ? .int(Int(pid)) : .null,
                        "state": .string(e.control.phase.rawValue), "started_at": .string(e.startedAt)]
            }
        }
        return ["version": .string(options.version), "uptime_ms": .int(Monotonic.now().milliseconds(since: started)),
                "runs": .array(list)]
    }

    // MARK: threads

    /// What a run's thread is called (in `top -H`, /proc/PID/task/TID/comm).
    static let runThreadName = "mpm-run run"

    /// A thread named `name`, of `stackSize`: a detached one for a run (it gives its stack back
    /// when it ends; serve never joins it, it waits for `liveRuns` instead), joinable ones for
    /// the writer and the launch threads.
    @discardableResult
    static func startThread(name: String, stackSize: Int, detached: Bool = false,
                             _ body: @escaping @Sendable () -> Void) -> pthread_t? {
        var attr = pthread_attr_t()
        pthread_attr_init(&attr)
        defer { pthread_attr_destroy(&attr) }
        pthread_attr_setstacksize(&attr, stackSize)
        if detached { pthread_attr_setdetachstate(&attr, Int32(PTHREAD_CREATE_DETACHED)) }
        let box = Unmanaged.passRetained(ThreadBody { _ = mpm_name_thread(name); body() }).toOpaque()
        var thread = pthread_t()
        let rc = pthread_create(&thread, &attr, { raw in
            let body = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
            body.run()
            return nil
        }, box)
        if rc != 0 {
            Unmanaged<ThreadBody>.fromOpaque(box).release()
            errno = rc
            return nil
        }
        return thread
    }
}

private final class ThreadBody: Sendable {
    let run: @Sendable () -> Void
    init(_ run: @escaping @Sendable () -> Void) { self.run = run }
}

/// The reporter of checks made before a run is accepted: their refusal is answered as an
/// error, so only the audit log hears of it.
final class DiscardingReporter: RunReporter {
    func started(runID: String, agent: String, pid: Int32) {}
    func event(_ record: JSONValue) {}
    func exited(runID: String, outcome: RunOutcome, outputDir: String?) {}
    func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {}
    func finish() {}
}

/// Lines of stdin, each at most `maxLineBytes`: a longer one is counted and skipped as it
/// streams by, never held whole.
struct LineReader {
    enum Line { case bytes([UInt8]), tooLong(Int) }
    enum Fill { case data, eof, error(Int32) }

    let fd: Int32
    let maxLineBytes: Int
    private var buffer: [UInt8] = []
    private var start = 0
    /// Bytes of an over-long line skipped so far (nil: not in one).
    private var skipping: Int?
    private(set) var atEOF = false
    private var chunk = [UInt8](repeating: 0, count: 64 << 10)

    init(fd: Int32, maxLineBytes: Int) {
        self.fd = fd
        self.maxLineBytes = maxLineBytes
    }

    mutating func fill() -> Fill {
        let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        if n < 0 {
            if errno == EINTR || errno == EAGAIN { return .data }
            return .error(errno)
        }
        if n == 0 { atEOF = true; return .eof }
        if start > 0 && start == buffer.count { buffer.removeAll(keepingCapacity: true); start = 0 }
        buffer.append(contentsOf: chunk[..<n])
        return .data
    }

    mutating func nextLine() -> Line? {
        while true {
            let newline = buffer[start...].firstIndex(of: UInt8(ascii: "\n"))
            if var skipped = skipping {
                if let nl = newline {
                    skipped += nl - start
                    start = nl + 1
                    skipping = nil
                    compact()
                    return .tooLong(skipped)
                }
                skipping = skipped + buffer.count - start
                buffer.removeAll(keepingCapacity: true)
                start = 0
                return nil
            }
            guard let nl = newline else {
                if buffer.count - start > maxLineBytes {
                    skipping = buffer.count - start
                    buffer.removeAll(keepingCapacity: true)
                    start = 0
                    continue
                }
                compact()
                return nil
            }
            if nl - start > maxLineBytes {
                let n = nl - start
                start = nl + 1
                compact()
                return .tooLong(n)
            }
            let line = Array(buffer[start..<nl])
            start = nl + 1
            return .bytes(line)
        }
    }

    /// At EOF: what followed the last newline, as a last line.
    mutating func rest() -> Line? {
        if let skipped = skipping {
            skipping = nil
            return .tooLong(skipped)
        }
        guard start < buffer.count else { return nil }
        let line = Array(buffer[start...])
        buffer.removeAll()
        start = 0
        return .bytes(line)
    }

    private mutating func compact() {
        if start > 64 << 10 {
            buffer.removeFirst(start)
            start = 0
        }
    }
}
