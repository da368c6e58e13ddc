import CLauncher
import Glibc
import Synchronization

/// One run from request to exit status: policy, refusal checks, the sandbox, the launch,
/// supervision, collecting output, cleaning up. The front ends (`mpm-run <agent>`,
/// `serve`) only render what happens here.
public struct Runner: Sendable {
    public var catalog: Catalog
    public var projectRoot: String
    public var workingDirectory: String
    public var environment: [String: String]
    /// Folders no agent may write: those that decide its policy (agents, profiles) and the
    /// audit log's. A write path that contains one is refused.
    public var protectedPaths: [String] = []
    /// The folder that holds the sandboxes' folder: `$TMPDIR` (or /tmp), symlinks resolved
    /// once, so that sandboxes are made where `prepare` checked (a symlink on the way that an
    /// agent could repoint would not move them).
    public var temporaryFolder: String
    /// Where the runs' sandboxes are made: `<temporaryFolder>/mpm-run`.
    public var sandboxFolder: String { Self.sandboxFolder(in: temporaryFolder) }

    static func sandboxFolder(in folder: String) -> String {
        (folder == "/" ? "" : folder) + "/" + Workspace.sandboxFolderName
    }

    public init(catalog: Catalog, projectRoot: String, workingDirectory: String, environment: [String: String]) {
        self.catalog = catalog
        self.projectRoot = projectRoot
        self.workingDirectory = workingDirectory
        self.environment = environment
        protectedPaths = [catalog.agentsDir, catalog.profilesDir].map { Self.absolute($0, in: workingDirectory) }
        temporaryFolder = Self.absolute(Workspace.defaultTemporaryFolder(), in: workingDirectory)
    }

    /// `path` made absolute without following symlinks where it does not exist yet.
    public static func absolute(_ path: String, in cwd: String) -> String {
        if let real = realpath(path.hasPrefix("/") ? path : cwd + "/" + path, nil) {
            defer { free(real) }
            return String(cString: real)
        }
        return ProjectPath.resolve(path, against: cwd)
    }

    /// A run that could not start; `status` is what mpm-run exits with, `event` what the
    /// audit log records of it.
    public struct Refusal: Error, CustomStringConvertible {
        /// Why, for serve's error codes (CONTRACT.md section 6).
        public enum Code: Sendable {
            /// No file defines the agent (-32001).
            case unknownAgent
            /// The agent, its profile or the host refuses it (-32002).
            case policy
            /// Rate limited or quarantined (-32004).
            case limited
            /// Cancelled before the launch.
            case cancelled
            /// mpm-run itself failed (the sandbox could not be made).
            case failed
        }

        public var description: String
        public var status: Int32 = 125
        public var event: Event?
        public var code = Code.failed
        /// The run's end was already recorded and reported (its start had been): nobody
        /// should report it again.
        public var ended = false
    }

    /// What `prepare` decided: everything a launch needs that can be refused cheaply.
    public struct Prepared: Sendable {
        public let runID: String
        public let policy: EffectivePolicy
        let identity: Identity
        let executable: String
        let timeoutSeconds: Int
    }

    public struct Result {
        public var runID: String
        public var outcome: RunOutcome
        public var outputDir: String?
        /// Set with --keep-sandbox.
        public var sandbox: String?
        /// Lines for the user about the run (withheld secrets, skipped output files).
        public var notices: [String]
    }

    /// How much of output/ is copied out: 16 files' worth of the file size limit.
    static func outputCopyLimit(_ limits: ResourceLimits) -> Int { 16 * limits.maxFileSizeMB << 20 }

    /// The default `./mpm-output` must be a real folder of ours: a symlink planted there by an
    /// earlier agent with write access to the project would send every later run's output
    /// (written by root, on the root path) wherever it points.
    static func checkDefaultOutputParent(_ path: String) throws(WorkspaceError) {
        var st = stat()
        if lstat(path, &st) != 0 {
            if errno == ENOENT { return }
            throw WorkspaceError(.io(step: "inspect", path: path, errno: errno))
        }
        guard (st.st_mode & S_IFMT) == S_IFDIR, st.st_uid == geteuid() else {
            throw WorkspaceError(.io(step: "use (not a folder of this user's, perhaps a planted symlink)", path: path, errno: EPERM))
        }
    }

