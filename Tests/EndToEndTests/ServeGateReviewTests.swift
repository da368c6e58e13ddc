import Foundation
import Testing

/// helper-14's review of 48b2dd6 (the gate): run/started is now announced while the run's
/// start is recorded, inside the launch, before the run's control is attached; a status asked
/// right after run/started can say "starting" with no pid (ServeTests.listExplainAndStatus
/// failed so under the thread sanitizer).
@Suite struct ServeGateReviewTests {
    static let generous = "max_denials_per_run: 20, quarantine_after_incidents: 1000, max_launches_per_minute: 100000"

    @Test func statusAfterRunStartedSaysRunningWithAPid() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"], incidents: Self.generous)
        try p.agent("sleeper", ["sleep", "30"])
        let serve = try ServeSession(p)
        var wrong: [String] = []
        for _ in 0..<40 {
            let answer = try serve.call("run", ["agent": "sleeper"])
            let id = try #require((answer["result"] as? [String: Any])?["run_id"] as? String, "\(answer) \(serve.received.suffix(3))")
            _ = serve.waitFor {
                $0["method"] as? String == "run/started" && ($0["params"] as? [String: Any])?["run_id"] as? String == id
            }
            let status = try #require(try serve.call("status")["result"] as? [String: Any])
            let run = (status["runs"] as? [[String: Any]])?.first { $0["run_id"] as? String == id }
            let state = run?["state"] as? String, pid = run?["pid"] as? Int ?? 0
            if state != "running" || pid <= 0 {
                usleep(300_000)
                let later = (try serve.call("status")["result"] as? [String: Any])?["runs"] as? [[String: Any]]
                let again = later?.first { $0["run_id"] as? String == id }
                wrong.append("\(state ?? "nil")/\(pid), 0.3 s later \(again?["state"] as? String ?? "nil")/\(again?["pid"] as? Int ?? 0)")
            }
            _ = try serve.call("cancel", ["run_id": id])
            _ = serve.exited(id)
        }
        #expect(wrong.isEmpty, "after run/started, status said: \(wrong)")
        serve.closeInput()
        #expect(serve.waitForExit()?.status == 0)
    }
}
