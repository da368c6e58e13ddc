import Glibc

/// Computes an agent's `EffectivePolicy` from its definition and the profile its type maps
/// to. The one rule throughout: an agent can narrow what its profile grants, never widen
/// it. A native (strict) agent that asks for more is refused; a Claude MPM agent is clamped
/// to the profile with a warning.
public enum PolicyResolver {
    /// Why a policy could not be computed: every error, each located.
    public struct Refusal: Error, Sendable {
        public var errors: [Diagnostic]
    }

    /// Claude MPM tool names and the permission each needs.
    static let toolPermissions: [String: Permission] = [
        "Read": .readFiles, "Grep": .readFiles, "Glob": .readFiles, "LS": .readFiles, "NotebookRead": .readFiles,
        "Write": .writeFiles, "Edit": .writeFiles, "MultiEdit": .writeFiles, "NotebookEdit": .writeFiles,
        "Bash": .executeCommands, "BashOutput": .executeCommands, "KillBash": .executeCommands, "KillShell": .executeCommands,
        "WebSearch": .networkAccess, "WebFetch": .networkAccess,
    ]
    /// Tools that need no permission of the sandbox.
    static let toolsNeedingNothing: Set<String> = ["TodoWrite", "Task", "ExitPlanMode", "SlashCommand", "Skill"]

    public static func resolve(_ def: AgentDefinition, profiles: ProfileSet, projectRoot: String) -> Result<EffectivePolicy, Refusal> {
        var b = Builder(def: def, projectRoot: projectRoot)
        switch profiles.choice(for: def.type) {
        case .refused(let reason):
            return .failure(Refusal(errors: [.error(at: def.typeLocation, field: def.format == .native ? "type" : "agent_type", reason)]))
        case .profile(let p, let wildcard):
            b.apply(profile: p, wildcard: wildcard)
        case .unclaimed:
            b.applyUnclaimed()
        }
        if b.errors.hasErrors { return .failure(Refusal(errors: b.errors.errors)) }
        return .success(b.policy())
    }

    /// The resolution of one agent, step by step; each step records its decisions.
    private struct Builder {
        let def: AgentDefinition
        let projectRoot: String
        var errors = Diagnostics()
        var warnings: [Diagnostic] = []
        var decisions: [EffectivePolicy.Decision] = []

        var profile: Profile?
        var permissions = Set<Permission>()
        var limits = ResourceLimits.unclaimedDefault
        var readPaths: [String] = []
        var writePaths: [String] = []
        var argv: [String] = []
        var executable: String?
        var environment = EffectivePolicy.Environment(set: [], passThrough: [], secrets: [])
        var capabilities: [String] = []
        var incidents = IncidentThresholds()

        init(def: AgentDefinition, projectRoot: String) {
            self.def = def
            self.projectRoot = projectRoot
            warnings = def.warnings
        }

        var profileLabel: String { profile.map { "profile '\($0.name)'" } ?? "the empty permission set" }

        /// A request the profile does not allow: refused in strict formats, dropped with a warning otherwise.
        mutating func beyond(_ at: SourceLocation, _ field: String, _ message: String) {
            if def.format.isStrict {
                errors.error(at, field, message)
            } else {
                warnings.append(.warning(at: at, field: field, message + "; clamped"))
            }
        }

        mutating func decide(_ field: String, requested: String? = nil, granted: String, _ reason: String, at: SourceLocation? = nil) {
            decisions.append(.init(field: field, requested: requested, granted: granted, reason: reason,
                                   at: at.map { "\($0.file):\($0.line):\($0.column)" }))
        }

        mutating func applyUnclaimed() {
            let type = def.type.map { "'\($0)'" } ?? "(none)"
            warnings.append(.warning(at: def.typeLocation, field: def.format.isStrict ? "type" : "agent_type",
                                               "no profile claims type \(type): it runs with the empty permission set"))
            decide("profile", granted: "(none)", "no profile claims type \(type) and none claims '*'")
            // The same rules as under a profile, against the empty set: a native agent that
            // asks for a permission, a path or a variable is refused; a Claude MPM agent is clamped.
            let empty = Profile(
                name: "", file: "", description: "", appliesTo: [], permissions: [], limits: .unclaimedDefault,
                tiers: [:], readPaths: [], writePaths: [], envAllow: [], envSet: [], envSecrets: [], runtime: nil,
                capabilities: [], incidents: IncidentThresholds())
            applyPermissions(empty)
            applyLimits(base: .unclaimedDefault)
            applyPaths(empty)
            applyEnvironment(empty)
            applyCommand(runtime: nil, path: nil)
        }

