import Foundation
import Testing

/// Denials and incidents, caused for real and recorded: in the audit log, on stderr, and as
/// `--json` events.
@Suite struct EventTests {
    @Test(arguments: Supervisor.available)
    func eachDeniedCallIsOnePermissionDeniedEventNamingTheSyscallAndPermission(_ s: Supervisor) throws {
        let cases: [(probe: [String], syscall: String, permission: String)] = [
            (["socket-inet"], "socket", "network_access"),
            (["ptrace", "1"], "ptrace", "always_denied"),
            (["exec", "/bin/true"], "execve", "execute_commands"),
            (["mount"], "mount", "always_denied"),
        ]
        for c in cases {
            let p = try SandboxProject(s, permissions: ["read_files"])
            try p.agent("probe-agent", c.probe)
            let r = try p.mpmRun(["probe-agent"])
            #expect(r.stdout.hasSuffix("denied EPERM\n"), "the agent still gets EPERM: \(r.stdout)")
            let denials = try p.audit("permission_denied")
            #expect(denials.count == 1, "\(c.syscall): \(denials)")
            let d = try #require(denials.first)
            #expect(d["syscall"] as? String == c.syscall)
            #expect(d["permission"] as? String == c.permission)
            #expect(d["plane"] as? String == "syscall")
            #expect((d["pid"] as? Int ?? 0) > 0)
            #expect(r.stderr.contains("mpm-run: denied: "), "reported on stderr as it happens: \(r.stderr)")
        }
    }

    @Test(arguments: Supervisor.available)
    func aRunIsRecordedFromStartToExitInAnIntactChain(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("probe-agent", ["exit", "3"])
        #expect(try p.mpmRun(["probe-agent"]).status == 3)
        let types = try p.auditRecords().map { $0["type"] as? String ?? "?" }
        #expect(types == ["run_started", "run_exited"])
        let exited = try #require(try p.audit("run_exited").first)
        #expect(exited["exit_code"] as? Int == 3)
        #expect(exited["reason"] as? String == "exited")
        #expect(exited["duration_ms"] is Int)
        #expect(exited["max_rss_kb"] is Int)
        let verify = try p.mpmRun(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func aMillionDenialAgentIsKilledByDenialBurstWithABoundedLog(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        // A million socket(AF_INET) calls, each denied; perl (Debian's perl-base) carries on.
        try p.agent("denier", ["-e", "for (1..1000000) { socket(S, 2, 1, 0) }"], command: "/usr/bin/perl")
        let start = Date()
        let r = try p.mpmRun(["denier"])
        #expect(Date().timeIntervalSince(start) < 20)
        #expect(r.status == 128 + 9, "\(r.status) \(r.stderr.suffix(300))")
        let records = try p.auditRecords()
        #expect(records.count < 40, "bounded: \(records.count) records")
        let denials = try p.audit("permission_denied").filter { $0["permission"] as? String != "*" }
        #expect(denials.count == 21, "one more than max_denials_per_run (20), one by one")
        let incident = try #require(try p.audit("incident").first)
        #expect(incident["kind"] as? String == "denial_burst")
        #expect(incident["action"] as? String == "killed")
        #expect(try p.audit("run_exited").first?["reason"] as? String == "denied")
    }

    @Test func pastThePerRunCapDenialsAreCountedAndSummarisedNotLost() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: "max_denials_per_run: 400")
        // 300 denied sockets, then the agent stops by itself.
        try p.agent("denier", ["-e", "for (1..300) { socket(S, 2, 1, 0) }"], command: "/usr/bin/perl")
        let r = try p.mpmRun(["denier"])
        #expect(r.status != 137, "not killed: 300 < 400")
        let denials = try p.audit("permission_denied")
        #expect(denials.count == 101, "100 one by one and a summary: \(denials.count)")
        let summary = try #require(denials.last)
        #expect(summary["count"] as? Int == 200)
        #expect((summary["reason"] as? String ?? "").contains("socket: 200"))
        #expect(summary["permission"] as? String == "*")
    }

