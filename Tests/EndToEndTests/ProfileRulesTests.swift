import Foundation
import Testing

/// The strict profile format (CONTRACT.md section 4): each rule broken by a fixture that
/// breaks nothing else, and the rules across profiles (a type claimed twice, a name used
/// twice, a broken profile that must never hand its agents to a more permissive one).
@Suite struct ProfileRulesTests {
    /// Writes `text` as the only profile, runs check, expects exactly `expected` as the one error.
    func expectProfileError(_ text: String, _ expected: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let project = try Project()
        try project.write("profiles/c.yaml", text)
        let r = try project.check()
        #expect(r.errors == [expected], "\(r.output.stdout)\(r.output.stderr)", sourceLocation: sourceLocation)
        #expect(r.status == 1, sourceLocation: sourceLocation)
    }

    @Test func theBaseFixtureIsValid() throws {
        let project = try Project()
        try project.write("profiles/c.yaml", Fixture.profile())
        try project.write("agents/a.yaml", Fixture.customAgent())
        let r = try project.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        #expect(r.summary == "checked 1 agent and 1 profile: 0 errors, 0 warnings")
    }

    // MARK: permissions

    @Test func unknownPermissionIsRefused() throws {
        try expectProfileError(Fixture.profile(permissions: "[read_files, fly]"),
                               "profiles/c.yaml:4:27: permissions[1]: unknown permission 'fly' (known: read_files, write_files, execute_commands, network_access, system_config)")
    }

    @Test func permissionNamesAreCaseSensitive() throws {
        try expectProfileError(Fixture.profile(permissions: "[Read_Files]"),
                               "profiles/c.yaml:4:15: permissions[0]: unknown permission 'Read_Files' (known: read_files, write_files, execute_commands, network_access, system_config)")
    }

    @Test func duplicatePermissionIsRefused() throws {
        try expectProfileError(Fixture.profile(permissions: "[read_files, read_files]"),
                               "profiles/c.yaml:4:27: permissions[1]: 'read_files' is listed twice")
    }

    @Test func emptyPermissionsAreValid() throws {
        let project = try Project()
        try project.write("profiles/c.yaml", Fixture.profile(permissions: "[]"))
        #expect(try project.check().errors.isEmpty)
    }

    // MARK: limits

    @Test(arguments: ["memory_mb", "cpu_seconds", "timeout_seconds", "max_processes",
                      "max_open_files", "max_file_size_mb", "max_output_bytes"])
    func missingLimitIsRefused(key: String) throws {
        let text = Fixture.profile().split(separator: "\n").filter { !$0.hasPrefix("  \(key):") }.joined(separator: "\n") + "\n"
        // Reported at the limits mapping, which starts at its first key on line 6.
        try expectProfileError(text, "profiles/c.yaml:6:3: limits.\(key): required")
    }

    @Test func missingLimitsAreRefused() throws {
        let text = Fixture.profile().components(separatedBy: "limits:")[0]
        try expectProfileError(text, "profiles/c.yaml:1:1: limits: required")
    }

    @Test(arguments: [("8", "must be from 16 to 1048576 (is 8)"),
                      ("2000000", "must be from 16 to 1048576 (is 2000000)"),
                      ("-1", "must be from 16 to 1048576 (is -1)"),
                      ("512.5", "must be a whole number, not '512.5'"),
                      ("0x200", "must be a whole number, not '0x200'"),
                      ("\"512\"", "must be a whole number, not '512'")])
    func limitOutOfRangeIsRefused(value: String, message: String) throws {
        try expectProfileError(Fixture.profile(memoryMB: value), "profiles/c.yaml:6:14: limits.memory_mb: \(message)")
    }

