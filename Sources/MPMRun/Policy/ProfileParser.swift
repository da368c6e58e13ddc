import CCap

/// Reads one profile file, strictly. Even a broken profile yields the types it claims
/// (when they can be read), so that a broken profile blocks its agents instead of
/// letting them fall through to a more permissive one.
public enum ProfileParser {
    public struct Result: Sendable {
        public var profile: Profile?
        /// The profile's name, if it could be read (also for a broken profile).
        public var name: String?
        /// The types it claims; nil when even that could not be read.
        public var claims: [Located<String>]?
        public var diagnostics: [Diagnostic]
        /// Where the name stands, for the message about a second profile with the same name.
        public var nameLocation: SourceLocation? = nil
    }

    static let topKeys = ["profile", "description", "applies_to", "permissions", "limits", "tiers",
                          "file_access", "env", "runtime", "capabilities", "incidents"]

    public static func parse(_ source: SourceFile) -> Result {
        let root: YAMLNode
        do {
            root = try StrictYAML.load(source)
        } catch {
            return Result(profile: nil, name: nil, claims: nil, diagnostics: [error])
        }
        return parse(root, file: source.displayName)
    }

    static func parse(_ root: YAMLNode, file: String) -> Result {
        var r = SchemaReader(strict: true)
        guard let top = r.mapping(root, field: nil, allowed: topKeys) else {
            return Result(profile: nil, name: nil, claims: nil, diagnostics: r.diagnostics.items)
        }

        var name: String?
        var nameLocation: SourceLocation?
        if let n = r.require(top, "profile"), let s = r.string(n, "profile") {
            if let problem = Identifier.problem(with: s) {
                r.diagnostics.error(n.location, "profile", problem)
            } else {
                name = s
                nameLocation = n.location
            }
        }
        var description = ""
        if let n = r.require(top, "description"), let s = r.string(n, "description", length: 1...500) {
            description = s
        }

        var claims: [Located<String>]?
        if let n = r.require(top, "applies_to"), let list = r.stringList(n, "applies_to") {
            var seen = Set<String>()
            for (i, t) in list.enumerated() {
                if !seen.insert(t.value).inserted {
                    r.diagnostics.error(t.location, "applies_to[\(i)]", "'\(t.value)' is listed twice")
                } else if t.value != Profile.wildcard, t.value.isEmpty || t.value.count > 50 {
                    r.diagnostics.error(t.location, "applies_to[\(i)]", "an agent type must be 1 to 50 characters")
                }
            }
            if list.isEmpty { r.diagnostics.error(n.location, "applies_to", "must list at least one agent type") }
            claims = list
        }

        var permissions = Set<Permission>()
        if let n = r.require(top, "permissions"), let list = r.stringList(n, "permissions") {
            for (i, p) in list.enumerated() {
                guard let perm = Permission(rawValue: p.value) else {
                    let known = Permission.allCases.map(\.rawValue).joined(separator: ", ")
                    r.diagnostics.error(p.location, "permissions[\(i)]", "unknown permission '\(p.value)' (known: \(known))")
                    continue
                }
                if !permissions.insert(perm).inserted {
                    r.diagnostics.error(p.location, "permissions[\(i)]", "'\(p.value)' is listed twice")
                }
            }
        }

        var limits = ResourceLimits.unclaimedDefault
        if let n = r.require(top, "limits"), let values = readLimits(&r, n, "limits", requireAll: true) {
            for (k, v) in values { limits[k] = v.value }
        }

        var tiers: [ResourceTier: [LimitKey: Int]] = [:]
        if let n = top["tiers"], let fields = r.mapping(n, field: "tiers") {
            for pair in fields.pairs {
                guard let tier = ResourceTier(rawValue: pair.key) else {
                    let known = ResourceTier.allCases.map(\.rawValue).joined(separator: ", ")
                    r.diagnostics.error(pair.keyLocation, "tiers.\(pair.key)", "unknown tier (known: \(known))")
                    continue
                }
                if let values = readLimits(&r, pair.value, "tiers.\(pair.key)", requireAll: false) {
                    tiers[tier] = values.mapValues(\.value)
                }
            }
        }

        var readPaths: [String] = []
        var writePaths: [String] = []
        if let n = top["file_access"], let fields = r.mapping(n, field: "file_access", allowed: ["read_paths", "write_paths"]) {
            if let v = fields["read_paths"], let list = r.stringList(v, "file_access.read_paths") {
                readPaths = checkedPaths(&r, list, "file_access.read_paths")
            }
            if let v = fields["write_paths"], let list = r.stringList(v, "file_access.write_paths") {
                writePaths = checkedPaths(&r, list, "file_access.write_paths")
            }
        }

        var envAllow: [String] = []
        var envSet: [Profile.Variable] = []
        var envSecrets: [String] = []
        if let n = top["env"], let fields = r.mapping(n, field: "env", allowed: ["allow", "set", "secrets"]) {
            if let v = fields["allow"], let list = r.stringList(v, "env.allow") {
                envAllow = checkedNames(&r, list, "env.allow")
            }
            if let v = fields["secrets"], let list = r.stringList(v, "env.secrets") {
                envSecrets = checkedNames(&r, list, "env.secrets")
            }
            for name in envAllow where EnvironmentRules.isSecretName(name) && !envSecrets.contains(name) {
                let loc = fields["allow"]!.location
                r.diagnostics.warning(loc, "env.allow", "\(name) looks like a secret and never passes unless it is also listed under env.secrets")
            }
            if let v = fields["set"], let map = r.stringMap(v, "env.set") {
                for (key, value) in map {
                    if let problem = nameProblem(key.value) {
                        r.diagnostics.error(key.location, "env.set.\(key.value)", problem)
                    } else {
                        envSet.append(Profile.Variable(name: key.value, value: value))
                    }
                }
            }
        }

        var runtime: [String]?
        if let n = top["runtime"], let list = r.stringList(n, "runtime") {
            if list.isEmpty {
                r.diagnostics.error(n.location, "runtime", "must not be empty")
            } else if let p = Command.argv0Problem(list[0].value) {
                r.diagnostics.error(list[0].location, "runtime[0]", p)
            } else {
                runtime = list.map(\.value)
            }
        }

        var capabilities: [String] = []
        if let n = top["capabilities"], let list = r.stringList(n, "capabilities") {
            for (i, c) in list.enumerated() {
                let canonical = c.value.lowercased()
                var value = cap_value_t()
                if cap_from_name(canonical, &value) != 0 || !canonical.hasPrefix("cap_") {
                    r.diagnostics.error(c.location, "capabilities[\(i)]", "unknown capability '\(c.value)'")
                } else if capabilities.contains(canonical) {
                    r.diagnostics.error(c.location, "capabilities[\(i)]", "'\(c.value)' is listed twice")
                } else {
                    capabilities.append(canonical)
                }
            }
            if !list.isEmpty && !permissions.contains(.systemConfig) {
                r.diagnostics.error(n.location, "capabilities", "must be empty unless permissions include system_config")
            }
        }

        var incidents = IncidentThresholds()
        if let n = top["incidents"], let fields = r.mapping(n, field: "incidents", allowed: IncidentThresholds.keys) {
            func read(_ key: String, _ range: ClosedRange<Int>, _ assign: (Int) -> Void) {
                if let v = fields[key], let i = r.integer(v, "incidents.\(key)", range: range) { assign(i) }
            }
            read("max_denials_per_run", 0...1_000_000) { incidents.maxDenialsPerRun = $0 }
            read("quarantine_after_incidents", 1...10_000) { incidents.quarantineAfterIncidents = $0 }
            read("quarantine_window_seconds", 1...604_800) { incidents.quarantineWindowSeconds = $0 }
            read("quarantine_seconds", 0...2_592_000) { incidents.quarantineSeconds = $0 }
            read("max_launches_per_minute", 1...1_000_000) { incidents.maxLaunchesPerMinute = $0 }
        }

        let diagnostics = r.diagnostics
        guard !diagnostics.hasErrors, let name else {
            return Result(profile: nil, name: name, claims: claims, diagnostics: diagnostics.items, nameLocation: nameLocation)
        }
        let profile = Profile(
            name: name, file: file, description: description, appliesTo: (claims ?? []).map(\.value),
            permissions: permissions, limits: limits, tiers: tiers, readPaths: readPaths,
            writePaths: writePaths, envAllow: envAllow, envSet: envSet, envSecrets: envSecrets,
            runtime: runtime, capabilities: capabilities, incidents: incidents)
        return Result(profile: profile, name: name, claims: claims, diagnostics: diagnostics.items, nameLocation: nameLocation)
    }

