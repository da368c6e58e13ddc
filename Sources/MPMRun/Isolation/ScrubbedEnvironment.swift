/// The environment an agent starts with: nothing of mpm-run's own environment passes
/// unless the policy names it, and a secret passes only with the shape its kind must have.
public struct ScrubbedEnvironment: Sendable {
    public var variables: [(name: String, value: String)] = []
    /// Variables held back, one line each, never containing a value.
    public var withheld: [String] = []

    public struct RunContext: Sendable {
        public var runID: String
        public var agentID: String
        public var sandbox: String
        public var input: String
        public var output: String
        public var temp: String
        public init(runID: String, agentID: String, sandbox: String, input: String, output: String, temp: String) {
            self.runID = runID
            self.agentID = agentID
            self.sandbox = sandbox
            self.input = input
            self.output = output
            self.temp = temp
        }
    }

    public init(policy: EffectivePolicy, processEnvironment: [String: String], run: RunContext) {
        for v in policy.environment.set { variables.append((v.name, v.value)) }
        for name in policy.environment.passThrough {
            // Defense in depth: the resolver never lets a secret-shaped name in here.
            guard !EnvironmentRules.isSecretName(name) else { continue }
            if let value = processEnvironment[name] { variables.append((name, value)) }
        }
        for name in policy.environment.secrets {
            guard let value = processEnvironment[name] else { continue }
            if let problem = EnvironmentRules.secretValueProblem(name: name, value: value) {
                withheld.append("\(name) \(problem); not passed to the agent")
            } else {
                variables.append((name, value))
            }
        }
        variables += [
            ("HOME", run.sandbox), ("TMPDIR", run.temp), ("MPM_RUN_ID", run.runID),
            ("MPM_AGENT_ID", run.agentID), ("MPM_INPUT_DIR", run.input), ("MPM_OUTPUT_DIR", run.output),
        ]
    }

    /// `NAME=value` strings for execve.
    public var envp: [String] { variables.map { "\($0.name)=\($0.value)" } }

    /// The values that must never appear in output or logs.
    public func secretValues(of policy: EffectivePolicy) -> [String] {
        variables.filter { policy.environment.secrets.contains($0.name) }.map(\.value)
    }
}