    @Test(arguments: Supervisor.available)
    func incidentsAreRecordedWithTheirActionAndExitStatus(_ s: Supervisor) throws {
        let cases: [(probe: [String], limits: [String: Int], extra: [String], kind: String, status: Int32)] = [
            (["sleep", "30"], [:], ["--timeout", "1"], "timeout", 124),
            (["cpu-spin"], ["cpu_seconds": 1], [], "cpu_limit", 128 + 24),
            (["big-file", "temp/big"], ["max_file_size_mb": 1], [], "file_size_limit", 128 + 25),
        ]
        for c in cases {
            let p = try SandboxProject(s, permissions: [], limits: c.limits)
            try p.agent("probe-agent", c.probe)
            let r = try p.mpmRun(["probe-agent"] + c.extra)
            #expect(r.status == c.status || (c.kind == "cpu_limit" && r.status == 137), "\(c.kind): \(r.status)")
            let incidents = try p.audit("incident")
            #expect(incidents.map { $0["kind"] as? String } == [c.kind], "\(incidents)")
            #expect(incidents.first?["action"] as? String == "killed")
            #expect(r.stderr.contains("mpm-run: \(c.kind): "), "\(r.stderr)")
        }
    }

    @Test(arguments: Supervisor.available)
    func anOutputFloodIsKilledAtTheOutputLimit(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["max_output_bytes": 10_000])
        try p.agent("flood", ["-c", "while :; do echo 0123456789012345678901234567890123456789; done"], command: "/bin/sh")
        let r = try p.mpmRun(["flood"])
        #expect(r.stdout.utf8.count == 10_000, "exactly the limit is relayed")
        let incident = try #require(try p.audit("incident").first)
        #expect(incident["kind"] as? String == "output_limit")
        #expect(try p.audit("run_exited").first?["reason"] as? String == "limit")
    }

    @Test func memoryAndProcessLimitsAreSeenThroughTheRunsCgroups() throws {
        try #require(Supervisor.isRoot, "the run's cgroups need a root supervisor")
        let mem = try SandboxProject(.root, permissions: [], limits: ["memory_mb": 64])
        try mem.agent("probe-agent", ["memory-hog"])
        let m = try mem.mpmRun(["probe-agent"])
        #expect(m.status == 137, "the OOM killer ends it: \(m.status) \(m.stdout)")
        #expect(try mem.audit("incident").first?["kind"] as? String == "memory_limit")

        let procs = try SandboxProject(.root, permissions: ["execute_commands"], limits: ["max_processes": 20])
        try procs.agent("probe-agent", ["fork-bomb"])
        let f = try procs.mpmRun(["probe-agent"])
        #expect(f.stdout.hasPrefix("fork-bomb: stopped after"))
        let incident = try #require(try procs.audit("incident").first)
        #expect(incident["kind"] as? String == "process_limit")
        #expect(incident["action"] as? String == "refused")
    }

    @Test(arguments: Supervisor.available)
    func jsonPrintsOnlyTheRunsNotificationsOnStdout(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("talker", ["-c", "echo hello; echo oops >&2; printf 'caf\\303\\251\\n'"], command: "/bin/sh")
        let r = try p.mpmRun(["talker", "--json"])
        #expect(r.status == 0)
        let lines = r.stdout.split(separator: "\n")
        let objects = try lines.map { try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        let methods = objects.map { $0["method"] as? String ?? "?" }
        #expect(methods.first == "run/started")
        #expect(methods.last == "run/exited")
        #expect(Set(methods).isSubset(of: ["run/started", "run/output", "run/event", "run/exited"]))
        let outputs = objects.filter { $0["method"] as? String == "run/output" }.compactMap { $0["params"] as? [String: Any] }
        let stdout = outputs.filter { $0["stream"] as? String == "stdout" }.compactMap { $0["data"] as? String }.joined()
        let stderr = outputs.filter { $0["stream"] as? String == "stderr" }.compactMap { $0["data"] as? String }.joined()
        #expect(stdout == "hello\ncafé\n")
        #expect(stderr == "oops\n")
        let events = objects.filter { $0["method"] as? String == "run/event" }
            .compactMap { ($0["params"] as? [String: Any])?["event"] as? [String: Any] }
        #expect(events.map { $0["type"] as? String } == ["run_started", "run_exited"])
        #expect(events.map { $0["seq"] as? Int } == (try p.auditRecords()).map { $0["seq"] as? Int },
                "the same records as the audit log")
    }

    @Test(arguments: Supervisor.available)
    func aRefusedLaunchIsRecorded(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"])
        try p.agent("probe-agent", ["echo", "x"])
        let r = try p.mpmRun(["probe-agent", "--input", "/etc/hostname"])
        #expect(r.status == 125)
        let denial = try #require(try p.audit("permission_denied").first)
        #expect(denial["plane"] as? String == "launch")
        #expect(denial["path"] as? String == "/etc/hostname")
        let unknown = try p.mpmRun(["no-such-agent"])
        #expect(unknown.status == 125)
        #expect(try p.audit("agent_rejected").first?["agent_id"] as? String == "no-such-agent")
    }

    @Test func anUnwritableAuditLogRefusesTheRun() throws {
        let p = try SandboxProject(.root, permissions: [])
        try p.agent("probe-agent", ["echo", "must not run"])
        let r = try p.mpmRun(["probe-agent"], environment: ["MPM_AUDIT_LOG": "/proc/mpm-run-cannot-write/audit.jsonl"])
        #expect(r.status == 125)
        #expect(r.stdout.isEmpty, "no unaudited run")
        #expect(r.stderr.split(separator: "\n").count == 1)
    }

    @Test(arguments: Supervisor.available)
    func fiveIncidentRunsQuarantineTheAgentUntilThePeriodPasses(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["max_output_bytes": 100],
                                   incidents: "quarantine_after_incidents: 5, quarantine_window_seconds: 300, quarantine_seconds: 3")
        try p.agent("flood", ["-c", "while :; do echo flooding the output limit; done"], command: "/bin/sh")
        for _ in 0..<5 { #expect(try p.mpmRun(["flood"]).status == 137) }
        let quarantine = try #require(try p.audit("incident").last)
        #expect(quarantine["kind"] as? String == "quarantined")
        #expect(quarantine["action"] as? String == "quarantined")

        let refused = try p.mpmRun(["flood"])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("is quarantined until"), "\(refused.stderr)")
        #expect(try p.audit("incident").last?["action"] as? String == "refused")
        #expect(try p.audit("run_started").count == 5, "the refused launch never started")

        #expect(try p.audit("released").isEmpty, "refused launches release nothing")

        Thread.sleep(forTimeInterval: 3.2)
        try p.agent("flood", ["-c", "echo calm"], command: "/bin/sh")
        let again = try p.mpmRun(["flood"])
        #expect(again.status == 0, "the quarantine has passed: \(again.stderr)")
        // That launch recorded the quarantine's end, just before its run_started.
        let records = try p.auditRecords()
        let released = records.filter { $0["type"] as? String == "released" }
        #expect(released.count == 1, "\(released)")
        let release = try #require(released.first)
        #expect(release["by"] as? String == "expiry")
        #expect(release["agent_id"] as? String == "flood")
        #expect(release["until"] as? String == quarantine["until"] as? String)
        #expect((release["detail"] as? String ?? "").contains("quarantine ended at"))
        let started = try #require(records.last { $0["type"] as? String == "run_started" })
        #expect(release["run_id"] as? String == started["run_id"] as? String)
        #expect(release["seq"] as? Int == (started["seq"] as? Int ?? 0) - 1, "released comes right before run_started")

        // The launch after that has nothing to release.
        #expect(try p.mpmRun(["flood"]).status == 0)
        #expect(try p.audit("released").count == 1, "exactly one release per quarantine")
        #expect(try p.audit("run_started").count == 7)
        let verify = try p.mpmRun(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func launchesPastTheRateLimitAreRefused(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: "max_launches_per_minute: 3")
        try p.agent("probe-agent", ["exit", "0"])
        for _ in 0..<3 { #expect(try p.mpmRun(["probe-agent"]).status == 0) }
        let refused = try p.mpmRun(["probe-agent"])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("was launched 3 times in the last 60 s"), "\(refused.stderr)")
        let incident = try #require(try p.audit("incident").last)
        #expect(incident["kind"] as? String == "rate_limit")
        #expect(incident["action"] as? String == "refused")
    }

    @Test(arguments: Supervisor.available)
    func sigtermToMPMRunEndsTheRunAndRecordsIt(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"])
        let name = "mpm-t\(UInt32.random(in: 0..<UInt32.max))"  // comm holds 15 characters
        try p.agent("sleeper", ["setsid-grandchild", name])
        let (process, stdout) = try p.start(["sleeper"])
        #expect(String(decoding: stdout.availableData, as: UTF8.self) == "setsid-grandchild: started\n")
        process.terminate()  // SIGTERM to mpm-run (setpriv passes it on for the nobody path)
        process.waitUntilExit()
        #expect(process.terminationStatus == 128 + 15)
        let incident = try #require(try p.audit("incident").first)
        #expect(incident["kind"] as? String == "supervisor_signal")
        #expect(incident["action"] as? String == "killed")
        #expect(try p.audit("run_exited").first?["reason"] as? String == "cancelled")
        #expect(EscapeTests.processes(named: name).isEmpty, "a process of the run outlived mpm-run")
        #expect(try p.mpmRun(["audit", "verify"]).status == 0)
    }
}
