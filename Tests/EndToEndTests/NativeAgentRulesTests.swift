import Foundation
import Testing

/// The strict native agent format (CONTRACT.md 3.1): each rule broken by a fixture that
/// breaks nothing else, and the exact line `check` prints for it.
@Suite struct NativeAgentRulesTests {
    @Test func theBaseFixtureIsValid() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent())
        let r = try project.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        #expect(r.status == 0)
        #expect(r.summary == "checked 1 agent and \(Fixture.shippedProfiles) profiles: 0 errors, 0 warnings")
    }

    // MARK: agent_id

    @Test(arguments: ["Sample", "9lives", "_x", "-x", "doc.writer", "doc writer", "dôc"])
    func agentIDMustMatchThePattern(id: String) throws {
        try expectOnlyError(Fixture.agent(id: "'\(id)'"),
                            "agents/x.yaml:1:11: agent_id: '\(id)' must match ^[a-z][a-z0-9_-]*$")
    }

    @Test func agentIDOf51CharactersIsRefused() throws {
        let id = String(repeating: "a", count: 51)
        try expectOnlyError(Fixture.agent(id: id), "agents/x.yaml:1:11: agent_id: must be 1 to 50 characters (has 51)")
    }

    @Test func agentIDOf50CharactersLoads() throws {
        let project = try Project(copyShippedProfiles: true)
        let id = String(repeating: "a", count: 50)
        try project.write("agents/x.yaml", Fixture.agent(id: id))
        #expect(try project.check().errors.isEmpty)
        #expect(try project.explain(id).status == 0)
    }

    @Test func emptyAgentIDIsRefused() throws {
        try expectOnlyError(Fixture.agent(id: "''"), "agents/x.yaml:1:11: agent_id: must be 1 to 50 characters (has 0)")
    }

    @Test func nullAgentIDIsRefused() throws {
        try expectOnlyError(Fixture.agent(id: ""), "agents/x.yaml:1:10: agent_id: must be a string, not null")
    }

    @Test(arguments: ["system", "admin", "root", "config",
                      "run", "serve", "check", "explain", "doctor", "audit", "help", "version"])
    func reservedAgentIDIsRefused(id: String) throws {
        try expectOnlyError(Fixture.agent(id: id), "agents/x.yaml:1:11: agent_id: '\(id)' is reserved")
    }

    @Test(arguments: ["a..b", "a/b", "../etc", "..", "a\\\\b"])
    func agentIDWithPathCharactersIsRefused(yamlID: String) throws {
        let id = yamlID.replacingOccurrences(of: "\\\\", with: "\\")
        try expectOnlyError(Fixture.agent(id: "\"\(yamlID)\""),
                            "agents/x.yaml:1:11: agent_id: '\(id)' must not contain '..', '/' or '\\'")
    }

    @Test func missingAgentIDIsRefused() throws {
        let text = Fixture.agent().split(separator: "\n").dropFirst().joined(separator: "\n") + "\n"
        // The top mapping starts at the first key, now `version` on line 1.
        try expectOnlyError(text, "agents/x.yaml:1:1: agent_id: required")
    }

    // MARK: version

    @Test(arguments: ["1.0", "1.0.0.0", "v1.0.0", "1.0.0-beta", "1.a.0", "1..0", "'1.0.0 '"])
    func versionMustBeSemver(version: String) throws {
        let shown = version.hasPrefix("'") ? String(version.dropFirst().dropLast()) : version
        try expectOnlyError(Fixture.agent(version: version),
                            "agents/x.yaml:2:10: version: '\(shown)' must be a version like 1.2.0")
    }

    @Test func quotedSemverLoads() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(version: "\"10.20.30\""))
        #expect(try project.check().errors.isEmpty)
    }

    // MARK: metadata

    @Test func nameOf101CharactersIsRefused() throws {
        try expectOnlyError(Fixture.agent(name: String(repeating: "n", count: 101)),
                            "agents/x.yaml:5:9: metadata.name: must be 1 to 100 characters (has 101)")
    }

    @Test func emptyNameIsRefused() throws {
        try expectOnlyError(Fixture.agent(name: "''"), "agents/x.yaml:5:9: metadata.name: must be 1 to 100 characters (has 0)")
    }

    @Test func nameOf100CharactersLoads() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(name: String(repeating: "n", count: 100)))
        #expect(try project.check().errors.isEmpty)
    }

    @Test func nameLengthCountsCharactersNotBytes() throws {
        // 100 two-byte characters are 100 characters.
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(name: String(repeating: "é", count: 100)))
        #expect(try project.check().errors.isEmpty)
    }

    @Test func descriptionOf501CharactersIsRefused() throws {
        try expectOnlyError(Fixture.agent(description: String(repeating: "d", count: 501)),
                            "agents/x.yaml:6:16: metadata.description: must be 1 to 500 characters (has 501)")
    }

    @Test func emptyDescriptionIsRefused() throws {
        try expectOnlyError(Fixture.agent(description: "\"\""),
                            "agents/x.yaml:6:16: metadata.description: must be 1 to 500 characters (has 0)")
    }

    @Test func nicknameOf21CharactersIsRefused() throws {
        let text = Fixture.agent(description: "A sample.\n  nickname: " + String(repeating: "k", count: 21))
        try expectOnlyError(text, "agents/x.yaml:7:13: metadata.nickname: must be 1 to 20 characters (has 21)")
    }

    @Test func nicknameOf20CharactersAndTheOtherOptionalMetadataLoad() throws {
        let project = try Project(copyShippedProfiles: true)
        let text = Fixture.agent(description: "A sample.\n  nickname: " + String(repeating: "k", count: 20)
                                 + "\n  specializations: [markdown, api]\n  authority: docs-team")
        try project.write("agents/x.yaml", text)
        let r = try project.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
    }

    @Test func specializationsMustBeAList() throws {
        let text = Fixture.agent(description: "A sample.\n  specializations: markdown")
        try expectOnlyError(text, "agents/x.yaml:7:20: metadata.specializations: must be a list, not a scalar")
    }

    @Test func missingMetadataNameIsRefused() throws {
        let text = Fixture.agent().replacingOccurrences(of: "  name: Sample\n", with: "")
        try expectOnlyError(text, "agents/x.yaml:5:3: metadata.name: required")
    }

    // MARK: instructions

    @Test func instructionsOf9CharactersAreRefused() throws {
        try expectOnlyError(Fixture.agent(instructions: "Too short"),
                            "agents/x.yaml:7:15: instructions: must be 10 to 50000 characters (has 9)")
    }

    @Test func instructionsOf50001CharactersAreRefused() throws {
        try expectOnlyError(Fixture.agent(instructions: String(repeating: "i", count: 50_001)),
                            "agents/x.yaml:7:15: instructions: must be 10 to 50000 characters (has 50001)")
    }

    @Test func instructionsOf10And50000CharactersLoad() throws {
        for count in [10, 50_000] {
            let project = try Project(copyShippedProfiles: true)
            try project.write("agents/x.yaml", Fixture.agent(instructions: String(repeating: "i", count: count)))
            #expect(try project.check().errors.isEmpty, "\(count)")
        }
    }

    @Test func blockScalarInstructionsAreLocatedAtTheirIndicator() throws {
        try expectOnlyError(Fixture.agent(instructions: "|\n  short"),
                            "agents/x.yaml:7:15: instructions: must be 10 to 50000 characters (has 6)")
    }

    @Test(arguments: [
        ("Then <SCRIPT>alert(1)</script> it.", "<script"),
        ("Open JavaScript:void(0) in it.", "javascript:"),
        ("Load data:text/html,<b>hi</b> here.", "data:text/html"),
        ("Then call eval(input) on it.", "eval("),
        ("Then new Function(body) on it.", "Function("),
    ])
    func dangerousInstructionPatternLoadsWithAWarning(instructions: String, pattern: String) throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(instructions: "\"\(instructions)\""))
        let r = try project.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/x.yaml:7:15: warning: instructions: contains the dangerous pattern '\(pattern)'"],
                "\(r.output.stdout)")
        #expect(r.status == 0)
        #expect(try project.explain("sample").status == 0)
    }

    // MARK: unknown keys

    @Test func unknownTopLevelKeyIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["colour: blue"]), "agents/x.yaml:9:1: colour: unknown key")
    }

    @Test func unknownMetadataKeyIsRefused() throws {
        try expectOnlyError(Fixture.agent(description: "A sample.\n  tags: [x]"), "agents/x.yaml:7:3: metadata.tags: unknown key")
    }

    @Test func unknownLimitIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["limits:", "  ram_mb: 100"]), "agents/x.yaml:10:3: limits.ram_mb: unknown key")
    }

    @Test func unknownFileAccessKeyIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["file_access: {exec_paths: [bin]}"]),
                            "agents/x.yaml:9:15: file_access.exec_paths: unknown key")
    }

    @Test func claudeMPMKeysAreUnknownInTheNativeFormat() throws {
        try expectOnlyError(Fixture.agent(extra: ["resource_tier: standard"]), "agents/x.yaml:9:1: resource_tier: unknown key")
    }

    // MARK: command

    @Test(arguments: ["bin/tool", "./tool", "../tool"])
    func commandWithRelativePathIsRefused(argv0: String) throws {
        try expectOnlyError(Fixture.agent(command: "[\(argv0), --flag]"),
                            "agents/x.yaml:8:11: command[0]: '\(argv0)' must be an absolute path or a bare name found on PATH")
    }

    @Test func emptyCommandIsRefused() throws {
        try expectOnlyError(Fixture.agent(command: "[]"), "agents/x.yaml:8:10: command: must not be empty")
    }

    @Test func emptyArgv0IsRefused() throws {
        try expectOnlyError(Fixture.agent(command: "[\"\"]"), "agents/x.yaml:8:11: command[0]: must not be empty")
    }

    @Test func commandAsAStringIsRefused() throws {
        try expectOnlyError(Fixture.agent(command: "/bin/true --flag"), "agents/x.yaml:8:10: command: must be a list, not a scalar")
    }

    @Test func bareNameOnThePathLoadsAndResolves() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(command: "[true]"))
        #expect(try project.check().errors.isEmpty)
        let policy = try project.explainJSON("sample")
        let executable = policy["executable"] as? String
        #expect(executable == "/usr/bin/true" || executable == "/bin/true")
    }

    @Test func commandNotFoundIsAWarning() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(command: "[no-such-tool-mpm-test]"))
        let r = try project.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/x.yaml:8:11: warning: command: 'no-such-tool-mpm-test' is not a file here (a run would exit 127)"],
                "\(r.output.stdout)")
    }

    // MARK: limits, network, paths (against the shipped documentation profile)

    @Test func limitAboveTheProfileIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["limits:", "  memory_mb: 4096"]),
                            "agents/x.yaml:10:14: limits.memory_mb: 4096 exceeds the profile 'documentation' limit of 1024")
    }

    @Test(arguments: [("cpu_seconds", 121, 120), ("timeout_seconds", 601, 600), ("max_processes", 33, 32),
                      ("max_open_files", 257, 256), ("max_file_size_mb", 65, 64), ("max_output_bytes", 16777217, 16777216)])
    func everyLimitAboveTheProfileIsRefused(key: String, asked: Int, limit: Int) throws {
        let column = 2 + key.count + 3
        try expectOnlyError(Fixture.agent(extra: ["limits:", "  \(key): \(asked)"]),
                            "agents/x.yaml:10:\(column): limits.\(key): \(asked) exceeds the profile 'documentation' limit of \(limit)")
    }

    @Test func limitBelowItsRangeIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["limits:", "  memory_mb: 0"]),
                            "agents/x.yaml:10:14: limits.memory_mb: must be from 16 to 1048576 (is 0)")
    }

    @Test func limitThatIsNotANumberIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["limits:", "  memory_mb: \"512\""]),
                            "agents/x.yaml:10:14: limits.memory_mb: must be a whole number, not '512'")
    }

    @Test func lowerLimitsLoadAndAreGranted() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(extra: ["limits: {memory_mb: 256, timeout_seconds: 60}"]))
        #expect(try project.check().errors.isEmpty)
        let limits = try project.explainJSON("sample")["limits"] as? [String: Any]
        #expect(limits?["memory_mb"] as? Int == 256)
        #expect(limits?["timeout_seconds"] as? Int == 60)
        #expect(limits?["cpu_seconds"] as? Int == 120)
    }

    @Test func networkAccessWithoutThePermissionIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["network_access: true"]),
                            "agents/x.yaml:9:17: network_access: profile 'documentation' does not grant network_access")
    }

    @Test func networkAccessWhereTheProfileGrantsItLoads() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(type: "research", extra: ["network_access: true"]))
        #expect(try project.check().errors.isEmpty)
        #expect(try project.explainJSON("sample")["permissions"] as? [String] == ["read_files", "network_access"])
    }

    @Test func networkAccessIsOffUnlessAskedFor() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(type: "research"))
        #expect(try project.explainJSON("sample")["permissions"] as? [String] == ["read_files"])
    }

    @Test func networkAccessMustBeTrueOrFalse() throws {
        try expectOnlyError(Fixture.agent(type: "research", extra: ["network_access: yes"]),
                            "agents/x.yaml:9:17: network_access: must be true or false, not 'yes'")
    }

    @Test func readPathOutsideTheProfileIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["file_access:", "  read_paths: [docs, /etc]"]),
                            "agents/x.yaml:10:22: file_access.read_paths: '/etc' is outside the profile 'documentation' read_paths")
    }

    @Test func writePathWithoutWriteFilesIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["file_access:", "  write_paths: [docs]"]),
                            "agents/x.yaml:10:17: file_access.write_paths: profile 'documentation' does not grant write_files")
    }

    @Test func writePathOutsideTheProfileIsRefused() throws {
        // The shipped engineer profile writes output/ only: no write_paths at all.
        try expectOnlyError(Fixture.agent(type: "engineer", extra: ["file_access:", "  write_paths: [docs]"]),
                            "agents/x.yaml:10:17: file_access.write_paths: 'docs' is outside the profile 'engineer' write_paths")
    }

    @Test(arguments: ["../x", "docs/../../x", "./..", "a/b/../../../c"])
    func pathEscapingTheProjectIsRefused(path: String) throws {
        try expectOnlyError(Fixture.agent(extra: ["file_access:", "  read_paths: [\"\(path)\"]"]),
                            "agents/x.yaml:10:16: file_access.read_paths[0]: '\(path)' leaves the project root")
    }

    @Test func emptyPathIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["file_access:", "  read_paths: [\"\"]"]),
                            "agents/x.yaml:10:16: file_access.read_paths[0]: a path must not be empty")
    }

    @Test func narrowerReadPathsResolveAgainstTheProject() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(extra: ["file_access: {read_paths: [docs, src/../lib]}"]))
        #expect(try project.check().errors.isEmpty)
        let root = URL(fileURLWithPath: project.root).resolvingSymlinksInPath().path
        #expect(try project.explainJSON("sample")["read_paths"] as? [String] == [root + "/docs", root + "/lib"])
    }

    // MARK: env (more in EnvironmentRulesTests)

    @Test func envNameNotAllowedByTheProfileIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["env: [LANG, EDITOR]"]),
                            "agents/x.yaml:9:13: env: EDITOR is not allowed by profile 'documentation' (env.allow)")
    }

    @Test func invalidEnvNameIsRefused() throws {
        try expectOnlyError(Fixture.agent(extra: ["env: [1BAD]"]),
                            "agents/x.yaml:9:7: env[0]: '1BAD' is not a valid environment variable name")
    }

    // MARK: one line per problem

    @Test func valuesWithLineBreaksAreShownEscapedOnOneLine() throws {
        try expectOnlyError(Fixture.agent(version: "\"1.0\\n.0\\u001b[31m\""),
                            "agents/x.yaml:2:10: version: '1.0\\n.0\\u{1b}[31m' must be a version like 1.2.0")
    }

    @Test func everyProblemOfOneFileIsListed() throws {
        let project = try Project(copyShippedProfiles: true)
        try project.write("agents/x.yaml", Fixture.agent(id: "Bad", version: "1.0", name: "''",
                                                         instructions: "short", extra: ["colour: red"]))
        let r = try project.check()
        #expect(r.errors == [
            "agents/x.yaml:9:1: colour: unknown key",
            "agents/x.yaml:1:11: agent_id: 'Bad' must match ^[a-z][a-z0-9_-]*$",
            "agents/x.yaml:2:10: version: '1.0' must be a version like 1.2.0",
            "agents/x.yaml:5:9: metadata.name: must be 1 to 100 characters (has 0)",
            "agents/x.yaml:7:15: instructions: must be 10 to 50000 characters (has 5)",
        ], "\(r.output.stdout)")
        #expect(r.summary == "checked 0 agents and \(Fixture.shippedProfiles) profiles: 5 errors, 0 warnings")
        #expect(r.status == 1)
    }
}
