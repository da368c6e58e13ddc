import Foundation
import Testing

/// Type to profile (CONTRACT.md section 4): the profile whose `applies_to` lists the type;
/// else the profile that claims `"*"`; else the empty permission set, with a warning.
@Suite struct TypeToProfileTests {
    @Test func theClaimingProfileIsChosenOverTheWildcard() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("profiles/w.yaml", Fixture.profile(name: "fallback", appliesTo: "[\"*\"]", permissions: "[]"))
        try p.write("agents/a.yaml", Fixture.customAgent())
        #expect(try p.check().errors.isEmpty)
        let policy = try p.explainJSON("sample")
        #expect(policy["profile"] as? String == "custom")
        #expect(policy["profile_file"] as? String == "profiles/c.yaml")
        #expect(policy["permissions"] as? [String] == ["read_files"])
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.first?["reason"] as? String == "profiles/c.yaml claims type 'custom'")
    }

    @Test func anUnclaimedTypeFallsBackToTheWildcard() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("profiles/w.yaml", Fixture.profile(name: "fallback", appliesTo: "[\"*\"]", permissions: "[]", memoryMB: "128"))
        try p.write("agents/a.yaml", Fixture.agent(type: "poet"))
        let r = try p.check()
        #expect(r.errors.isEmpty && r.warnings.isEmpty, "\(r.output.stdout)")
        let policy = try p.explainJSON("sample")
        #expect(policy["profile"] as? String == "fallback")
        #expect(policy["permissions"] as? [String] == [])
        #expect((policy["limits"] as? [String: Any])?["memory_mb"] as? Int == 128)
        let decisions = policy["decisions"] as? [[String: Any]] ?? []
        #expect(decisions.first?["reason"] as? String == "no profile claims type 'poet'; profiles/w.yaml claims '*'")
    }

    @Test func theShippedRestrictedProfileIsTheFallback() throws {
        let p = try Project(copyShippedProfiles: true)
        try p.write("agents/a.yaml", Fixture.agent(type: "poet"))
        #expect(try p.check().errors.isEmpty)
        let policy = try p.explainJSON("sample")
        #expect(policy["profile"] as? String == "restricted")
        #expect(policy["permissions"] as? [String] == [])
    }

    @Test func noProfileForTheTypeMeansTheEmptySetWithAWarning() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("agents/a.yaml", Fixture.agent(type: "poet"))
        let r = try p.check()
        #expect(r.errors.isEmpty)
        #expect(r.warnings == ["agents/a.yaml:3:7: warning: type: no profile claims type 'poet': it runs with the empty permission set"],
                "\(r.output.stdout)")
        #expect(r.status == 0)
        let policy = try p.explainJSON("sample")
        #expect(policy["profile"] == nil)
        #expect(policy["permissions"] as? [String] == [])
        #expect(policy["read_paths"] as? [String] == [])
        #expect(policy["write_paths"] as? [String] == [])
        // The built-in small limits.
        let limits = policy["limits"] as? [String: Int]
        #expect(limits == ["memory_mb": 512, "cpu_seconds": 60, "timeout_seconds": 300, "max_processes": 16,
                           "max_open_files": 64, "max_file_size_mb": 16, "max_output_bytes": 1_048_576])
        let text = try p.explain("sample")
        #expect(text.stdout.contains("  profile           (none: the empty permission set)"))
    }

    @Test func withoutAnyProfileANativeAgentAskingForMoreIsRefused() throws {
        let p = try Project()
        try p.write("agents/a.yaml", Fixture.agent(type: "poet", extra: ["network_access: true"]))
        let r = try p.check()
        #expect(r.errors == ["agents/a.yaml:9:17: network_access: the empty permission set does not grant network_access"],
                "\(r.output.stdout)")
        #expect(r.status == 1)
        #expect(try p.explain("sample").status == 1)
    }

    @Test func withoutAnyProfileANativeAgentAskingForPathsOrVariablesIsRefused() throws {
        let p = try Project()
        try p.write("agents/a.yaml", Fixture.agent(type: "poet", extra: ["file_access: {read_paths: [docs]}", "env: [LANG]"]))
        let r = try p.check()
        #expect(r.errors == [
            "agents/a.yaml:9:28: file_access.read_paths: the empty permission set does not grant read_files",
            "agents/a.yaml:10:7: env: LANG is not allowed by the empty permission set (env.allow)",
        ], "\(r.output.stdout)")
    }

    @Test func withoutAnyProfileAClaudeMPMAgentIsClampedToNothing() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile(extra: ["runtime: [/bin/cat, \"{instructions}\"]"]))
        try p.write("agents/m.md", "---\nagent_id: md\nagent_type: poet\ntools: Read, WebFetch\ncapabilities:\n  network_access: true\n---\nDo the work well.\n")
        let r = try p.check()
        // No profile claims `poet`, and a Markdown agent has no command of its own: nothing can run it.
        #expect(r.errors == ["agents/m.md:3:13: command: the agent has no command and no profile claims its type"], "\(r.output.stdout)")
    }

    @Test func withoutAProfileAClaudeMPMAgentHasNothingToRun() throws {
        let p = try Project()
        try p.write("agents/h.md", "---\nname: helper\n---\nHelp with whatever is asked.\n")
        let r = try p.check()
        #expect(r.errors == ["agents/h.md:2:1: command: the agent has no command and no profile claims its type"], "\(r.output.stdout)")
        #expect(try p.explain("helper").status == 1)
    }

    @Test func aTypelessAgentUsesTheWildcard() throws {
        let p = try Project()
        try p.write("profiles/w.yaml", Fixture.profile(name: "fallback", appliesTo: "[\"*\"]",
                                                       extra: ["runtime: [/bin/cat, \"{instructions}\"]"]))
        try p.write("agents/h.md", "---\nname: helper\n---\nHelp with whatever is asked.\n")
        #expect(try p.check().errors.isEmpty)
        #expect(try p.explainJSON("helper")["profile"] as? String == "fallback")
    }

    @Test func wildcardClaimedTwiceRefusesTheFallback() throws {
        let p = try Project()
        try p.write("profiles/a.yaml", Fixture.profile(name: "one", appliesTo: "[\"*\"]"))
        try p.write("profiles/b.yaml", Fixture.profile(name: "two", appliesTo: "[\"*\"]"))
        try p.write("agents/a.yaml", Fixture.agent(type: "poet"))
        let r = try p.check()
        #expect(r.errors == [
            "profiles/b.yaml:3:14: applies_to: type '*' is also claimed by profiles/a.yaml",
            "agents/a.yaml:3:7: type: '*' is claimed by more than one profile",
        ], "\(r.output.stdout)")
        #expect(try p.explain("sample").status == 1)
    }

    @Test func typeNamesAreMatchedExactly() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("agents/a.yaml", Fixture.agent(type: "Custom"))
        let r = try p.check()
        #expect(r.warnings == ["agents/a.yaml:3:7: warning: type: no profile claims type 'Custom': it runs with the empty permission set"],
                "\(r.output.stdout)")
    }

    @Test func editsTakeEffectAtTheNextInvocation() throws {
        let p = try Project()
        try p.write("profiles/c.yaml", Fixture.profile())
        try p.write("agents/a.yaml", Fixture.customAgent())
        #expect(try p.explainJSON("sample")["permissions"] as? [String] == ["read_files"])
        try p.write("profiles/c.yaml", Fixture.profile(permissions: "[read_files, write_files]"))
        #expect(try p.explainJSON("sample")["permissions"] as? [String] == ["read_files", "write_files"])
    }
}