        mutating func apply(profile p: Profile, wildcard: Bool) {
            profile = p
            incidents = p.incidents
            decide("profile", granted: p.name, wildcard
                   ? "no profile claims type '\(def.type ?? "")'; \(p.file) claims '*'"
                   : "\(p.file) claims type '\(def.type ?? "")'")
            applyPermissions(p)
            applyLimits(base: tierLimits(p))
            applyPaths(p)
            applyEnvironment(p)
            applyCommand(runtime: p.runtime, path: p.envSet.first(where: { $0.name == "PATH" })?.value)
            if permissions.contains(.systemConfig) {
                capabilities = p.capabilities
            }
        }

        mutating func applyPermissions(_ p: Profile) {
            permissions = p.permissions
            let req = def.requests
            if let tools = req.tools {
                var needed = Set<Permission>()
                for t in tools {
                    if let perm = PolicyResolver.toolPermissions[t.value] {
                        needed.insert(perm)
                    } else if !PolicyResolver.toolsNeedingNothing.contains(t.value) {
                        warnings.append(.warning(at: t.location, field: "tools", "unknown tool '\(t.value)' grants nothing"))
                    }
                }
                for perm in permissions.subtracting(needed).sorted() {
                    decide(perm.rawValue, granted: "no", "no listed tool needs it", at: tools.first?.location)
                }
                permissions.formIntersection(needed)
                for perm in needed.subtracting(p.permissions).sorted() {
                    decide(perm.rawValue, requested: "yes (tools)", granted: "no", "\(profileLabel) does not grant it",
                           at: tools.first?.location)
                }
            }
            // Network: the native format must ask for it; Claude MPM agents may only turn it off.
            let field = def.format.isStrict ? "network_access" : "capabilities.network_access"
            switch req.networkAccess {
            case .some(let r) where r.value:
                if !p.permissions.contains(.networkAccess) {
                    beyond(r.location, field, "\(profileLabel) does not grant network_access")
                    decide("network_access", requested: "yes", granted: "no", "\(profileLabel) does not grant it", at: r.location)
                }
            case .some(let r):
                if permissions.remove(.networkAccess) != nil {
                    decide("network_access", requested: "no", granted: "no", "the agent turns it off", at: r.location)
                }
            case .none:
                if def.format.isStrict, permissions.remove(.networkAccess) != nil {
                    decide("network_access", granted: "no", "not requested (network_access: true asks for it)")
                }
            }
        }

        mutating func tierLimits(_ p: Profile) -> ResourceLimits {
            guard let t = def.requests.resourceTier else { return p.limits }
            guard let tier = ResourceTier(rawValue: t.value) else {
                let known = ResourceTier.allCases.map(\.rawValue).joined(separator: ", ")
                warnings.append(.warning(at: t.location, field: "resource_tier",
                                                   "unknown tier '\(t.value)' (known: \(known)); the profile's limits apply"))
                return p.limits
            }
            if p.tiers[tier] != nil {
                decide("resource_tier", requested: t.value, granted: t.value, "\(profileLabel) defines this tier", at: t.location)
            } else {
                decide("resource_tier", requested: t.value, granted: "(base)", "\(profileLabel) does not define this tier", at: t.location)
            }
            return p.limits(for: tier)
        }

        mutating func applyLimits(base: ResourceLimits) {
            limits = base
            let strict = def.format.isStrict
            let limitFields = def.requests.limitFields
            let field = { (k: LimitKey) -> String in
                if let f = limitFields[k] { return f }
                if strict { return "limits.\(k.rawValue)" }
                return k == .memoryMB ? "capabilities.memory_limit" : "timeout"
            }
            for key in LimitKey.allCases {
                guard let r = def.requests.limits[key] else { continue }
                if r.value < 1 {
                    beyond(r.location, field(key), "must be at least 1")
                } else if r.value > base[key] {
                    beyond(r.location, field(key), "\(r.value) exceeds the \(profileLabel) limit of \(base[key])")
                    decide(key.rawValue, requested: String(r.value), granted: String(base[key]), "clamped to \(profileLabel)", at: r.location)
                } else {
                    limits[key] = r.value
                    if r.value < base[key] {
                        decide(key.rawValue, requested: String(r.value), granted: String(r.value), "lowered by the agent", at: r.location)
                    }
                }
            }
            // Claude MPM's cpu_limit is a share of one CPU; RLIMIT_CPU enforces it as CPU seconds
            // over the run's wall-clock time.
            if let pct = def.requests.cpuPercent {
                if (1...100).contains(pct.value) {
                    let seconds = max(1, (limits.timeoutSeconds * pct.value + 99) / 100)
                    if seconds < limits.cpuSeconds {
                        decide("cpu_seconds", requested: "\(pct.value)%", granted: String(seconds),
                               "\(pct.value)% of the \(limits.timeoutSeconds) s timeout", at: pct.location)
                        limits.cpuSeconds = seconds
                    }
                } else {
                    warnings.append(.warning(at: pct.location, field: "capabilities.cpu_limit",
                                                       "\(pct.value)% is not from 1 to 100; ignored"))
                }
            }
        }

