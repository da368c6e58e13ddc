import Foundation
import Testing

/// helper-14's review of 48b2dd6 (the gate): a run whose start is on record but whose agent
/// fails before execve ends in `--json` with run/started and no run/exited.
@Suite struct GateJSONReviewTests {
    static let generous = "max_denials_per_run: 20, quarantine_after_incidents: 1000, max_launches_per_minute: 100000"

    /// `mpm-run --json big`, whose agent's execve fails with E2BIG after run_started is on record:
    /// the stream that said run/started must also say run/exited (README: the notifications are
    /// run/started, run/output, run/event, run/exited), like serve does for the same run.
    @Test func jsonStreamThatSaysStartedAlsoSaysExited() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: Self.generous)
        try p.agent("big", ["echo", String(repeating: "a", count: 200_000)])
        let big = try runToEnd(p, ["big", "--json"])
        #expect(big.status == 126, "\(big.status) \(big.stderr)")
        let methods = big.stdout.split(separator: "\n").compactMap { line -> String? in
            guard let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else { return nil }
            return o["method"] as? String
        }
        // Either nothing (as before the gate) or a complete run: started ... exited.
        #expect(methods.isEmpty || (methods.first == "run/started" && methods.last == "run/exited"),
                "stdout notifications: \(methods)")
        let started = try p.audit("run_started").count, exited = try p.audit("run_exited").count
        #expect(started == exited, "\(started) run_started, \(exited) run_exited")
    }
}