    /// Resolves the agent's policy; every reason it cannot run is a refusal.
    public func policy(for agent: String, runID: String? = nil) throws(Refusal) -> EffectivePolicy {
        let def: AgentDefinition
        switch catalog.agent(agent) {
        case .success(let d): def = d
        case .failure(let e):
            var code = Refusal.Code.policy
            if case .unknown = e { code = .unknownAgent }
            throw Refusal(description: e.description, event: Event(.agentRejected, runID: runID, agentID: agent,
                                                                     ["reason": .string(e.description)]), code: code)
        }
        switch PolicyResolver.resolve(def, profiles: catalog.profiles, projectRoot: projectRoot) {
        case .success(let p): return p
        case .failure(let r):
            let text = r.errors.map(\.description).joined(separator: "\n")
            throw Refusal(description: text, event: Event(.policyRejected, runID: runID, agentID: agent,
                                                            ["reason": .string(text)]), code: .policy)
        }
    }

    /// Runs the request to its end. Every event goes through `store` before `reporter` hears it;
    /// a refusal is recorded too, then thrown.
    public func run(_ request: RunRequest, reporter: RunReporter, store: EventStore, signalFD: Int32 = -1) throws(Refusal) -> Result {
        let recorder = EventRecorder(store: store, reporter: reporter)
        let runID = RunID.make()
        let prepared = try recordingRefusal(recorder) { () throws(Refusal) in try prepare(request, runID: runID, store: store) }
        return try recordingRefusal(recorder) { () throws(Refusal) in
            try launch(prepared, request, recorder: recorder, signalFD: signalFD)
        }
    }

    /// Runs `body`; a refusal it throws is recorded (through `recorder`) before it is rethrown.
    public func recordingRefusal<T>(_ recorder: EventRecorder, _ body: () throws(Refusal) -> T) throws(Refusal) -> T {
        do throws(Refusal) {
            return try body()
        } catch {
            var refusal = error
            if let event = refusal.event, !recorder.record(event) {
                refusal.description += " (and \(recorder.failure ?? "the audit log failed"))"
            }
            throw refusal
        }
    }

