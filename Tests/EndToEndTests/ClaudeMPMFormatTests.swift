import Foundation
import Testing

/// Claude MPM's lenient formats (CONTRACT.md 3.2): Markdown with front matter, Claude
/// Code's `.claude/agents` files and JSON templates. Unknown keys are ignored; what is out
/// of range loads with a warning and is clamped to the profile, never widened.
@Suite struct ClaudeMPMFormatTests {
    /// A profile for type `qa` that grants four permissions, so that `tools` has something
    /// to narrow; its runtime exists everywhere, so no test depends on `claude` being installed.
    static let profile = """
        profile: mpm
        description: For Claude MPM agents.
        applies_to: [qa]
        permissions: [read_files, write_files, execute_commands, network_access]
        limits:
          memory_mb: 2048
          cpu_seconds: 300
          timeout_seconds: 600
          max_processes: 64
          max_open_files: 256
          max_file_size_mb: 64
          max_output_bytes: 1048576
        tiers:
          lightweight: {memory_mb: 512, cpu_seconds: 60, timeout_seconds: 120}
          high: {memory_mb: 4096, timeout_seconds: 1200}
        file_access: {read_paths: [src, docs], write_paths: [out]}
        env:
          allow: [LANG]
          secrets: [ANTHROPIC_API_KEY]
        runtime: [/bin/cat, "{instructions}"]

        """

    /// A project with the `mpm` profile and one agent file.
    func project(_ file: String, _ text: String) throws -> Project {
        let p = try Project()
        try p.write("profiles/mpm.yaml", Self.profile)
        try p.write("agents/" + file, text)
        return p
    }

    /// Front matter lines, then `---` and the body.
    func markdown(_ front: [String], body: String = "Run the test suite and report what fails.") -> String {
        "---\n" + front.joined(separator: "\n") + "\n---\n" + body + "\n"
    }

    // MARK: Markdown with front matter

    @Test func markdownAgentLoads() throws {
        let p = try project("m.md", markdown([
            "agent_id: md-agent", "agent_type: qa", "name: Markdown Agent",
            "description: Tests things.", "version: 1.2.3",
        ]))
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        #expect(r.status == 0)
        let policy = try p.explainJSON("md-agent")
        let agent = policy["agent"] as? [String: Any]
        #expect(agent?["format"] as? String == "markdown")
        #expect(agent?["type"] as? String == "qa")
        #expect(agent?["name"] as? String == "Markdown Agent")
        #expect(agent?["description"] as? String == "Tests things.")
        #expect(agent?["version"] as? String == "1.2.3")
        #expect(policy["profile"] as? String == "mpm")
        // No tools: the profile's set (network included: Claude MPM agents may only turn it off).
        #expect(policy["permissions"] as? [String] == ["read_files", "write_files", "execute_commands", "network_access"])
        // No command: the profile's runtime runs it.
        #expect(policy["argv"] as? [String] == ["/bin/cat", "{instructions}"])
        #expect((policy["environment"] as? [String: Any])?["secrets"] as? [String] == ["ANTHROPIC_API_KEY"])
    }

