/// Everything one agent may do, computed once from its definition and its profile. Every
/// later layer (the isolation plan, the launcher, the supervisor) obeys this value and
/// nothing else; `explain` prints it.
public struct EffectivePolicy: Sendable, Encodable {
    public struct Agent: Sendable, Codable {
        public var id: String
        public var name: String
        public var version: String
        public var type: String?
        public var format: AgentDefinition.Format
        public var file: String
        public var description: String
    }

    /// What passes into the agent's environment, by name; values are read at launch.
    public struct Environment: Sendable, Codable, Equatable {
        /// Fixed by the profile's `env.set`.
        public var set: [Profile.Variable]
        /// Taken from mpm-run's environment when present (allowed by `env.allow`).
        public var passThrough: [String]
        /// Secrets taken from mpm-run's environment; format-checked, never logged.
        public var secrets: [String]
    }

    /// One decision `explain` shows: what was asked, what was granted, and why.
    public struct Decision: Sendable, Codable, Equatable {
        public var field: String
        public var requested: String?
        public var granted: String
        public var reason: String
        /// `file:line:col` of the request, where it came from a file.
        public var at: String?
    }

    public var agent: Agent
    /// nil: no profile claims the agent's type, and the empty permission set applies.
    public var profile: String?
    public var profileFile: String?
    public var permissions: [Permission]
    public var limits: ResourceLimits
    /// Absolute, normalized; empty without read_files.
    public var readPaths: [String]
    /// Absolute, normalized; empty without write_files.
    public var writePaths: [String]
    /// The argv to run; `{instructions}` stands for input/INSTRUCTIONS.md.
    public var argv: [String]
    /// argv[0] found on the profile's PATH, or argv[0] itself if absolute; nil if not found.
    public var executable: String?
    public var environment: Environment
    public var capabilities: [String]
    public var incidents: IncidentThresholds
    public var decisions: [Decision]
    public var warnings: [Diagnostic]
    /// How many of `warnings` come from the definition file itself; the rest from resolution.
    var definitionWarningCount = 0
    /// The agent's instructions, written to input/INSTRUCTIONS.md; not printed by explain.
    public var instructions: String

    enum CodingKeys: String, CodingKey {
        case agent, profile, profileFile = "profile_file", permissions, limits
        case readPaths = "read_paths", writePaths = "write_paths", argv, executable, environment
        case capabilities, incidents, decisions, warnings
    }

    public func has(_ p: Permission) -> Bool { permissions.contains(p) }

    /// Warnings that only appear when the agent meets its profile.
    public var resolutionWarnings: ArraySlice<Diagnostic> { warnings.dropFirst(definitionWarningCount) }
}

extension IncidentThresholds {
    enum CodingKeys: String, CodingKey {
        case maxDenialsPerRun = "max_denials_per_run"
        case quarantineAfterIncidents = "quarantine_after_incidents"
        case quarantineWindowSeconds = "quarantine_window_seconds"
        case quarantineSeconds = "quarantine_seconds"
        case maxLaunchesPerMinute = "max_launches_per_minute"
    }
}

extension ResourceLimits {
    enum CodingKeys: String, CodingKey {
        case memoryMB = "memory_mb", cpuSeconds = "cpu_seconds", timeoutSeconds = "timeout_seconds"
        case maxProcesses = "max_processes", maxOpenFiles = "max_open_files"
        case maxFileSizeMB = "max_file_size_mb", maxOutputBytes = "max_output_bytes"
    }
}

extension EffectivePolicy.Agent {
    enum CodingKeys: String, CodingKey { case id, name, version, type, format, file, description }
}

extension EffectivePolicy.Environment {
    enum CodingKeys: String, CodingKey { case set, passThrough = "pass_through", secrets }
}