    /// The checks that decide whether the run may happen at all, before anything is made:
    /// the agent and its policy, rate limit and quarantine, write paths, identity, kernel
    /// features, the command.
    public func prepare(_ request: RunRequest, runID: String, store: EventStore) throws(Refusal) -> Prepared {
        let policy = try policy(for: request.agent, runID: runID)
        let agentID = policy.agent.id
        func rejected(_ text: String, status: Int32 = 125) -> Refusal {
            Refusal(description: text, status: status,
                    event: Event(.policyRejected, runID: runID, agentID: agentID, ["reason": .string(text)]), code: .policy)
        }
        if var refusal = Thresholds.refusal(agent: agentID, thresholds: policy.incidents, store: store, runID: runID) {
            if refusal.event != nil { refusal.code = .limited }
            throw refusal
        }
        // Each path as written and as Landlock will grant it (symlinks followed), resolved once,
        // against each folder as written and as it is.
        let forms = { (path: String) in (path, Set([path, Self.absolute(path, in: "/")])) }
        let writes = policy.writePaths.map(forms)
        // An agent that could write its own profile would choose its next run's permissions.
        for (write, seen) in writes {
            if let protected = protectedPaths.first(where: { p in seen.contains { ProjectPath.isWithin(p, $0) } }) {
                throw rejected("write path \(write) contains \(protected), which decides or records agents' permissions: "
                               + "narrow the profile's write_paths so that it leaves that folder out")
            }
        }
        // Other runs' sandboxes: an agent that could write there could change another run's
        // input, instructions or output; nor may it reach a folder on the way there, which it
        // could replace.
        let sandboxes = [sandboxFolder,
                         Self.sandboxFolder(in: ProjectPath.resolve(Workspace.defaultTemporaryFolder(), against: workingDirectory))]
        let overlapsSandboxes = { (path: String, seen: Set<String>) in
            seen.contains { p in sandboxes.contains { ProjectPath.isWithin($0, p) || ProjectPath.isWithin(p, $0) } }
        }
        if let (write, _) = writes.first(where: overlapsSandboxes) {
            throw rejected("write path \(write) overlaps \(sandboxFolder), where other runs' sandboxes are: "
                           + "narrow the profile's write_paths, or set TMPDIR to a folder outside them")
        }
        let identity: Identity
        do throws(Identity.Refusal) { identity = try Identity.plan(keepingCapabilities: policy.capabilities) } catch {
            throw rejected(error.description)
        }
        // An unprivileged mpm-run runs every agent as its own user, so only Landlock keeps one run
        // from reading another's sandbox (as root, each run has a uid and a 0700 folder of its own).
        if !identity.isRootSupervisor, let (read, _) = policy.readPaths.map(forms).first(where: overlapsSandboxes) {
            throw rejected("read path \(read) overlaps \(sandboxFolder), where other runs' sandboxes are (every agent of an "
                           + "unprivileged mpm-run is the same user): narrow the profile's read_paths, or set TMPDIR to a folder outside them")
        }
        // `forRoot: false` also asks whether an unprivileged uid may create a user namespace.
        if let problem = KernelFeatures.requirementProblem(forRoot: !identity.needsUserNamespace) {
            throw rejected(problem)
        }
        guard let executable = policy.executable else {
            throw rejected("\(policy.argv[0]): command not found (agent \(policy.agent.id))", status: 127)
        }
        var timeout = policy.limits.timeoutSeconds
        if let t = request.timeoutSeconds { timeout = min(timeout, t) }
        return Prepared(runID: runID, policy: policy, identity: identity, executable: executable, timeoutSeconds: timeout)
    }

    /// Serialises the moments when a run's pipes are open in this process: a run launched
    /// meanwhile (by another thread of serve) would copy their write ends into its init,
    /// and the first run's output would not end until the second run did.
    static let launchLock = Mutex(())

    /// Makes the sandbox, launches the agent and supervises it to its end. `control` lets
    /// another thread cancel the run.
    public func launch(_ prepared: Prepared, _ request: RunRequest, recorder: EventRecorder, signalFD: Int32 = -1,
                       control: RunControl? = nil) throws(Refusal) -> Result {
        finish(try start(prepared, request, recorder: recorder, signalFD: signalFD, control: control))
    }

    /// A run whose agent has started: what `finish` needs to supervise it to its end, collect
    /// its output and clean up. Handed from the thread that started it to the one that
    /// finishes it, never used by two at once.
    ///
    /// A class: a waiting run's thread holds one reference to it, not a copy of every field in
    /// each frame down to its `poll` (as a struct it cost serve a stack page, 4 KiB, a waiting run).
    public final class Started: @unchecked Sendable {
        let runID: String
        let policy: EffectivePolicy
        let recorder: EventRecorder
        let supervisor: RunSupervisor
        let workspace: Workspace
        var keep: Bool
        let outputFolder: OutputFolder
        let outputDir: String
        var notices: [String]
        let cgroups: RunCgroups?
        let started: Monotonic.Instant

        init(runID: String, policy: EffectivePolicy, recorder: EventRecorder, supervisor: RunSupervisor,
             workspace: Workspace, keep: Bool, outputFolder: OutputFolder, outputDir: String, notices: [String],
             cgroups: RunCgroups?, started: Monotonic.Instant) {
            self.runID = runID
            self.policy = policy
            self.recorder = recorder
            self.supervisor = supervisor
            self.workspace = workspace
            self.keep = keep
            self.outputFolder = outputFolder
            self.outputDir = outputDir
            self.notices = notices
            self.cgroups = cgroups
            self.started = started
        }
    }

