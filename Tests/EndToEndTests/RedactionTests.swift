import Foundation
import Testing

/// Secrets the agent prints never reach the terminal, the JSON stream or the audit log, also
/// when one is split across two writes, and each time an incident says so.
@Suite struct RedactionTests {
    /// An Anthropic-style key, built at run time so that no secret-shaped text sits in this file.
    static let key = "sk-" + "ant-api03-" + String(repeating: "Q7", count: 20)

    @Test(arguments: Supervisor.available)
    func aSecretSplitAcrossTwoWritesIsRedactedInTheStreamAndTheLog(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        let half = Self.key.index(Self.key.startIndex, offsetBy: 14)
        let first = String(Self.key[..<half]), second = String(Self.key[half...])
        try p.agent("leaky", ["-c", "printf 'key: \(first)'; printf '\(second) (end)\\n'; echo ok >&2"], command: "/bin/sh")
        let r = try p.mpmRun(["leaky"])
        #expect(r.stdout == "key: [REDACTED:api_key] (end)\n", "\(r.stdout)")
        #expect(r.stderr.contains("mpm-run: secret_in_output: redacted from the output: 1 api_key; redacted"))
        let incident = try #require(try p.audit("incident").first)
        #expect(incident["kind"] as? String == "secret_in_output")
        #expect(incident["action"] as? String == "redacted")
        let log = try String(contentsOfFile: p.auditLog, encoding: .utf8)
        #expect(!log.contains(Self.key))

        let json = try p.mpmRun(["leaky", "--json"])
        #expect(!json.stdout.contains(Self.key))
        #expect(json.stdout.contains("[REDACTED:api_key]"))
    }

    @Test(arguments: Supervisor.available)
    func aSecretThePolicyPassedIsRedactedWhenTheAgentPrintsIt(_ s: Supervisor) throws {
        // A value of no known shape: only its being a secret of the run makes it one.
        let value = "zq9-correct-horse-battery-staple-\(UInt32.random(in: 0..<UInt32.max))"
        let p = try SandboxProject(s, permissions: [], envSecrets: ["SERVICE_SECRET"])
        try p.agent("echoer", ["-c", "echo \"secret=$SERVICE_SECRET\""], command: "/bin/sh", env: ["SERVICE_SECRET"])
        let r = try p.mpmRun(["echoer"], environment: ["SERVICE_SECRET": value])
        #expect(r.stdout == "secret=[REDACTED:env_secret]\n", "\(r.stdout)\(r.stderr)")
        #expect(!(try String(contentsOfFile: p.auditLog, encoding: .utf8)).contains(value))
    }

    @Test(arguments: Supervisor.available)
    func outputWithoutNewlinesIsNotHeldBack(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("prompt", ["-c", "printf 'Password: '; sleep 2; echo"], command: "/bin/sh")
        let start = Date()
        let (process, stdout) = try p.start(["prompt"])
        let chunk = stdout.availableData
        let at = Date().timeIntervalSince(start)
        process.waitUntilExit()
        #expect(String(decoding: chunk, as: UTF8.self) == "Password: ")
        #expect(at < 1.5, "the prompt came after \(at) s")
    }
}
