import Foundation
import Testing

/// `check` lists every problem of every file, including the security scanner's findings;
/// `explain` prints the effective policy in a shape an orchestrator can rely on.
@Suite struct CheckAndExplainTests {
    // MARK: duplicates across files

    @Test func duplicateAgentIDNamesBothFiles() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(id: "twin"))
        try p.write("agents/b.md", "---\nagent_type: qa\nagent_id: twin\n---\nRun the tests and report.\n")
        let r = try p.check()
        #expect(r.errors == ["agents/b.md:3:11: agent_id: 'twin' is also defined by agents/a.yaml"], "\(r.output.stdout)")
        #expect(r.status == 1)
        let e = try p.explain("twin")
        #expect(e.status == 1)
        #expect(e.stdout.isEmpty)
        #expect(e.stderrLines == ["mpm-run: agent 'twin' is defined by more than one file: agents/a.yaml, agents/b.md"])
    }

    @Test func duplicateAgentIDIsAnErrorEvenWhenOneFileIsOtherwiseBroken() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(id: "twin"))
        try p.write("agents/b.yaml", Fixture.agent(id: "twin", version: "one"))
        let r = try p.check()
        #expect(r.errors == [
            "agents/b.yaml:2:10: version: 'one' must be a version like 1.2.0",
            "agents/b.yaml:1:11: agent_id: 'twin' is also defined by agents/a.yaml",
        ], "\(r.output.stdout)")
        #expect(try p.explain("twin").status == 1)
    }

    // MARK: all problems, one run

    @Test func checkListsEveryProblemOfEveryFileAndExits1() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(id: "alpha", version: "1.0", extra: ["colour: red"]))
        try p.write("agents/b.yaml", "agent_id: &x beta\n")
        try p.write("agents/c.md", "---\nagent_id: gamma\n")
        try p.write("agents/d.json", "[]")
        try p.write("agents/e.yaml", Fixture.agent(id: "epsilon", extra: ["network_access: true"]))
        try p.write("agents/f.yaml", Fixture.agent(id: "fine"))
        try p.write("profiles/zz.yaml", Fixture.profile(name: "zz", appliesTo: "[zz]", permissions: "[fly]"))
        let r = try p.check()
        #expect(r.errors == [
            "profiles/zz.yaml:4:15: permissions[0]: unknown permission 'fly' (known: read_files, write_files, execute_commands, network_access, system_config)",
            "agents/a.yaml:9:1: colour: unknown key",
            "agents/a.yaml:2:10: version: '1.0' must be a version like 1.2.0",
            "agents/b.yaml:1:11: anchors are not allowed",
            "agents/c.md:1:1: the front matter has no closing '---' line",
            "agents/d.json:1:1: a JSON agent must be a JSON object",
            "agents/e.yaml:9:17: network_access: profile 'documentation' does not grant network_access",
        ], "\(r.output.stdout)")
        #expect(r.summary == "checked 3 agents and \(Fixture.shippedProfiles + 1) profiles: 7 errors, 0 warnings")
        #expect(r.status == 1)
        // The sound agent is still usable.
        #expect(try p.explain("fine").status == 0)
    }

    @Test func checkJSONListsTheSameProblems() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(version: "1.0", instructions: "\"Then eval(x) on it.\""))
        let r = try p.check(json: true)
        #expect(r.status == 1)
        let obj = try JSONSerialization.jsonObject(with: r.output.stdoutBytes) as? [String: Any] ?? [:]
        #expect(Set(obj.keys) == ["ok", "agents", "profiles", "errors", "warnings"])
        #expect(obj["ok"] as? Bool == false)
        #expect(obj["agents"] as? Int == 1)
        #expect(obj["profiles"] as? Int == Fixture.shippedProfiles)
        let errors = obj["errors"] as? [[String: Any]] ?? []
        #expect(errors.count == 1)
        #expect(errors.first?["file"] as? String == "agents/a.yaml")
        #expect(errors.first?["line"] as? Int == 2)
        #expect(errors.first?["column"] as? Int == 10)
        #expect(errors.first?["field"] as? String == "version")
        #expect(errors.first?["message"] as? String == "'1.0' must be a version like 1.2.0")
        #expect(errors.first?["severity"] as? String == "error")
        let warnings = obj["warnings"] as? [[String: Any]] ?? []
        #expect(warnings.map { $0["message"] as? String } == ["contains the dangerous pattern 'eval('"])
        #expect(warnings.first?["severity"] as? String == "warning")
    }

    @Test func missingAgentsFolderIsOneLine() throws {
        let p = try Project(copyShippedProfiles: true)
        let r = CheckResult(try p.mpmRun(["check", "--agents-dir", "nowhere", "--profiles-dir", "profiles"]))
        #expect(r.errors == ["nowhere: cannot read folder: No such file or directory"], "\(r.output.stdout)")
        #expect(r.status == 1)
    }

    @Test func hiddenAndOtherFilesAreNotAgents() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/.hidden.yaml", "not: [valid")
        try p.write("agents/notes.txt", "not: [valid")
        try p.write("agents/README", "not: [valid")
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.summary == "checked 0 agents and \(Fixture.shippedProfiles) profiles: 0 errors, 0 warnings")
    }

    // MARK: the security scanner

    @Test(arguments: [0o666, 0o664, 0o646, 0o620])
    func agentFileOthersCanWriteIsAWarning(mode: Int) throws {
        let p = try Project(copyShippedProfiles: true)
        let path = try p.write("agents/a.yaml", Fixture.agent())
        chmod(path, mode_t(mode))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/a.yaml: warning: anyone but its owner can write this file (mode \(String(mode, radix: 8))): chmod go-w"],
                "\(r.output.stdout)")
        #expect(r.status == 0)
    }

    @Test func profileFileOthersCanWriteIsAWarning() throws {
        let p = try Project()
        let path = try p.write("profiles/c.yaml", Fixture.profile())
        chmod(path, 0o666)
        let r = try p.check()
        #expect(r.warnings == ["profiles/c.yaml: warning: anyone but its owner can write this file (mode 666): chmod go-w"],
                "\(r.output.stdout)")
    }

    @Test func ownerOnlyWritableFilesAreFine() throws {
        let p = try Project()
        let path = try p.write("profiles/c.yaml", Fixture.profile())
        chmod(path, 0o600)
        #expect(try p.check().warnings.isEmpty)
    }

    /// A secret, its kind, and the column where the secret part starts after `# token: `.
    static let secrets: [(String, String, Int)] = [
        ("sk-ant-api03-" + String(repeating: "a1B2", count: 6), "api_key", 10),
        ("AKIA" + "IOSFODNN7EXAMPLE", "aws_access_key", 10),
        ("ghp_" + String(repeating: "x", count: 36), "github_token", 10),
        // For a URL, the secret part is `user:password`, after `postgres://`.
        ("postgres://admin:hunter2hunter2@db.example.com/app", "database_url", 21),
    ]

    @Test(arguments: secrets)
    func secretInAnAgentFileIsAWarningThatDoesNotShowIt(secret: String, kind: String, column: Int) throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(extra: ["# token: \(secret)"]))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/a.yaml:9:\(column): warning: contains something shaped like a secret (\(kind)); keep secrets out of definition files"],
                "\(r.output.stdout)")
        #expect(r.status == 0)
        let json = try p.check(json: true)
        for text in [r.output.stdout, r.output.stderr, json.output.stdout, json.output.stderr] {
            #expect(!text.contains(secret))
        }
        // The URL's password is the secret part; the user name alone may show nowhere either.
        #expect(!r.output.stdout.contains("hunter2"))
    }

    @Test func privateKeyInAProfileIsAWarning() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile(extra: [
            "# -----BEGIN RSA PRIVATE KEY-----", "# MIIEowIBAAKCAQEA7", "# -----END RSA PRIVATE KEY-----",
        ]))
        let r = try p.check()
        #expect(r.warnings == ["profiles/c.yaml:13:3: warning: contains something shaped like a secret (private_key); keep secrets out of definition files"],
                "\(r.output.stdout)")
        #expect(!r.output.stdout.contains("MIIEowIBAAKCAQEA7"))
    }

    @Test func secretColumnCountsCharacters() throws {
        let p = try Project(copyShippedProfiles: true)
        let key = "sk-" + String(repeating: "k", count: 24)
        try p.write("agents/a.yaml", Fixture.agent(description: "Déjà vu: \(key)"))
        let r = try p.check()
        #expect(r.warnings == ["agents/a.yaml:6:25: warning: contains something shaped like a secret (api_key); keep secrets out of definition files"],
                "\(r.output.stdout)")
    }

    @Test func secretInAMarkdownBodyIsFound() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/m.md", "---\nagent_id: md-agent\nagent_type: qa\n---\nUse the key ghp_\(String(repeating: "Z", count: 40)) to log in.\n")
        let r = try p.check()
        #expect(r.warnings.contains("agents/m.md:5:13: warning: contains something shaped like a secret (github_token); keep secrets out of definition files"),
                "\(r.output.stdout)")
    }

    // MARK: explain

    @Test func explainJSONHasTheDocumentedShape() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(type: "qa", extra: [
            "limits: {memory_mb: 256}", "file_access: {read_paths: [docs]}", "env: [LANG]",
        ]))
        let r = try p.explain("sample", json: true)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.isEmpty)
        let policy = try JSONSerialization.jsonObject(with: r.stdoutBytes) as? [String: Any] ?? [:]
        #expect(Set(policy.keys) == ["agent", "profile", "profile_file", "permissions", "limits", "read_paths", "write_paths",
                                     "argv", "executable", "environment", "capabilities", "incidents", "decisions", "warnings"])
        #expect(policy["instructions"] == nil)
        let agent = policy["agent"] as? [String: Any] ?? [:]
        #expect(Set(agent.keys) == ["id", "name", "version", "type", "format", "file", "description"])
        #expect(agent["id"] as? String == "sample")
        #expect(agent["file"] as? String == "agents/a.yaml")
        #expect(agent["format"] as? String == "yaml")
        #expect(policy["profile"] as? String == "qa")
        #expect(policy["profile_file"] as? String == "profiles/qa.yaml")
        #expect(policy["permissions"] as? [String] == ["read_files", "execute_commands"])
        #expect(Set((policy["limits"] as? [String: Any] ?? [:]).keys) == ["memory_mb", "cpu_seconds", "timeout_seconds",
                                                                            "max_processes", "max_open_files", "max_file_size_mb", "max_output_bytes"])
        #expect((policy["limits"] as? [String: Any])?["memory_mb"] as? Int == 256)
        let root = URL(fileURLWithPath: p.root).resolvingSymlinksInPath().path
        #expect(policy["read_paths"] as? [String] == [root + "/docs"])
        #expect(policy["write_paths"] as? [String] == [])
        #expect(policy["argv"] as? [String] == ["/bin/true"])
        let env = policy["environment"] as? [String: Any] ?? [:]
        #expect(Set(env.keys) == ["set", "pass_through", "secrets"])
        #expect(env["pass_through"] as? [String] == ["LANG"])
        #expect(policy["capabilities"] as? [String] == [])
        #expect(Set((policy["incidents"] as? [String: Any] ?? [:]).keys) == [
            "max_denials_per_run", "quarantine_after_incidents", "quarantine_window_seconds", "quarantine_seconds", "max_launches_per_minute",
        ])
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.contains { d in
            d["field"] as? String == "memory_mb" && d["requested"] as? String == "256" && d["granted"] as? String == "256"
                && d["reason"] as? String == "lowered by the agent" && d["at"] as? String == "agents/a.yaml:9:21"
        }, "\(decisions)")
        #expect(policy["warnings"] as? [Any] != nil)
    }

    @Test func explainTextShowsTheProfileLimitsAndDecisions() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(extra: ["limits: {timeout_seconds: 60}"]))
        let r = try p.explain("sample")
        #expect(r.status == 0)
        let lines = r.stdoutLines
        #expect(lines.first == "agent sample 1.0.0: Sample")
        #expect(lines.contains("  file              agents/a.yaml (yaml)"))
        #expect(lines.contains("  profile           documentation (profiles/documentation.yaml)"))
        #expect(lines.contains("  read_files        yes  may read the project paths in read_paths"))
        #expect(lines.contains("  write_files       no   output/ and everything outside temp/ are read-only"))
        #expect(lines.contains("  timeout_seconds   60"))
        #expect(lines.contains("  timeout_seconds: asked 60, granted 60: lowered by the agent (agents/a.yaml:9:27)"))
    }

    @Test func explainTextKeepsTheNameOnOneLine() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(name: "\"Sample\\nprofile           everything\""))
        let r = try p.explain("sample")
        #expect(r.stdoutLines.first == "agent sample 1.0.0: Sample\\nprofile           everything")
        #expect(!r.stdoutLines.contains("profile           everything"))
    }

    @Test func explainUnknownAgentIsOneLine() throws {
        let p = try Project(copyShippedProfiles: true)
        let r = try p.explain("nobody")
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderrLines == ["mpm-run: unknown agent 'nobody': no file in agents defines it"])
    }

    @Test func explainUnknownAgentHintsAtBrokenFiles() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/x.yaml", "agent_id: [")
        let r = try p.explain("nobody")
        #expect(r.stderrLines == ["mpm-run: unknown agent 'nobody': no file in agents defines it (1 file there is invalid: run mpm-run check)"])
    }

    /// A file of the agents folder that could not be read may be the one that defines the
    /// agent asked for: that is what the refusal says, not "unknown agent" (in serve, the
    /// code of an unknown agent tells an orchestrator not to ask again).
    @Test func anAgentNotFoundWhileAFileCouldNotBeReadIsNotUnknown() throws {
        let p = try Project(copyShippedProfiles: true)
        try FileManager.default.createDirectory(atPath: p.root + "/agents/x.yaml", withIntermediateDirectories: true)
        let r = try p.explain("nobody")
        #expect(r.status == 1)
        #expect(r.stderrLines == ["mpm-run: agent 'nobody' not found, and agents/x.yaml could not be read (not a regular file), "
                                  + "which may define it: run mpm-run check"])
    }

    @Test func explainInvalidAgentPrintsEveryError() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/x.yaml", Fixture.agent(version: "1", name: "''"))
        let r = try p.explain("sample")
        #expect(r.status == 1)
        #expect(r.stdout.isEmpty)
        #expect(r.stderrLines == [
            "agents/x.yaml:2:10: version: '1' must be a version like 1.2.0",
            "agents/x.yaml:5:9: metadata.name: must be 1 to 100 characters (has 0)",
        ])
    }
}
