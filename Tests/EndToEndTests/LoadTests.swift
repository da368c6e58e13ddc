import Foundation
import Testing

/// Issue 7, item 3: many supervisors at once on one audit log.
@Suite struct LoadTests {
    /// 20 `mpm-run <agent>` processes started together, sharing one audit log, each agent
    /// printing its own pseudo-random bytes: every byte arrives in order in its own process's
    /// stdout, and the log verifies with all 20 runs started and ended.
    @Test(arguments: Supervisor.available)
    func twentyCLIProcessesShareOneAuditLog(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: ServeTests.generous)
        try p.agent("random", ["random-out"])
        let count = 20
        let size = { (i: Int) in (i * 7919) % (256 << 10) + (64 << 10) }
        let started = Date()
        let runs = try (0..<count).map { i in
            try Spawned(p, ["random", "--", "\(1000 + i)", "\(size(i))"])
        }
        for r in runs { r.closeInput() }
        var total = 0
        var mismatches: [Int] = []
        for (i, r) in runs.enumerated() {
            let status = r.wait(timeout: 120)
            #expect(status == 0, "run \(i): \(String(describing: status)) \(r.stderr)")
            let got = r.stdout
            total += got.count
            let same = got == probeRandomBytes(seed: UInt64(1000 + i), count: size(i))  // a Bool: never #expect(a == b) on megabytes
            if !same { mismatches.append(i) }
        }
        let wall = Date().timeIntervalSince(started)
        #expect(mismatches.isEmpty, "runs whose bytes differ: \(mismatches)")
        let verify = try p.verifyAudit()
        #expect(verify.status == 0, "\(verify.text)")
        let startedIDs = Set(try p.audit("run_started").compactMap { $0["run_id"] as? String })
        let exited = try p.audit("run_exited")
        #expect(startedIDs.count == count)
        #expect(Set(exited.compactMap { $0["run_id"] as? String }) == startedIDs)
        #expect(exited.allSatisfy { $0["exit_code"] as? Int == 0 })
        let seqs = try p.auditRecords().compactMap { $0["seq"] as? Int }
        #expect(seqs == Array(1...seqs.count), "the seq numbers have a gap or a repeat")
        FaultFigures.note("load (\(s)): \(count) CLI processes at once, \(total) bytes byte-exact in \(ms(wall)); audit verify: \(verify.text)")
    }
}