        mutating func applyPaths(_ p: Profile) {
            readPaths = grantedPaths(p.readPaths, requested: def.requests.readPaths, permission: .readFiles, name: "read_paths")
            writePaths = grantedPaths(p.writePaths, requested: def.requests.writePaths, permission: .writeFiles, name: "write_paths")
        }

        /// The profile's paths, or the agent's narrower ones; each agent path must lie within a profile path.
        mutating func grantedPaths(_ profilePaths: [String], requested: [Located<String>]?, permission: Permission, name: String) -> [String] {
            let field = def.format.isStrict ? "file_access.\(name)" : "capabilities.file_access.\(name)"
            let allowed = profilePaths.map { ProjectPath.resolve($0, against: projectRoot) }
            guard permissions.contains(permission) else {
                if let first = requested?.first {
                    beyond(first.location, field, "\(profileLabel) does not grant \(permission.rawValue)")
                }
                return []
            }
            guard let requested else { return allowed }
            var out: [String] = []
            for r in requested {
                let path = ProjectPath.resolve(r.value, against: projectRoot)
                if allowed.contains(where: { ProjectPath.isWithin(path, $0) }) {
                    if !out.contains(path) { out.append(path) }
                } else {
                    beyond(r.location, field, "'\(r.value)' is outside the \(profileLabel) \(name)")
                }
            }
            return out
        }

        mutating func applyEnvironment(_ p: Profile) {
            environment.set = p.envSet
            for r in def.requests.env {
                let name = r.value
                if environment.passThrough.contains(name) || environment.secrets.contains(name) { continue }
                if EnvironmentRules.isSecretName(name) {
                    if p.envSecrets.contains(name) {
                        environment.secrets.append(name)
                    } else {
                        beyond(r.location, "env", "\(name) looks like a secret and \(profileLabel) does not list it under env.secrets")
                    }
                } else if p.envAllow.contains(name) || p.envSecrets.contains(name) {
                    environment.passThrough.append(name)
                } else if p.envSet.contains(where: { $0.name == name }) {
                    continue
                } else {
                    beyond(r.location, "env", "\(name) is not allowed by \(profileLabel) (env.allow)")
                }
            }
        }

        mutating func applyCommand(runtime: [String]?, path: String?) {
            if let command = def.command {
                argv = command.map(\.value)
            } else if let runtime {
                argv = runtime
                // The runtime needs its key: the profile's secrets pass to it.
                for s in profile?.envSecrets ?? [] where !environment.secrets.contains(s) {
                    environment.secrets.append(s)
                }
                decide("command", granted: runtime.joined(separator: " "), "the agent has no command; \(profileLabel) runtime runs it")
            } else {
                let why = profile == nil ? "no profile claims its type" : "\(profileLabel) has no runtime"
                errors.error(def.typeLocation, "command", "the agent has no command and \(why)")
                return
            }
            executable = Self.lookUp(argv[0], path: path ?? Command.defaultPath)
            if executable == nil {
                let what = def.command == nil ? "'\(argv[0])' (\(profileLabel) runtime)" : "'\(argv[0])'"
                warnings.append(.warning(at: def.command?.first?.location ?? def.typeLocation, field: "command",
                                         "\(what) is not a file here (a run would exit 127)"))
            }
        }

        /// argv[0] itself if absolute, else its first match on `path`, as a shell finds it:
        /// an executable file first, else a file that exists (execve then says why: 126).
        /// nil when there is no such file at all (127).
        static func lookUp(_ argv0: String, path: String) -> String? {
            if argv0.hasPrefix("/") { return access(argv0, F_OK) == 0 ? argv0 : nil }
            let candidates = path.split(separator: ":").filter { $0.hasPrefix("/") }.map { "\($0)/\(argv0)" }
            return candidates.first { access($0, X_OK) == 0 } ?? candidates.first { access($0, F_OK) == 0 }
        }

        func policy() -> EffectivePolicy {
            EffectivePolicy(
                agent: .init(id: def.id, name: def.name, version: def.version, type: def.type, format: def.format,
                             file: def.file, description: def.description),
                profile: profile?.name, profileFile: profile?.file, permissions: permissions.sorted(), limits: limits,
                readPaths: readPaths, writePaths: writePaths, argv: argv, executable: executable,
                environment: environment, capabilities: capabilities, incidents: incidents,
                decisions: decisions, warnings: warnings, definitionWarningCount: def.warnings.count,
                instructions: def.instructions)
        }
    }
}
