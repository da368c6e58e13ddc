import Foundation
import Testing

/// helper-14's review of 48b2dd6 (the gate): the gate's and the notify pipe's ends reach no
/// agent, also while other runs are at their gate or running in the same serve.
@Suite struct GateFDReviewTests {
    static let generous = "max_denials_per_run: 20, quarantine_after_incidents: 1000, max_launches_per_minute: 100000"

    @Test func agentsInheritOnlyTheirStdio() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"], incidents: Self.generous)
        try p.agent("sleeper", ["sleep", "30"])
        try p.agent("fds", ["-c", "for f in /proc/self/fd/*; do echo ${f##*/}; done"], command: "/bin/sh")
        let serve = try ServeSession(p)
        var sleepers: [String] = []
        for _ in 0..<3 {
            let a = try serve.call("run", ["agent": "sleeper"])
            sleepers.append(try #require((a["result"] as? [String: Any])?["run_id"] as? String))
        }
        var ids: [String] = []
        for _ in 0..<6 {
            let a = try serve.call("run", ["agent": "fds"])
            ids.append(try #require((a["result"] as? [String: Any])?["run_id"] as? String))
        }
        for id in ids {
            let exited = serve.exited(id)
            let text = String(decoding: serve.stdout(of: id), as: UTF8.self)
            let fds = text.split(whereSeparator: \.isNewline).compactMap { Int($0) }.sorted()
            // 0, 1, 2 and the directory sh's glob has open (3 at most); nothing above.
            #expect(exited?["exit_code"] as? Int == 0 && fds.first == 0 && (fds.last ?? 99) <= 3, "\(fds) \(text) \(exited ?? [:])")
        }
        for id in sleepers { _ = try serve.call("cancel", ["run_id": id]); _ = serve.exited(id) }
        serve.closeInput()
        #expect(serve.waitForExit()?.status == 0)
    }
}