    @Test func markdownBodyIsTheInstructionsAndIsLocatedOnItsOwnLine() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa"],
                                             body: "\nRun the tests, then eval(result) for fun."))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        // The body starts on line 5, right after the closing `---` on line 4.
        #expect(r.warnings == ["agents/m.md:5:1: warning: instructions: contains the dangerous pattern 'eval('"], "\(r.output.stdout)")
    }

    @Test func markdownBodyTooShortIsRefused() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa"], body: "  short  "))
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:5:1: instructions: must be at least 10 characters (has 5)"], "\(r.output.stdout)")
        #expect(r.status == 1)
    }

    @Test func missingFrontMatterCloseIsAnError() throws {
        let p = try project("m.md", "---\nagent_id: md-agent\nagent_type: qa\n\nRun the tests and report.\n")
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:1:1: the front matter has no closing '---' line"], "\(r.output.stdout)")
        #expect(r.status == 1)
    }

    @Test func missingFrontMatterIsAnError() throws {
        let p = try project("m.md", "# An agent\n\nRun the tests and report.\n")
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:1:1: a Markdown agent must start with '---' and YAML front matter"], "\(r.output.stdout)")
    }

    @Test func frontMatterThatIsNotAMappingIsAnError() throws {
        let p = try project("m.md", markdown(["- agent_id", "- qa"]))
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:2:1: the front matter must be a YAML mapping"], "\(r.output.stdout)")
    }

    @Test func missingIDIsAnError() throws {
        let p = try project("m.md", markdown(["agent_type: qa", "description: No id."]))
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:2:1: agent_id: required (or `name`, for Claude Code agents)"], "\(r.output.stdout)")
    }

    @Test func invalidIDIsAnErrorEvenInTheLenientFormat() throws {
        let p = try project("m.md", markdown(["agent_id: admin", "agent_type: qa"]))
        let r = try p.check()
        #expect(r.errors == ["agents/m.md:2:11: agent_id: 'admin' is reserved"], "\(r.output.stdout)")
    }

    @Test func crlfLineEndingsAndByteOrderMarkLoad() throws {
        let text = "\u{FEFF}---\r\nagent_id: md-agent\r\nagent_type: qa\r\n---\r\nRun the tests and report.\r\n"
        let p = try project("m.md", text)
        let r = try p.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
        #expect(try p.explain("md-agent").status == 0)
    }

    @Test func unknownKeysAndValuesOfAnyShapeAreIgnored() throws {
        let p = try project("m.md", markdown([
            "agent_id: md-agent", "agent_type: qa", "schema_version: 1.3.0", "temperature: 0.2",
            "tags: [a, b, c, d, e, f, g, h, i, j, k, l]", "dependencies:", "  python: [pytest>=7]", "  optional: false",
            "color: green", "skills: [x]",
        ]))
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
    }

    @Test func invalidVersionIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "version: 1.0"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:4:10: warning: version: '1.0' is not a version like 1.2.0"], "\(r.output.stdout)")
        #expect(r.status == 0)
    }

    @Test func longDescriptionIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa",
                                              "description: " + String(repeating: "d", count: 501)]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:4:14: warning: description: longer than 500 characters (501); shown shortened"],
                "\(r.output.stdout)")
    }

    // MARK: Claude Code agents

    @Test func claudeCodeNameIsTheIDAndToolsIsACommaString() throws {
        let p = try project("reviewer.md", markdown([
            "name: code-reviewer", "description: Reviews code.", "tools: Read, Grep, Glob, Bash", "model: sonnet",
        ]))
        // No agent_type: give '*' to the mpm profile for this test.
        try p.write("profiles/mpm.yaml", Self.profile.replacingOccurrences(of: "applies_to: [qa]", with: "applies_to: [qa, \"*\"]"))
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let policy = try p.explainJSON("code-reviewer")
        #expect((policy["agent"] as? [String: Any])?["format"] as? String == "claude-code")
        #expect(policy["permissions"] as? [String] == ["read_files", "execute_commands"])
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        let dropped = decisions.filter { $0["reason"] as? String == "no listed tool needs it" }
        #expect(dropped.map { $0["field"] as? String } == ["write_files", "network_access"])
        #expect(dropped.allSatisfy { $0["at"] as? String == "agents/reviewer.md:4:8" })
    }

    @Test func claudeCodeNameWithCapitalsAndSpacesBecomesAnIDWithAWarning() throws {
        let p = try project("reviewer.md", markdown(["name: Code Reviewer", "agent_type: qa"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/reviewer.md:2:7: warning: name: used as the agent id 'code-reviewer'"], "\(r.output.stdout)")
        #expect(try p.explain("code-reviewer").status == 0)
    }

    @Test func claudeCodeNameThatCannotBeAnIDIsAnError() throws {
        let p = try project("reviewer.md", markdown(["name: Code/Reviewer", "agent_type: qa"]))
        let r = try p.check()
        #expect(r.errors == ["agents/reviewer.md:2:7: name: cannot serve as the agent id: 'code/reviewer' must not contain '..', '/' or '\\'"],
                "\(r.output.stdout)")
    }

    // MARK: JSON templates

    static let template = """
        {
          "schema_version": "1.3.0",
          "agent_id": "json-agent",
          "agent_version": "2.0.1",
          "agent_type": "qa",
          "metadata": {"name": "JSON Agent", "description": "From a template.", "tags": ["x"]},
          "capabilities": {
            "tools": ["Read", "Grep", "WebFetch"],
            "resource_tier": "lightweight"
          },
          "instructions": "Test the code and report what fails.",
          "template_changelog": [{"version": "1.0.0", "date": "2025-01-01"}]
        }

        """

    @Test func jsonTemplateLoadsWithToolsUnderCapabilities() throws {
        let p = try project("t.json", Self.template)
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let policy = try p.explainJSON("json-agent")
        let agent = policy["agent"] as? [String: Any]
        #expect(agent?["format"] as? String == "json")
        #expect(agent?["version"] as? String == "2.0.1")
        #expect(agent?["name"] as? String == "JSON Agent")
        #expect(agent?["description"] as? String == "From a template.")
        #expect(policy["permissions"] as? [String] == ["read_files", "network_access"])
        let limits = policy["limits"] as? [String: Any]
        #expect(limits?["memory_mb"] as? Int == 512)
        #expect(limits?["timeout_seconds"] as? Int == 120)
    }

    @Test func jsonThatIsNotAnObjectIsAnError() throws {
        let p = try project("t.json", "[\"agent_id\", \"json-agent\"]\n")
        let r = try p.check()
        #expect(r.errors == ["agents/t.json:1:1: a JSON agent must be a JSON object"], "\(r.output.stdout)")
    }

    @Test func jsonWithoutInstructionsIsAnError() throws {
        let p = try project("t.json", "{\"agent_id\": \"json-agent\", \"agent_type\": \"qa\"}\n")
        let r = try p.check()
        #expect(r.errors == ["agents/t.json:1:1: instructions: required"], "\(r.output.stdout)")
    }

    @Test func jsonSyntaxErrorIsOneLocatedLine() throws {
        let p = try project("t.json", "{\"agent_id\": \"json-agent\",\n \"instructions\" \"Do it.\"}\n")
        let r = try p.check()
        #expect(r.errors.count == 1, "\(r.output.stdout)")
        #expect(r.errors.first?.hasPrefix("agents/t.json:2:") == true, "\(r.output.stdout)")
    }

    // MARK: tools narrow, never widen

    @Test func toolsNarrowThePermissionsAndCannotAddOne() throws {
        // The profile lacks system_config; no tool needs it anyway. A tool that needs a
        // permission the profile lacks does not add it.
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "tools: [Write]"]))
        try p.write("profiles/mpm.yaml", Self.profile.replacingOccurrences(
            of: "permissions: [read_files, write_files, execute_commands, network_access]", with: "permissions: [read_files]"))
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let policy = try p.explainJSON("md-agent")
        #expect(policy["permissions"] as? [String] == [])
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.contains { $0["field"] as? String == "write_files" && $0["requested"] as? String == "yes (tools)"
                && $0["granted"] as? String == "no" && $0["reason"] as? String == "profile 'mpm' does not grant it" })
    }

    @Test func toolsWithNoPermissionNeededGrantNothing() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "tools: TodoWrite, Task"]))
        #expect(try p.check().warnings.isEmpty)
        #expect(try p.explainJSON("md-agent")["permissions"] as? [String] == [])
    }

    @Test func unknownToolIsAWarningAndGrantsNothing() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "tools: Read, Teleport"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:4:8: warning: tools: unknown tool 'Teleport' grants nothing"], "\(r.output.stdout)")
        #expect(try p.explainJSON("md-agent")["permissions"] as? [String] == ["read_files"])
    }

    @Test func networkAccessFalseTurnsTheNetworkOff() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  network_access: false"]))
        #expect(try p.explainJSON("md-agent")["permissions"] as? [String] == ["read_files", "write_files", "execute_commands"])
    }

    @Test func networkAccessBeyondTheProfileIsClampedWithAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  network_access: true"]))
        try p.write("profiles/mpm.yaml", Self.profile.replacingOccurrences(of: ", network_access]", with: "]"))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:5:19: warning: capabilities.network_access: profile 'mpm' does not grant network_access; clamped"],
                "\(r.output.stdout)")
        #expect(r.status == 0)
        #expect(try p.explainJSON("md-agent")["permissions"] as? [String] == ["read_files", "write_files", "execute_commands"])
    }

    // MARK: resource_tier and limits

    @Test func resourceTierSelectsTheProfilesTier() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "resource_tier: lightweight"]))
        let limits = try p.explainJSON("md-agent")["limits"] as? [String: Any]
        #expect(limits?["memory_mb"] as? Int == 512)
        #expect(limits?["cpu_seconds"] as? Int == 60)
        #expect(limits?["timeout_seconds"] as? Int == 120)
        #expect(limits?["max_processes"] as? Int == 64)
    }

    @Test func tierTheProfileDoesNotDefineKeepsTheBaseLimits() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "resource_tier: intensive"]))
        #expect(try p.check().warnings.isEmpty)
        let policy = try p.explainJSON("md-agent")
        #expect((policy["limits"] as? [String: Any])?["memory_mb"] as? Int == 2048)
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.contains { $0["field"] as? String == "resource_tier" && $0["granted"] as? String == "(base)" })
    }

    @Test func unknownTierIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "resource_tier: medium"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:4:16: warning: resource_tier: unknown tier 'medium' (known: lightweight, basic, standard, high, intensive); the profile's limits apply"],
                "\(r.output.stdout)")
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["memory_mb"] as? Int == 2048)
    }

    @Test func memoryAboveTheProfileIsClampedWithAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  memory_limit: 100000"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:5:17: warning: capabilities.memory_limit: 100000 exceeds the profile 'mpm' limit of 2048; clamped"],
                "\(r.output.stdout)")
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["memory_mb"] as? Int == 2048)
    }

    @Test func memoryIsClampedToTheTierNotTheBase() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "resource_tier: lightweight",
                                              "capabilities:", "  memory_limit: 1024"]))
        let r = try p.check()
        #expect(r.warnings == ["agents/m.md:6:17: warning: capabilities.memory_limit: 1024 exceeds the profile 'mpm' limit of 512; clamped"],
                "\(r.output.stdout)")
    }

    @Test func topLevelTimeoutAboveTheProfileIsClampedWithAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "timeout: 9000"]))
        let r = try p.check()
        #expect(r.warnings == ["agents/m.md:4:10: warning: timeout: 9000 exceeds the profile 'mpm' limit of 600; clamped"],
                "\(r.output.stdout)")
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["timeout_seconds"] as? Int == 600)
    }

    @Test func capabilitiesTimeoutAboveTheProfileIsClampedWithAWarningNamingIt() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  timeout: 9000"]))
        let r = try p.check()
        #expect(r.warnings == ["agents/m.md:5:12: warning: capabilities.timeout: 9000 exceeds the profile 'mpm' limit of 600; clamped"],
                "\(r.output.stdout)")
    }

    @Test func lowerTimeoutIsGranted() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "timeout: 60"]))
        #expect(try p.check().warnings.isEmpty)
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["timeout_seconds"] as? Int == 60)
    }

    @Test func nonNumericLimitIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  memory_limit: lots"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:5:17: warning: capabilities.memory_limit: must be a non-negative number"], "\(r.output.stdout)")
    }

    @Test func cpuLimitIsAPercentOfTheTimeout() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  cpu_limit: 25"]))
        #expect(try p.check().warnings.isEmpty)
        let policy = try p.explainJSON("md-agent")
        // 25% of the 600 s timeout: 150 CPU seconds, below the profile's 300.
        #expect((policy["limits"] as? [String: Any])?["cpu_seconds"] as? Int == 150)
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.contains { $0["field"] as? String == "cpu_seconds" && $0["requested"] as? String == "25%"
                && $0["reason"] as? String == "25% of the 600 s timeout" && $0["at"] as? String == "agents/m.md:5:14" })
    }

    @Test func cpuLimitNeverRaisesTheProfilesCPUTime() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  cpu_limit: 100.0"]))
        // 100% of 600 s would be 600 CPU seconds; the profile's 300 stands.
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["cpu_seconds"] as? Int == 300)
    }

    @Test func cpuLimitOutOfRangeIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:", "  cpu_limit: 150"]))
        let r = try p.check()
        #expect(r.warnings == ["agents/m.md:5:14: warning: capabilities.cpu_limit: 150% is not from 1 to 100; ignored"], "\(r.output.stdout)")
        #expect((try p.explainJSON("md-agent")["limits"] as? [String: Any])?["cpu_seconds"] as? Int == 300)
    }

    @Test func fileAccessIsClampedToTheProfile() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:",
                                              "  file_access:", "    read_paths: [src/lib, /etc]", "    write_paths: [out/reports]"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:6:27: warning: capabilities.file_access.read_paths: '/etc' is outside the profile 'mpm' read_paths; clamped"],
                "\(r.output.stdout)")
        let policy = try p.explainJSON("md-agent")
        let root = URL(fileURLWithPath: p.root).resolvingSymlinksInPath().path
        #expect(policy["read_paths"] as? [String] == [root + "/src/lib"])
        #expect(policy["write_paths"] as? [String] == [root + "/out/reports"])
    }

    @Test func fileAccessEscapingTheProjectIsAWarning() throws {
        let p = try project("m.md", markdown(["agent_id: md-agent", "agent_type: qa", "capabilities:",
                                              "  file_access: {read_paths: [../secrets]}"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/m.md:5:30: warning: capabilities.file_access.read_paths[0]: '../secrets' leaves the project root"],
                "\(r.output.stdout)")
        #expect(try p.explainJSON("md-agent")["read_paths"] as? [String] == [])
    }
}