    /// Makes the sandbox and launches the agent: every step up to the agent's execve. Once
    /// it returns, the run is on record as started and `finish` must follow; the thread that
    /// called it must outlive the run (the run's init shares its thread-local storage, and
    /// its parent-death signal is this thread's end).
    public func start(_ prepared: Prepared, _ request: RunRequest, recorder: EventRecorder, signalFD: Int32 = -1,
                      control: RunControl? = nil) throws(Refusal) -> Started {
        let runID = prepared.runID
        let policy = prepared.policy
        let identity = prepared.identity
        let executable = prepared.executable
        let timeout = prepared.timeoutSeconds
        let agentID = policy.agent.id
        func rejected(_ text: String, status: Int32 = 125) -> Refusal {
            Refusal(description: text, status: status,
                    event: Event(.policyRejected, runID: runID, agentID: agentID, ["reason": .string(text)]), code: .failed)
        }
        // Cancelled while it waited for a launch thread (serve): nothing is made.
        if control?.isCancelled ?? false {
            throw Refusal(description: "cancelled before it started", code: .cancelled)
        }

        let workspace: Workspace
        do throws(WorkspaceError) {
            workspace = try Workspace.create(
                runID: runID, policy: policy, inputs: request.inputs, projectRoot: projectRoot,
                cwd: workingDirectory, owner: identity.isRootSupervisor ? (identity.uid, identity.gid) : nil,
                tmp: temporaryFolder)
        } catch {
            if case .inputOutsideAllowed(let path, let reason) = error.kind {
                throw Refusal(description: error.description, event: .permissionDenied(
                    runID: runID, agentID: agentID, permission: Permission.readFiles.rawValue, plane: "launch",
                    path: path, reason: reason), code: .policy)
            }
            throw rejected(error.description)
        }
        let keep = request.keepSandbox
        // Until the run is handed to `finish`, a refusal cleans up here.
        var handedOver = false
        defer {
            if !handedOver && !keep, let problem = workspace.removeOrDefer() { Console.err("mpm-run: \(runID): \(problem)") }
        }

        // Made and opened before the agent starts, so it cannot plant a symlink where the
        // output will go (it knows its run id) nor swap the folder afterwards.
        let outputDir = request.outputDir ?? "\(workingDirectory)/mpm-output/\(runID)"
        let outputFolder: OutputFolder
        do throws(WorkspaceError) {
            if request.outputDir == nil { try Self.checkDefaultOutputParent(workingDirectory + "/mpm-output") }
            outputFolder = try Workspace.openOutputFolder(outputDir)
        } catch {
            throw rejected("output folder: \(error.description)")
        }
        // A run that never starts leaves no empty output folder behind (rmdir keeps a full one).
        defer { if !handedOver { rmdir(outputDir) } }

        let instructions = workspace.instructionsPath
        let argv = policy.argv.map { $0.replacingAll(Command.instructionsPlaceholder, with: instructions) } + request.args
        let env = ScrubbedEnvironment(
            policy: policy, processEnvironment: environment,
            run: .init(runID: runID, agentID: policy.agent.id, sandbox: workspace.path, input: workspace.inputPath,
                       output: workspace.outputPath, temp: workspace.tempPath))
        // Entries of an input that were not copied (special files, dangling or looping links,
        // files removed while copying): the agent never sees them, and the user is told.
        let notices = workspace.skippedInputs.map { "input \($0.description)" } + env.withheld
        recorder.secretValues = env.secretValues(of: policy)

        let ruleset: LandlockRuleset
        do throws(LandlockRuleset.BuildError) {
            ruleset = try LandlockRuleset.build(
                abi: mpm_sys_landlock_abi(), policy: policy,
                sandbox: .init(root: workspace.path, input: workspace.inputPath, output: workspace.outputPath, temp: workspace.tempPath))
        } catch {
            throw rejected(error.description)
        }

        // The agent's stdin: /dev/null, mpm-run's own (--stdin), or the bytes serve was given.
        var stdinFD: Int32 = 0
        if !request.passStdin {
            stdinFD = try request.stdinData.map { data throws(Refusal) in
                let fd = mpm_memfd("stdin")
                guard fd >= 0, FS.writeAll(fd, data), lseek(fd, 0, SEEK_SET) == 0 else {
                    let e = errno
                    if fd >= 0 { close(fd) }
                    throw rejected("cannot hold the agent's stdin: \(errnoText(e))")
                }
                return fd
            } ?? open("/dev/null", O_RDONLY | O_CLOEXEC)
        }
        defer { if stdinFD > 0 { close(stdinFD) } }
        let cgroups = RunCgroups.create(runID: runID, limits: policy.limits)
        defer { if !handedOver { cgroups?.remove() } }
        var plan = LaunchPlan(
            executable: executable, argv: argv, environment: env.envp, workingDirectory: workspace.path,
            stdin: stdinFD, stdout: -1, stderr: -1, limits: policy.limits,
            identity: identity, permissions: Set(policy.permissions), keptCapabilities: policy.capabilities,
            landlockRulesetFD: ruleset.fd)
        plan.cgroupProcsFDs = cgroups?.procsFDs ?? []
        plan.memoryLimitedByCgroup = cgroups?.limitsMemory ?? false
        plan.processesLimitedByCgroup = cgroups?.limitsProcesses ?? false
        // Landlock's denials, read from before the agent starts (nil where this mpm-run cannot see them).
        let landlockDenials = LandlockDenials.open(agentUID: identity.uid, landlockABI: ruleset.abi)
        if landlockDenials != nil { plan.landlockRestrictFlags = LandlockDenials.restrictFlags }
        if control?.isCancelled ?? false {
            throw Refusal(description: "cancelled before it started", code: .cancelled)
        }
        let started = Monotonic.now()
        // No unaudited run: the agent starts only once run_started is on record. Init waits at
        // its gate meanwhile; if the log refuses the record, no code of the agent ever runs.
        var startRecorded: Bool?
        var cancelledAtGate = false
        let recordStart = { (pid: pid_t) -> Bool in
            if let control, !control.starting(pid: pid) {
                cancelledAtGate = true
                return false
            }
            let ok = recorder.record(Event(.runStarted, runID: runID, agentID: agentID, [
                "pid": .int(Int(pid)), "profile": policy.profile.map(JSONValue.string) ?? .null,
                "permissions": .array(policy.permissions.map { .string($0.rawValue) }),
                "argv": .array(argv.map(JSONValue.string)),
            ]), announce: { recorder.reporter.started(runID: runID, agent: agentID, pid: pid) })
            startRecorded = ok
            return ok
        }
        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        let launched: Swift.Result<LaunchedChild, LaunchFailure> = Self.launchLock.withLock { _ in
            guard mpm_pipe(&out) == 0 else { return .failure(.pipe(errno)) }
            guard mpm_pipe(&err) == 0 else {
                let e = errno
                close(out[0]); close(out[1])
                return .failure(.pipe(e))
            }
            plan.stdout = out[1]
            plan.stderr = err[1]
            defer { close(out[1]); close(err[1]) }
            do throws(LaunchFailure) { return .success(try Launcher.launch(plan, beforeAgent: recordStart)) } catch {
                return .failure(error)
            }
        }
        let child: LaunchedChild
        switch launched {
        case .success(let c): child = c
        case .failure(let failure):
            if case .pipe = failure {} else { close(out[0]); close(err[0]) }
            if case .notStarted = failure {
                if cancelledAtGate { throw Refusal(description: "cancelled before it started", code: .cancelled) }
                throw Refusal(description: recorder.failure ?? "the audit log could not be written", status: 125, code: .failed)
            }
            let what = failure.exitCode == 127 ? "\(argv[0]): command not found" : failure.description
            guard startRecorded == true else { throw rejected(what, status: failure.exitCode) }
            // Its start is on record: so is its end, which came before the agent's execve.
            let duration = Monotonic.now().milliseconds(since: started)
            recorder.record(Event(.runExited, runID: runID, agentID: agentID, [
                "exit_code": .int(Int(failure.exitCode)), "signal": .null, "reason": .string(RunOutcome.Reason.denied.rawValue),
                "duration_ms": .int(duration), "max_rss_kb": .int(0), "denials": .int(0), "error": .string(what),
            ]))
            recorder.reporter.failedToStart(runID: runID, status: failure.exitCode, error: what, durationMS: duration)
            var refusal = Refusal(description: what, status: failure.exitCode, code: .failed)
            refusal.ended = true
            throw refusal
        }

        let supervisor = RunSupervisor(
            child: child, stdoutFD: out[0], stderrFD: err[0],
            configuration: .init(runID: runID, agentID: agentID, timeoutSeconds: timeout,
                                 maxOutputBytes: policy.limits.maxOutputBytes,
                                 maxDenials: policy.incidents.maxDenialsPerRun,
                                 secretValues: env.secretValues(of: policy)),
            recorder: recorder, signalFD: signalFD, control: control)
        supervisor.landlockDenials = landlockDenials
        if let control, !control.attach(pid: child.pid, pidfd: child.pidfd) { supervisor.cancel() }
        handedOver = true
        return Started(runID: runID, policy: policy, recorder: recorder, supervisor: supervisor, workspace: workspace,
                       keep: keep, outputFolder: outputFolder, outputDir: outputDir, notices: notices, cgroups: cgroups,
                       started: started)
    }