    @Test func unknownLimitIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["  disk_mb: 10"]), "profiles/c.yaml:13:3: limits.disk_mb: unknown key")
    }

    // MARK: tiers

    @Test func unknownTierIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["tiers:", "  medium: {memory_mb: 256}"]),
                               "profiles/c.yaml:14:3: tiers.medium: unknown tier (known: lightweight, basic, standard, high, intensive)")
    }

    @Test func unknownKeyInATierIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["tiers:", "  lightweight: {memory_mb: 256, disk: 1}"]),
                               "profiles/c.yaml:14:33: tiers.lightweight.disk: unknown key")
    }

    @Test func tierLimitOutOfRangeIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["tiers:", "  high: {max_processes: 0}"]),
                               "profiles/c.yaml:14:25: tiers.high.max_processes: must be from 1 to 65536 (is 0)")
    }

    // MARK: capabilities

    @Test func capabilitiesWithoutSystemConfigAreRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["capabilities: [cap_net_bind_service]"]),
                               "profiles/c.yaml:13:15: capabilities: must be empty unless permissions include system_config")
    }

    @Test func unknownCapabilityIsRefused() throws {
        try expectProfileError(Fixture.profile(permissions: "[system_config]", extra: ["capabilities: [cap_net_bind_service, cap_flying]"]),
                               "profiles/c.yaml:13:38: capabilities[1]: unknown capability 'cap_flying'")
    }

    @Test func capabilityWithoutItsPrefixIsRefused() throws {
        try expectProfileError(Fixture.profile(permissions: "[system_config]", extra: ["capabilities: [net_bind_service]"]),
                               "profiles/c.yaml:13:16: capabilities[0]: unknown capability 'net_bind_service'")
    }

    @Test func capabilityListedTwiceIsRefused() throws {
        try expectProfileError(Fixture.profile(permissions: "[system_config]", extra: ["capabilities: [cap_chown, CAP_CHOWN]"]),
                               "profiles/c.yaml:13:27: capabilities[1]: 'CAP_CHOWN' is listed twice")
    }

    @Test func capabilitiesWithSystemConfigAreKept() throws {
        let project = try Project()
        try project.write("profiles/c.yaml", Fixture.profile(permissions: "[system_config]", extra: ["capabilities: [CAP_NET_BIND_SERVICE]"]))
        try project.write("agents/a.yaml", Fixture.customAgent())
        #expect(try project.check().errors.isEmpty)
        #expect(try project.explainJSON("sample")["capabilities"] as? [String] == ["cap_net_bind_service"])
    }

    // MARK: env

    @Test(arguments: ["HOME", "TMPDIR", "MPM_RUN_ID", "MPM_AGENT_ID", "MPM_INPUT_DIR", "MPM_OUTPUT_DIR"])
    func supervisorNamesCannotBeAllowed(name: String) throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  allow: [\(name)]"]),
                               "profiles/c.yaml:14:11: env.allow[0]: \(name) is set by mpm-run itself")
    }

    @Test func supervisorNamesCannotBeSet() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  set: {HOME: /root}"]),
                               "profiles/c.yaml:14:9: env.set.HOME: HOME is set by mpm-run itself")
    }

    @Test func supervisorNamesCannotBeSecrets() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  secrets: [MPM_OUTPUT_DIR]"]),
                               "profiles/c.yaml:14:13: env.secrets[0]: MPM_OUTPUT_DIR is set by mpm-run itself")
    }

    @Test func invalidEnvironmentNameIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  allow: [LANG, \"A-B\"]"]),
                               "profiles/c.yaml:14:17: env.allow[1]: 'A-B' is not a valid environment variable name")
    }

    @Test func envNameListedTwiceIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  allow: [LANG, LANG]"]),
                               "profiles/c.yaml:14:17: env.allow[1]: 'LANG' is listed twice")
    }

    @Test func unknownEnvKeyIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  pass: [LANG]"]),
                               "profiles/c.yaml:14:3: env.pass: unknown key")
    }

    @Test func setValueMustBeAString() throws {
        try expectProfileError(Fixture.profile(extra: ["env:", "  set: {PATH: [/bin]}"]),
                               "profiles/c.yaml:14:15: env.set.PATH: must be a string, not a list")
    }

    // MARK: runtime, file_access, incidents, identity

    @Test func runtimeWithRelativePathIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["runtime: [bin/claude, --print]"]),
                               "profiles/c.yaml:13:11: runtime[0]: 'bin/claude' must be an absolute path or a bare name found on PATH")
    }

    @Test func emptyRuntimeIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["runtime: []"]), "profiles/c.yaml:13:10: runtime: must not be empty")
    }

    @Test func profilePathEscapingTheProjectIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["file_access: {read_paths: [., ../other]}"]),
                               "profiles/c.yaml:13:31: file_access.read_paths[1]: '../other' leaves the project root")
    }

    @Test func incidentThresholdOutOfRangeIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["incidents: {max_launches_per_minute: 0}"]),
                               "profiles/c.yaml:13:38: incidents.max_launches_per_minute: must be from 1 to 1000000 (is 0)")
    }

    @Test func unknownIncidentKeyIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["incidents: {max_denials: 3}"]),
                               "profiles/c.yaml:13:13: incidents.max_denials: unknown key")
    }

    @Test func unknownTopLevelKeyIsRefused() throws {
        try expectProfileError(Fixture.profile(extra: ["colour: red"]), "profiles/c.yaml:13:1: colour: unknown key")
    }

    @Test func reservedProfileNameIsRefused() throws {
        try expectProfileError(Fixture.profile(name: "root"), "profiles/c.yaml:1:10: profile: 'root' is reserved")
    }

    @Test func profileNameMustMatchThePattern() throws {
        try expectProfileError(Fixture.profile(name: "My-Profile"),
                               "profiles/c.yaml:1:10: profile: 'My-Profile' must match ^[a-z][a-z0-9_-]*$")
    }

    @Test func emptyAppliesToIsRefused() throws {
        try expectProfileError(Fixture.profile(appliesTo: "[]"), "profiles/c.yaml:3:13: applies_to: must list at least one agent type")
    }

    @Test func typeListedTwiceInOneProfileIsRefused() throws {
        try expectProfileError(Fixture.profile(appliesTo: "[custom, custom]"),
                               "profiles/c.yaml:3:22: applies_to[1]: 'custom' is listed twice")
    }

    @Test func missingPermissionsAreRefused() throws {
        let text = Fixture.profile().replacingOccurrences(of: "permissions: [read_files]\n", with: "")
        try expectProfileError(text, "profiles/c.yaml:1:1: permissions: required")
    }

    // MARK: across profiles

    @Test func typeClaimedByTwoProfilesRefusesItsAgents() throws {
        let project = try Project()
        try project.write("profiles/a.yaml", Fixture.profile())
        try project.write("profiles/b.yaml", Fixture.profile(name: "other", appliesTo: "[other, custom]"))
        try project.write("agents/a.yaml", Fixture.customAgent())
        let r = try project.check()
        #expect(r.errors == [
            "profiles/b.yaml:3:21: applies_to: type 'custom' is also claimed by profiles/a.yaml",
            "agents/a.yaml:3:7: type: type 'custom' is claimed by more than one profile (profiles/a.yaml, profiles/b.yaml)",
        ], "\(r.output.stdout)")
        #expect(r.status == 1)
        let e = try project.explain("sample")
        #expect(e.status == 1)
        #expect(e.stdout.isEmpty)
        #expect(e.stderrLines == ["agents/a.yaml:3:7: type: type 'custom' is claimed by more than one profile (profiles/a.yaml, profiles/b.yaml)"])
    }

    @Test func duplicateProfileNameIsRefusedAndBothProfilesAreUnusable() throws {
        let project = try Project()
        try project.write("profiles/a.yaml", Fixture.profile())
        try project.write("profiles/b.yaml", Fixture.profile(appliesTo: "[other]"))
        try project.write("agents/a.yaml", Fixture.customAgent())
        try project.write("agents/b.yaml", Fixture.agent(id: "second", type: "other"))
        let r = try project.check()
        let duplicate = "profiles/b.yaml:1:10: profile: 'custom' is also the name of profiles/a.yaml"
        #expect(r.errors == [
            duplicate,
            "agents/a.yaml:3:7: type: profile 'custom' is invalid: \(duplicate)",
            "agents/b.yaml:3:7: type: profile 'custom' is invalid: \(duplicate)",
        ], "\(r.output.stdout)")
        #expect(try project.explain("sample").status == 1)
        #expect(try project.explain("second").status == 1)
    }

    @Test func brokenProfileRefusesItsAgentsAndNeverFallsBackToTheWildcard() throws {
        let project = try Project()
        // The broken profile claims `custom`; a permissive '*' profile stands beside it.
        try project.write("profiles/a.yaml", Fixture.profile(permissions: "[read_files, fly]"))
        try project.write("profiles/b.yaml", Fixture.profile(name: "everything", appliesTo: "[\"*\"]",
                                                             permissions: "[read_files, write_files, execute_commands, network_access]"))
        try project.write("agents/a.yaml", Fixture.customAgent())
        let r = try project.check()
        let cause = "profiles/a.yaml:4:27: permissions[1]: unknown permission 'fly' (known: read_files, write_files, execute_commands, network_access, system_config)"
        #expect(r.errors == [cause, "agents/a.yaml:3:7: type: profile 'custom' is invalid: \(cause)"], "\(r.output.stdout)")
        let e = try project.explain("sample")
        #expect(e.status == 1)
        #expect(e.stdout.isEmpty, "explain must not print a policy: \(e.stdout)")
        #expect(e.stderrLines == ["agents/a.yaml:3:7: type: profile 'custom' is invalid: \(cause)"])
    }

    @Test func profileWhoseClaimsCannotBeReadBlocksTheFallback() throws {
        let project = try Project()
        try project.write("profiles/a.yaml", "profile: custom\napplies_to: [custom\n")
        try project.write("profiles/b.yaml", Fixture.profile(name: "everything", appliesTo: "[\"*\"]",
                                                             permissions: "[read_files, write_files]"))
        try project.write("agents/a.yaml", Fixture.agent(type: "anything"))
        let r = try project.check()
        let cause = "profiles/a.yaml:3:1: did not find expected ',' or ']' (while parsing a flow sequence)"
        #expect(r.errors == [cause, "agents/a.yaml:3:7: type: profiles/a.yaml is invalid and may claim type 'anything': \(cause)"],
                "\(r.output.stdout)")
        #expect(try project.explain("sample").status == 1)
    }

    @Test func profileThatIsNotARegularFileBlocksTheFallback() throws {
        let project = try Project()
        try FileManager.default.createDirectory(atPath: project.profiles + "/odd.yaml", withIntermediateDirectories: true)
        try project.write("profiles/b.yaml", Fixture.profile(name: "everything", appliesTo: "[\"*\"]"))
        try project.write("agents/a.yaml", Fixture.agent(type: "anything"))
        let r = try project.check()
        #expect(r.errors == [
            "profiles/odd.yaml: not a regular file",
            "agents/a.yaml:3:7: type: profiles/odd.yaml is invalid and may claim type 'anything': profiles/odd.yaml: not a regular file",
        ], "\(r.output.stdout)")
    }

    @Test func brokenProfileDoesNotAffectTypesItDoesNotClaim() throws {
        let project = try Project()
        try project.write("profiles/a.yaml", Fixture.profile(permissions: "[fly]"))
        try project.write("profiles/b.yaml", Fixture.profile(name: "other", appliesTo: "[other]"))
        try project.write("agents/a.yaml", Fixture.agent(type: "other"))
        let r = try project.check()
        #expect(r.errors.count == 1, "\(r.output.stdout)")
        #expect(try project.explain("sample").status == 0)
    }

    @Test func everyProblemOfOneProfileIsListed() throws {
        let project = try Project()
        try project.write("profiles/c.yaml", Fixture.profile(name: "Bad", permissions: "[fly]", memoryMB: "1",
                                                             extra: ["colour: red", "capabilities: [cap_chown]"]))
        let r = try project.check()
        #expect(r.errors == [
            "profiles/c.yaml:13:1: colour: unknown key",
            "profiles/c.yaml:1:10: profile: 'Bad' must match ^[a-z][a-z0-9_-]*$",
            "profiles/c.yaml:4:15: permissions[0]: unknown permission 'fly' (known: read_files, write_files, execute_commands, network_access, system_config)",
            "profiles/c.yaml:6:14: limits.memory_mb: must be from 16 to 1048576 (is 1)",
            "profiles/c.yaml:14:15: capabilities: must be empty unless permissions include system_config",
        ], "\(r.output.stdout)")
        #expect(r.status == 1)
    }
}
