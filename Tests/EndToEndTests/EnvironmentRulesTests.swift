import Foundation
import Testing

/// The scrubbed environment's rules (CONTRACT.md section 4): an agent's `env` names must be
/// allowed by its profile; a secret-shaped name never passes unless the profile lists it
/// under `env.secrets`; mpm-run's own names cannot be supplied by anyone else.
@Suite struct EnvironmentRulesTests {
    func project(profileEnv: [String], agentEnv: String) throws -> Project {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile(extra: ["env:"] + profileEnv))
        try p.write("agents/a.yaml", Fixture.customAgent(extra: ["env: \(agentEnv)"]))
        return p
    }

    @Test func allowedNamesPassThrough() throws {
        let p = try project(profileEnv: ["  allow: [LANG, TERM]", "  set: {PATH: /usr/bin:/bin}"], agentEnv: "[LANG]")
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let env = try p.explainJSON("sample")["environment"] as? [String: Any]
        #expect(env?["pass_through"] as? [String] == ["LANG"])
        #expect(env?["secrets"] as? [String] == [])
        #expect(env?["set"] as? [[String: String]] == [["name": "PATH", "value": "/usr/bin:/bin"]])
    }

    @Test func nameNotAllowedIsRefused() throws {
        let p = try project(profileEnv: ["  allow: [LANG]"], agentEnv: "[LANG, EDITOR]")
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:13: env: EDITOR is not allowed by profile 'custom' (env.allow)"], "\(r.output.stdout)")
        #expect(r.status == 1)
        let e = try p.explain("sample")
        #expect(e.status == 1)
        #expect(e.stderrLines == ["agents/a.yaml:9:13: env: EDITOR is not allowed by profile 'custom' (env.allow)"])
    }

    @Test func profileWithoutEnvAllowsNothing() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("agents/a.yaml", Fixture.customAgent(extra: ["env: [LANG]"]))
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:7: env: LANG is not allowed by profile 'custom' (env.allow)"], "\(r.output.stdout)")
    }

    @Test func secretShapedNameAllowedButNotListedAsSecretIsRefused() throws {
        // The profile allows MY_API_KEY (with a warning) but does not list it under env.secrets.
        let p = try project(profileEnv: ["  allow: [LANG, MY_API_KEY]"], agentEnv: "[MY_API_KEY]")
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:7: env: MY_API_KEY looks like a secret and profile 'custom' does not list it under env.secrets"],
                "\(r.output.stdout)")
        #expect(r.warnings == ["profiles/c.yaml:14:10: warning: env.allow: MY_API_KEY looks like a secret and never passes unless it is also listed under env.secrets"],
                "\(r.output.stdout)")
    }

    @Test(arguments: ["MY_API_KEY", "GITHUB_TOKEN", "DB_PASSWORD", "AWS_SECRET_ACCESS_KEY", "GCP_CREDENTIALS",
                      "db_password", "Session_Token", "KEYRING"])
    func secretShapedNamesAreRefusedInAnyCase(name: String) throws {
        let p = try project(profileEnv: ["  allow: [LANG]"], agentEnv: "[\(name)]")
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:7: env: \(name) looks like a secret and profile 'custom' does not list it under env.secrets"],
                "\(r.output.stdout)")
    }

    @Test func secretListedUnderSecretsPasses() throws {
        let p = try project(profileEnv: ["  allow: [LANG]", "  secrets: [GITHUB_TOKEN]"], agentEnv: "[LANG, GITHUB_TOKEN]")
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let env = try p.explainJSON("sample")["environment"] as? [String: Any]
        #expect(env?["pass_through"] as? [String] == ["LANG"])
        #expect(env?["secrets"] as? [String] == ["GITHUB_TOKEN"])
    }

    @Test func secretsAreNotPassedToAnAgentWithItsOwnCommandUnlessItAsks() throws {
        let p = try project(profileEnv: ["  secrets: [ANTHROPIC_API_KEY]"], agentEnv: "[]")
        let env = try p.explainJSON("sample")["environment"] as? [String: Any]
        #expect(env?["secrets"] as? [String] == [])
    }

    @Test func theRuntimeGetsTheProfilesSecrets() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile(extra: ["env:", "  secrets: [ANTHROPIC_API_KEY]",
                                                               "runtime: [/bin/cat, \"{instructions}\"]"]))
        try p.write("agents/a.md", "---\nagent_id: md-agent\nagent_type: custom\n---\nSummarize the inputs.\n")
        let env = try p.explainJSON("md-agent")["environment"] as? [String: Any]
        #expect(env?["secrets"] as? [String] == ["ANTHROPIC_API_KEY"])
    }

    @Test func namesTheProfileSetsNeedNoAllowance() throws {
        let p = try project(profileEnv: ["  set: {PATH: /bin}"], agentEnv: "[PATH]")
        let r = try p.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
        let env = try p.explainJSON("sample")["environment"] as? [String: Any]
        #expect(env?["pass_through"] as? [String] == [])
    }

    @Test(arguments: ["HOME", "TMPDIR", "MPM_RUN_ID", "MPM_AGENT_ID", "MPM_INPUT_DIR", "MPM_OUTPUT_DIR"])
    func agentsCannotAskForTheSupervisorsNames(name: String) throws {
        let p = try project(profileEnv: ["  allow: [LANG]"], agentEnv: "[\(name)]")
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:7: env: \(name) is not allowed by profile 'custom' (env.allow)"], "\(r.output.stdout)")
    }

    @Test func theExplainTextNeverPrintsValues() throws {
        let p = try project(profileEnv: ["  allow: [LANG]", "  secrets: [GITHUB_TOKEN]"], agentEnv: "[GITHUB_TOKEN]")
        let secret = "ghp_" + String(repeating: "A", count: 36)
        let r = try p.mpmRun(["explain", "sample", "--agents-dir", "agents", "--profiles-dir", "profiles"],
                             environment: ["GITHUB_TOKEN": secret])
        #expect(r.status == 0)
        #expect(r.stdout.contains("  secrets           GITHUB_TOKEN"))
        #expect(!r.stdout.contains(secret) && !r.stderr.contains(secret))
    }
}
