/// An agent as its file defines it, before any profile is applied. What it asks for is kept
/// with the place it was asked, so that a clamp or a refusal can point at the line.
public struct AgentDefinition: Sendable {
    public enum Format: String, Sendable, Codable {
        /// mpm-run's own strict YAML.
        case native = "yaml"
        /// Claude MPM's Markdown agents with `agent_id` in the front matter.
        case markdown
        /// Claude Code's `.claude/agents/*.md`, where `name` is the id.
        case claudeCode = "claude-code"
        /// Claude MPM's JSON agent templates.
        case json

        /// Strict formats refuse what lenient formats clamp with a warning.
        public var isStrict: Bool { self == .native }
    }

    /// What an agent asks for beyond its identity; every field optional.
    public struct Requests: Sendable {
        public var limits: [LimitKey: Located<Int>] = [:]
        /// Claude MPM's `cpu_limit`, percent of one CPU over the run.
        public var cpuPercent: Located<Int>?
        public var readPaths: [Located<String>]?
        public var writePaths: [Located<String>]?
        public var networkAccess: Located<Bool>?
        public var env: [Located<String>] = []
        /// Claude MPM's `tools`, which narrow the profile's permissions.
        public var tools: [Located<String>]?
        public var resourceTier: Located<String>?
        /// The key a limit was read from where it is not the usual one (`capabilities.timeout`).
        public var limitFields: [LimitKey: String] = [:]
    }

    public var id: String
    public var file: String
    public var format: Format
    public var version: String
    /// nil when the file names no type (Claude Code agents).
    public var type: String?
    public var typeLocation: SourceLocation
    public var name: String
    public var description: String
    public var nickname: String?
    public var specializations: [String]
    public var authority: String?
    public var instructions: String
    public var command: [Located<String>]?
    public var requests: Requests
    /// Warnings found while reading the file.
    public var warnings: [Diagnostic]
}

/// The instruction patterns the security guide flags; they load, with a warning.
enum DangerousPatterns {
    static let caseInsensitive = ["<script", "javascript:", "data:text/html"]
    static let exact = ["eval(", "Function("]

    static func matches(in text: String) -> [String] {
        let lower = text.lowercased()
        return caseInsensitive.filter { lower.containsBytes($0) } + exact.filter { text.containsBytes($0) }
    }
}