    /// Reads a limits mapping; only the seven known keys, each a whole number in its range.
    static func readLimits(_ r: inout SchemaReader, _ node: YAMLNode, _ field: String,
                           requireAll: Bool) -> [LimitKey: Located<Int>]? {
        guard let fields = r.mapping(node, field: field, allowed: LimitKey.allCases.map(\.rawValue)) else { return nil }
        var out: [LimitKey: Located<Int>] = [:]
        for key in LimitKey.allCases {
            guard let v = fields[key.rawValue] else {
                if requireAll { r.diagnostics.error(node.location, "\(field).\(key.rawValue)", "required") }
                continue
            }
            if let i = r.integer(v, "\(field).\(key.rawValue)", range: key.allowedRange) {
                out[key] = Located(i, v.location)
            }
        }
        return out
    }

    private static func nameProblem(_ name: String) -> String? {
        if !Identifier.isEnvironmentName(name) { return "'\(name)' is not a valid environment variable name" }
        if EnvironmentRules.supervisorNames.contains(name) { return "\(name) is set by mpm-run itself" }
        return nil
    }

    private static func checkedNames(_ r: inout SchemaReader, _ list: [Located<String>], _ field: String) -> [String] {
        var out: [String] = []
        for (i, n) in list.enumerated() {
            if let problem = nameProblem(n.value) {
                r.diagnostics.error(n.location, "\(field)[\(i)]", problem)
            } else if out.contains(n.value) {
                r.diagnostics.error(n.location, "\(field)[\(i)]", "'\(n.value)' is listed twice")
            } else {
                out.append(n.value)
            }
        }
        return out
    }

    private static func checkedPaths(_ r: inout SchemaReader, _ list: [Located<String>], _ field: String) -> [String] {
        var out: [String] = []
        for (i, p) in list.enumerated() {
            if let problem = ProjectPath.problem(with: p.value) {
                r.diagnostics.error(p.location, "\(field)[\(i)]", problem)
            } else {
                out.append(p.value)
            }
        }
        return out
    }
}
