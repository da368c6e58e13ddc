import Foundation
import Testing

/// Real agents from the Claude MPM ecosystem, kept beside the repository in
/// `../shared/reference/claude-mpm/` (not copied into it), load with warnings only.
@Suite struct ClaudeMPMReferenceSamplesTests {
    static let samples = Repository.root + "/../shared/reference/claude-mpm"
    static var samplesPresent: Bool { FileManager.default.fileExists(atPath: samples + "/SOURCES.md") }

    /// A project with the shipped profiles and every *.md and *.json sample as an agent.
    func project() throws -> Project {
        let p = try Project(copyShippedProfiles: true)
        let names = try FileManager.default.contentsOfDirectory(atPath: Self.samples)
            .filter { ($0.hasSuffix(".md") || $0.hasSuffix(".json")) && $0 != "SOURCES.md" }
        #expect(names.count >= 5, "\(names)")
        for name in names {
            try p.write("agents/" + name, try Data(contentsOf: URL(fileURLWithPath: Self.samples + "/" + name)))
        }
        return p
    }

    static let ids = ["engineer", "qa", "qa-agent", "security", "project_qa"]

    @Test(.enabled(if: samplesPresent, "the Claude MPM samples are not at ../shared/reference/claude-mpm beside the repository"))
    func samplesLoadWithWarningsOnly() throws {
        let p = try project()
        let r = try p.check()
        #expect(r.errors.isEmpty, "\(r.output.stdout)")
        #expect(r.status == 0)
        #expect(r.summary.hasPrefix("checked \(Self.ids.count) agents and \(Fixture.shippedProfiles) profiles: 0 errors, "), "\(r.summary)")
        // What the real files do that a strict schema would refuse shows up as warnings.
        #expect(r.warnings.contains { $0.hasPrefix("agents/engineer.md:") && $0.contains("capabilities.network_access: profile 'engineer' does not grant network_access; clamped") },
                "\(r.output.stdout)")
        #expect(r.warnings.contains { $0.hasPrefix("agents/qa.md:") && $0.contains("capabilities.memory_limit: 3072 exceeds the profile 'qa' limit of 2048; clamped") },
                "\(r.output.stdout)")
    }

    @Test(.enabled(if: samplesPresent, "the Claude MPM samples are not at ../shared/reference/claude-mpm beside the repository"),
          arguments: ids)
    func everySampleCanBeExplained(id: String) throws {
        let p = try project()
        let text = try p.explain(id)
        #expect(text.status == 0, "\(id): \(text.stderr)")
        #expect(text.stdout.hasPrefix("agent \(id) "), "\(text.stdout)")
        let policy = try p.explainJSON(id)
        #expect((policy["agent"] as? [String: Any])?["id"] as? String == id)
        // No command in these formats: the profile's runtime runs them.
        #expect((policy["argv"] as? [String])?.last == "{instructions}")
    }

    @Test(.enabled(if: samplesPresent, "the Claude MPM samples are not at ../shared/reference/claude-mpm beside the repository"))
    func samplesMapToTheirProfilesAndAreNeverWidened() throws {
        let p = try project()
        let expected: [String: (format: String, profile: String, permissions: [String])] = [
            // engineer asks for the network; the engineer profile does not grant it.
            "engineer": ("markdown", "engineer", ["read_files", "write_files"]),
            "qa": ("markdown", "qa", ["read_files", "execute_commands"]),
            "qa-agent": ("json", "qa", ["read_files", "execute_commands"]),
            "security": ("markdown", "security", ["read_files"]),
            // A Claude Code agent without agent_type: the '*' fallback grants nothing, whatever its tools.
            "project_qa": ("claude-code", "restricted", []),
        ]
        for (id, want) in expected {
            let policy = try p.explainJSON(id)
            #expect((policy["agent"] as? [String: Any])?["format"] as? String == want.format, "\(id)")
            #expect(policy["profile"] as? String == want.profile, "\(id)")
            #expect(policy["permissions"] as? [String] == want.permissions, "\(id)")
        }
    }
}
