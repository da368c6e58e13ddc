import Foundation
import Testing

/// What serve prepares once and reuses (the compiled seccomp program, the catalog, each
/// agent's recent activity) must decide every run exactly as a fresh start would.
@Suite struct ServePrepareOnceTests {
    func runID(_ answer: [String: Any]) -> String? { (answer["result"] as? [String: Any])?["run_id"] as? String }
    func errorCode(_ answer: [String: Any]) -> Int? { (answer["error"] as? [String: Any])?["code"] as? Int }

    /// The cached program carries each launch's own execve pointers: every run starts (its
    /// one execve passes) and every run's own execve attempt is still denied.
    @Test(arguments: Supervisor.available)
    func theCachedSeccompProgramAdmitsEachLaunchAndDeniesEveryLaterExec(supervisor: Supervisor) throws {
        let p = try SandboxProject(supervisor, permissions: ["read_files"], incidents: ServeTests.generous)
        try p.agent("execer", ["exec", "/bin/true"])
        try p.agent("forker", ["fork"])
        let serve = try ServeSession(p)
        for i in 0..<6 {
            let agent = i % 3 == 2 ? "forker" : "execer"
            let id = try #require(runID(try serve.call("run", ["agent": agent])))
            let exited = try #require(serve.exited(id))
            #expect(exited["reason"] as? String == "exited", "run \(i): \(exited)")
            let out = String(decoding: serve.stdout(of: id), as: UTF8.self)
            #expect(out == (agent == "forker" ? "fork: denied EPERM\n" : "exec: denied EPERM\n"), "run \(i)")
        }
        serve.closeInput()
        #expect(serve.waitForExit()?.status == 0)
    }

    /// The rate limit counts launches from other processes too: serve reads what they
    /// appended to the shared log since its last look.
    @Test func theRateLimitCountsLaunchesOfOtherProcesses() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"], incidents: "max_launches_per_minute: 3")
        try p.agent("echo", ["echo", "hi"])
        let serve = try ServeSession(p)
        for _ in 0..<2 {
            let id = try #require(runID(try serve.call("run", ["agent": "echo"])))
            _ = serve.exited(id)
        }
        // A third launch, by the CLI: serve has not seen it.
        #expect(try p.mpmRun(["echo"]).status == 0)
        let fourth = try serve.call("run", ["agent": "echo"])
        #expect(errorCode(fourth) == -32004, "\(fourth)")
        serve.closeInput()
        #expect(serve.waitForExit()?.status == 0)
    }
}
