/// A permission profile, as an administrator wrote it in `profiles/` and the parser
/// validated it. Only a profile without errors is ever built.
public struct Profile: Sendable {
    public struct Variable: Sendable, Equatable, Codable {
        public var name: String
        public var value: String
    }

    public var name: String
    public var file: String
    public var description: String
    /// The agent types this profile governs; `"*"` claims every type no other profile claims.
    public var appliesTo: [String]
    public var permissions: Set<Permission>
    public var limits: ResourceLimits
    /// Limits that replace `limits` for agents that ask for a Claude MPM `resource_tier`.
    public var tiers: [ResourceTier: [LimitKey: Int]]
    public var readPaths: [String]
    public var writePaths: [String]
    public var envAllow: [String]
    public var envSet: [Variable]
    public var envSecrets: [String]
    /// The argv that runs agents without a `command` (Claude MPM formats).
    public var runtime: [String]?
    /// Capabilities kept (libcap names, lower case); non-empty only with system_config.
    public var capabilities: [String]
    public var incidents: IncidentThresholds

    public static let wildcard = "*"

    /// The limits an agent in `tier` starts from.
    public func limits(for tier: ResourceTier?) -> ResourceLimits {
        var l = limits
        if let tier, let overrides = tiers[tier] {
            for (k, v) in overrides { l[k] = v }
        }
        return l
    }
}
