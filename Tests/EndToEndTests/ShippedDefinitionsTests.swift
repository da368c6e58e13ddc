import Foundation
import Testing

/// The agents and profiles the repository ships are sound, and every one can be explained.
@Suite struct ShippedDefinitionsTests {
    @Test func checkPassesOnTheShippedAgentsAndProfiles() throws {
        let r = try MPMRun.run(["check"], cwd: Repository.root)
        #expect(r.status == 0, "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains(" 0 errors"))
    }

    @Test func checkJSONReportsOK() throws {
        let r = try MPMRun.run(["check", "--json"], cwd: Repository.root)
        #expect(r.status == 0)
        let obj = try JSONSerialization.jsonObject(with: r.stdoutBytes) as? [String: Any]
        #expect(obj?["ok"] as? Bool == true)
        #expect((obj?["agents"] as? Int ?? 0) >= 4)
    }

    @Test func explainRendersEveryShippedAgent() throws {
        let ids = ["word-count", "doc-reviewer", "test-runner", "changelog-writer"]
        for id in ids {
            let text = try MPMRun.run(["explain", id], cwd: Repository.root)
            #expect(text.status == 0, "\(id): \(text.stderr)")
            #expect(text.stdout.hasPrefix("agent \(id) "))
            let json = try MPMRun.run(["explain", id, "--json"], cwd: Repository.root)
            #expect(json.status == 0)
            let obj = try JSONSerialization.jsonObject(with: json.stdoutBytes) as? [String: Any]
            #expect((obj?["agent"] as? [String: Any])?["id"] as? String == id)
        }
    }

    @Test func explainShowsTheClampsAndTheirSource() throws {
        let r = try MPMRun.run(["explain", "test-runner"], cwd: Repository.root)
        // tools [Read, Bash, Grep] keep read_files and execute_commands of the qa profile.
        #expect(r.stdout.contains("read_files        yes"))
        #expect(r.stdout.contains("execute_commands  yes"))
        // The lightweight tier sets 1024 MB and 120 s of CPU; the agent lowers both:
        // memory to 768, and CPU to its cpu_limit of 30% of the 300 s timeout.
        #expect(r.stdout.contains("memory_mb: asked 768, granted 768: lowered by the agent (agents/test-runner.json:"))
        #expect(r.stdout.contains("cpu_seconds: asked 30%, granted 90: 30% of the 300 s timeout"))
    }
}
