import CLauncher
import Glibc

/// One run from request to exit status: policy, refusal checks, the sandbox, the launch,
/// supervision, collecting output, cleaning up. The front ends (`mpm-run <agent>`,
/// `serve`) only render what happens here.
public struct Runner {
    public var catalog: Catalog
    public var projectRoot: String
    public var workingDirectory: String
    public var environment: [String: String]

    public init(catalog: Catalog, projectRoot: String, workingDirectory: String, environment: [String: String]) {
        self.catalog = catalog
        self.projectRoot = projectRoot
        self.workingDirectory = workingDirectory
        self.environment = environment
    }

    /// A run that could not start; `status` is what mpm-run exits with.
    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
        public var status: Int32 = 125
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

    /// Resolves the agent's policy; every reason it cannot run is a refusal.
    public func policy(for agent: String) throws(Refusal) -> EffectivePolicy {
        let def: AgentDefinition
        switch catalog.agent(agent) {
        case .success(let d): def = d
        case .failure(let e): throw Refusal(description: e.description)
        }
        switch PolicyResolver.resolve(def, profiles: catalog.profiles, projectRoot: projectRoot) {
        case .success(let p): return p
        case .failure(let r): throw Refusal(description: r.errors.map(\.description).joined(separator: "\n"))
        }
    }

    public func run(_ request: RunRequest, sink: OutputSink, signalFD: Int32 = -1) throws(Refusal) -> Result {
        let policy = try policy(for: request.agent)
        let identity: Identity
        do throws(Identity.Refusal) { identity = try Identity.plan(keepingCapabilities: policy.capabilities) } catch {
            throw Refusal(description: error.description)
        }
        // `forRoot: false` also asks whether an unprivileged uid may create a user namespace.
        if let problem = KernelFeatures.requirementProblem(forRoot: !identity.needsUserNamespace) {
            throw Refusal(description: problem)
        }
        guard let executable = policy.executable else {
            throw Refusal(description: "\(policy.argv[0]): command not found (agent \(policy.agent.id))", status: 127)
        }
        var timeout = policy.limits.timeoutSeconds
        if let t = request.timeoutSeconds { timeout = min(timeout, t) }

        let runID = RunID.make()
        let workspace: Workspace
        do throws(WorkspaceError) {
            workspace = try Workspace.create(
                runID: runID, policy: policy, inputs: request.inputs, projectRoot: projectRoot,
                cwd: workingDirectory, owner: identity.isRootSupervisor ? (identity.uid, identity.gid) : nil)
        } catch {
            throw Refusal(description: error.description)
        }
        var keep = request.keepSandbox
        defer { if !keep { try? workspace.remove() } }

        let instructions = workspace.instructionsPath
        let argv = policy.argv.map { $0.replacingAll(Command.instructionsPlaceholder, with: instructions) } + request.args
        let env = ScrubbedEnvironment(
            policy: policy, processEnvironment: environment,
            run: .init(runID: runID, agentID: policy.agent.id, sandbox: workspace.path, input: workspace.inputPath,
                       output: workspace.outputPath, temp: workspace.tempPath))
        var notices = env.withheld

        let ruleset: LandlockRuleset
        do throws(LandlockRuleset.BuildError) {
            ruleset = try LandlockRuleset.build(
                abi: mpm_sys_landlock_abi(), policy: policy,
                sandbox: .init(root: workspace.path, input: workspace.inputPath, output: workspace.outputPath, temp: workspace.tempPath))
        } catch {
            throw Refusal(description: error.description)
        }

        var out: [Int32] = [-1, -1], err: [Int32] = [-1, -1]
        guard mpm_pipe(&out) == 0, mpm_pipe(&err) == 0 else {
            throw Refusal(description: "cannot create pipes: \(errnoText(errno))")
        }
        let devNull = request.passStdin ? -1 : open("/dev/null", O_RDONLY | O_CLOEXEC)
        let plan = LaunchPlan(
            executable: executable, argv: argv, environment: env.envp, workingDirectory: workspace.path,
            stdin: request.passStdin ? 0 : devNull, stdout: out[1], stderr: err[1], limits: policy.limits,
            identity: identity, permissions: Set(policy.permissions), keptCapabilities: policy.capabilities,
            landlockRulesetFD: ruleset.fd)
        let started = Monotonic.now()
        let launched: Swift.Result<LaunchedChild, LaunchFailure>
        do throws(LaunchFailure) { launched = .success(try Launcher.launch(plan)) } catch { launched = .failure(error) }
        close(out[1]); close(err[1])
        if devNull >= 0 { close(devNull) }
        let child: LaunchedChild
        switch launched {
        case .success(let c): child = c
        case .failure(let failure):
            close(out[0]); close(err[0])
            let what = failure.exitCode == 127 ? "\(argv[0]): command not found" : failure.description
            throw Refusal(description: what, status: failure.exitCode)
        }

        let supervisor = RunSupervisor(child: child, stdoutFD: out[0], stderrFD: err[0], timeoutSeconds: timeout,
                                       maxOutputBytes: policy.limits.maxOutputBytes, signalFD: signalFD)
        let outcome = supervisor.run(sink: sink, started: started)

        let outputDir = request.outputDir ?? "\(workingDirectory)/mpm-output/\(runID)"
        do throws(WorkspaceError) {
            let collected = try workspace.collectOutput(to: outputDir)
            notices += collected.skipped.map { "output \($0.description)" }
        } catch {
            notices.append("output not collected: \(error.description); the sandbox is kept at \(workspace.path)")
            keep = true
        }
        if keep { workspace.markKept() }
        return Result(runID: runID, outcome: outcome, outputDir: outputDir,
                      sandbox: keep ? workspace.path : nil, notices: notices)
    }
}