    /// Supervises a started run to its end, records its end, collects its output and removes
    /// its sandbox (unless kept) and cgroups. Any thread may call it, once.
    public func finish(_ run: Started) -> Result {
        let runID = run.runID
        let policy = run.policy
        let agentID = policy.agent.id
        let recorder = run.recorder
        let workspace = run.workspace
        let cgroups = run.cgroups
        let outcome = run.supervisor.run(sink: recorder.reporter, started: run.started)
        for incident in Incidents.afterExit(outcome, limits: policy.limits) {
            recorder.record(.incident(runID: runID, agentID: agentID, kind: incident.kind, detail: incident.detail,
                                      action: "killed"))
        }
        for incident in cgroups?.incidents() ?? [] {
            recorder.record(.incident(runID: runID, agentID: agentID, kind: incident.kind, detail: incident.detail,
                                      action: incident.action))
        }
        if recorder.incidents > 0,
           let quarantine = Thresholds.quarantine(agent: agentID, runID: runID, thresholds: policy.incidents, store: recorder.store) {
            recorder.record(quarantine)
        }

        do throws(WorkspaceError) {
            // Bounded by apparent size: sparse files and hard links cannot amplify a copy.
            let collected = try workspace.collectOutput(into: run.outputFolder, maxBytes: Self.outputCopyLimit(policy.limits))
            run.notices += collected.skipped.map { "output \($0.description)" }
        } catch {
            run.notices.append("output not collected: \(error.description); the sandbox is kept at \(workspace.path)")
            run.keep = true
        }
        if run.keep, let problem = workspace.markKept() { run.notices.append(problem) }
        recorder.record(Event(.runExited, runID: runID, agentID: agentID, [
            "exit_code": outcome.exitCode.map { .int(Int($0)) } ?? .null,
            "signal": outcome.signal.map { .int(Int($0)) } ?? .null,
            "reason": .string(outcome.reason.rawValue),
            "duration_ms": .int(outcome.durationMS),
            "max_rss_kb": .int(outcome.maxRSSKB),
            "denials": .int(outcome.denials),
        ]))
        if let failure = recorder.failure { run.notices.append(failure) }
        recorder.reporter.exited(runID: runID, outcome: outcome, outputDir: run.outputDir)
        // Cleaning up comes after the run is reported ended: a reader waits for nothing more.
        cgroups?.remove()
        if !run.keep, let problem = workspace.removeOrDefer() { run.notices.append(problem) }
        return Result(runID: runID, outcome: outcome, outputDir: run.outputDir,
                      sandbox: run.keep ? workspace.path : nil, notices: run.notices)
    }
}
