import Foundation
import Testing

/// Issue 7, item 2: what happens to runs, sandboxes and the audit log when mpm-run is killed,
/// signalled, starved of disk or descriptors, or handed input that changes under it. In every
/// case: one clear outcome, no crash, no process of a run left, nothing recorded lost.
@Suite struct FaultInjectionTests {
    static let generous = "max_denials_per_run: 20, quarantine_after_incidents: 1000, max_launches_per_minute: 100000"

    // MARK: - SIGKILL

    /// `mpm-run <agent>` killed with SIGKILL while its agent and a setsid grandchild run:
    /// every process of the run dies with it, the sandbox it left is removed by the next
    /// mpm-run that starts, and the audit log still verifies.
    @Test(arguments: Supervisor.available)
    func sigkillOfTheCLILeavesNoProcessAndTheNextStartSweeps(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        let name = uniqueMarker("mpmk")
        try p.agent("escaper", ["setsid-grandchild", name])
        let run = try Spawned(p, ["escaper"], environment: ["TMPDIR": tmp])
        #expect(run.waitForStdout { $0.contains("started") }, "\(run.stderr)")
        let grandchild = try #require(eventually { processes(named: name).first }, "the grandchild never started")
        #expect(pids(withCommandLineContaining: name).count >= 2, "the agent and its grandchild")
        let left = try #require(p.sandboxes(in: tmp).first, "no sandbox while the run goes on")

        let killed = Date()
        kill(run.pid, SIGKILL)
        #expect(run.wait() == -SIGKILL)
        let gone = eventually(timeout: 5) { pids(withCommandLineContaining: name).isEmpty && kill(grandchild, 0) != 0 ? true : nil }
        let cleanup = Date().timeIntervalSince(killed)
        #expect(gone == true, "processes of the run survived mpm-run: \(pids(withCommandLineContaining: name))")
        #expect(p.sandboxes(in: tmp) == [left], "the killed run's sandbox is left for the next start")
        FaultFigures.note("SIGKILL CLI (\(s)): run processes gone \(ms(cleanup)) after the kill")

        // The next mpm-run removes it as it starts, before its own run.
        try p.agent("quick", ["exit", "0"])
        let sweepStart = Date()
        let next = try runToEnd(p, ["quick"], environment: ["TMPDIR": tmp])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(p.sandboxes(in: tmp).isEmpty, "the stale sandbox was not swept")
        FaultFigures.note("SIGKILL CLI (\(s)): stale sandbox removed by the next start (its whole run took \(ms(Date().timeIntervalSince(sweepStart))))")

        let verify = try p.verifyAudit()
        #expect(verify.status == 0, "\(verify.text)")
        // The killed run has its start on record and, necessarily, no end.
        let killedRun = try #require(try p.runID(withArgument: name))
        #expect(try p.records(ofRun: killedRun).map { $0["type"] as? String } == ["run_started"])
    }

    /// `mpm-run serve` killed with SIGKILL while three runs (each with a setsid grandchild)
    /// go on: none survives, the next start sweeps all three sandboxes, the log verifies.
    @Test(arguments: Supervisor.available)
    func sigkillOfServeWithSeveralRunsLeavesNoProcess(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("escaper", ["setsid-grandchild"])
        let serve = try Spawned(p, ["serve"], environment: ["TMPDIR": tmp])
        let names = (0..<3).map { _ in uniqueMarker("mpms") }
        for (i, name) in names.enumerated() {
            serve.send(#"{"jsonrpc":"2.0","id":\#(i),"method":"run","params":{"agent":"escaper","args":["\#(name)"]}}"#)
        }
        let all = eventually(timeout: 20) { names.allSatisfy { !processes(named: $0).isEmpty } ? true : nil }
        #expect(all == true, "the grandchildren never all started: \(serve.stderr)")
        #expect(p.sandboxes(in: tmp).count == 3)

        let killed = Date()
        kill(serve.pid, SIGKILL)
        #expect(serve.wait() == -SIGKILL)
        let gone = eventually(timeout: 5) { names.allSatisfy { pids(withCommandLineContaining: $0).isEmpty } ? true : nil }
        #expect(gone == true, "processes of serve's runs survived it")
        FaultFigures.note("SIGKILL serve, 3 runs (\(s)): run processes gone \(ms(Date().timeIntervalSince(killed))) after the kill")
        #expect(p.sandboxes(in: tmp).count == 3)

        try p.agent("quick", ["exit", "0"])
        let next = try runToEnd(p, ["quick"], environment: ["TMPDIR": tmp])
        #expect(next.status == 0, "\(next.stderr)")
        #expect(p.sandboxes(in: tmp).isEmpty, "stale sandboxes left: \(p.sandboxes(in: tmp))")
        let verify = try p.verifyAudit()
        #expect(verify.status == 0, "\(verify.text)")
        #expect(try p.audit("run_started").count == 4)
    }

    // MARK: - SIGTERM, SIGINT

    /// SIGTERM or SIGINT to `mpm-run <agent>`: the run is ended (grandchild too), its
    /// sandbox removed, a supervisor_signal incident and the run's end recorded, and mpm-run
    /// exits 128+N at once.
    @Test(arguments: Supervisor.available, [SIGTERM, SIGINT])
    func aTerminationSignalEndsTheCLIRunGracefully(_ s: Supervisor, _ signo: Int32) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        let name = uniqueMarker("mpmt")
        try p.agent("escaper", ["setsid-grandchild", name])
        let run = try Spawned(p, ["escaper"], environment: ["TMPDIR": tmp])
        #expect(run.waitForStdout { $0.contains("started") }, "\(run.stderr)")
        #expect(eventually { processes(named: name).first } != nil)
        let sent = Date()
        kill(run.pid, signo)
        let status = run.wait(timeout: 10)
        let took = Date().timeIntervalSince(sent)
        #expect(status == 128 + signo, "\(String(describing: status)) \(run.stderr)")
        #expect(run.stderrLines == ["mpm-run: supervisor_signal: mpm-run received signal \(signo); killed"], "\(run.stderr)")
        #expect(pids(withCommandLineContaining: name).isEmpty, "a process of the run survived")
        #expect(p.sandboxes(in: tmp).isEmpty, "the sandbox was not removed")
        let id = try #require(try p.runID(withArgument: name))
        let records = try p.records(ofRun: id)
        #expect(records.map { $0["type"] as? String } == ["run_started", "incident", "run_exited"])
        #expect(records.first { $0["type"] as? String == "incident" }?["kind"] as? String == "supervisor_signal")
        #expect(records.last?["reason"] as? String == "cancelled")
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("signal \(signo) to CLI (\(s)): exit \(String(describing: status)) after \(ms(took))")
    }

    /// SIGTERM or SIGINT to serve with three runs going: every run is cancelled and its end
    /// recorded, serve exits 0, nothing of the runs is left.
    @Test(arguments: [SIGTERM, SIGINT])
    func aTerminationSignalToServeCancelsAndRecordsEveryRun(_ signo: Int32) throws {
        let p = try SandboxProject(.root, permissions: ["execute_commands"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("escaper", ["setsid-grandchild"])
        let serve = try Spawned(p, ["serve"], environment: ["TMPDIR": tmp])
        let names = (0..<3).map { _ in uniqueMarker("mpmv") }
        for (i, name) in names.enumerated() {
            serve.send(#"{"jsonrpc":"2.0","id":\#(i),"method":"run","params":{"agent":"escaper","args":["\#(name)"]}}"#)
        }
        #expect(eventually(timeout: 20) { names.allSatisfy { !processes(named: $0).isEmpty } ? true : nil } == true)
        let sent = Date()
        kill(serve.pid, signo)
        let status = serve.wait(timeout: 20)
        let took = Date().timeIntervalSince(sent)
        #expect(status == 0, "\(serve.stderr)")
        #expect(serve.stderrLines == ["mpm-run serve: received signal \(signo): cancelling every run"], "\(serve.stderr)")
        #expect(names.allSatisfy { pids(withCommandLineContaining: $0).isEmpty })
        #expect(p.sandboxes(in: tmp).isEmpty)
        for name in names {
            let id = try #require(try p.runID(withArgument: name))
            let records = try p.records(ofRun: id)
            #expect(records.last?["type"] as? String == "run_exited", "\(name): \(records)")
            #expect(records.last?["reason"] as? String == "cancelled")
        }
        let exited = serve.stdoutText.split(separator: "\n").filter { $0.contains(#""run/exited""#) }
        #expect(exited.count == 3)
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("signal \(signo) to serve, 3 runs: exit \(String(describing: status)) after \(ms(took))")
    }

    // MARK: - The audit log: disk full, file size limit, unwritable

    /// The audit log's file system fills up: runs go on while their records fit, and once a
    /// record does not, the log still verifies (no torn line), a run is refused with one line,
    /// and runs work again once there is room.
    @Test(.enabled(if: SmallTmpfs.available, "mounting a tmpfs needs root (CAP_SYS_ADMIN)"), arguments: Supervisor.available)
    func aFullDiskRefusesTheRunAndCorruptsNothing(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: Self.generous)
        let mount = try SmallTmpfs(at: p.root + "/state", size: "64k", owner: s == .nobody ? 65534 : 0)
        defer { mount.unmount() }
        try p.agent("echo", ["echo", "hello"])
        let first = try runToEnd(p, ["echo"])
        #expect(first.status == 0 && first.stdout == "hello\n", "\(first.stderr)")
        let filler = mount.path + "/filler"
        mount.fill(filler)

        // The log's last page still has room for a few records; runs go on until it is full.
        var failed: (status: Int32, stdout: String, stderr: String)?
        var runs = 0
        while failed == nil && runs < 40 {
            runs += 1
            let r = try runToEnd(p, ["echo"])
            #expect(!looksLikeACrash(r.status, r.stderr), "\(r.status) \(r.stderr)")
            let v = try p.verifyAudit()
            #expect(v.status == 0, "after run \(runs): \(v.text)")
            if r.status != 0 || !r.stderr.isEmpty { failed = r }
        }
        let firstFailure = try #require(failed, "the log never filled up")
        #expect(firstFailure.stderr.split(separator: "\n").count == 1, "\(firstFailure.stderr)")
        #expect(firstFailure.stderr.contains("audit log"), "\(firstFailure.stderr)")
        FaultFigures.note("disk full (\(s)): \(runs - 1) runs fitted in the last page; the run that hit ENOSPC: exit \(firstFailure.status), \(firstFailure.stderr.trimmingCharacters(in: .newlines))")

        // Now not even run_started fits: the run must be refused, the agent's output unseen.
        let refused = try runToEnd(p, ["echo"])
        #expect(!looksLikeACrash(refused.status, refused.stderr))
        #expect(refused.stderr.split(separator: "\n").count == 1, "\(refused.stderr)")
        #expect(refused.stderr.contains("audit log"), "\(refused.stderr)")
        do {
            #expect(refused.status == 125, "\(refused.status) \(refused.stderr)")
            #expect(refused.stdout.isEmpty, "an unaudited run's output reached the user")
        }
        FaultFigures.note("disk full (\(s)): next run exit \(refused.status), stdout \(refused.stdout.debugDescription), \(refused.stderr.trimmingCharacters(in: .newlines))")
        let v = try p.verifyAudit()
        #expect(v.status == 0, "\(v.text)")

        // Room again: runs work, and the chain goes on from where it stopped.
        unlink(filler)
        let again = try runToEnd(p, ["echo"])
        #expect(again.status == 0 && again.stdout == "hello\n", "\(again.stderr)")
        #expect(try p.verifyAudit().status == 0)
    }

    /// mpm-run under a file size limit (RLIMIT_FSIZE) that the log has reached: no SIGXFSZ
    /// death, the run is refused with one line, the log still verifies.
    @Test(arguments: Supervisor.available)
    func aFileSizeLimitOnTheLogRefusesTheRunWithoutACrash(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("echo", ["echo", "hello"])
        // A log of a few KiB: bigger than the seccomp filter that a launch writes to a memfd
        // (about 2 KiB), so that the log is what meets the limit. Then a log of one run, which
        // the filter's memfd meets first.
        for _ in 0..<4 { #expect(try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp]).status == 0) }
        let size = try #require(try FileManager.default.attributesOfItem(atPath: p.auditLog)[.size] as? Int)
        // Room for part of one record: the write is cut short by the limit, then fails.
        for limit in [size + 100, size] {
            // SIGXFSZ at its default, as from a shell (the test runner may ignore it).
            let r = try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp],
                                 prefix: [Probe.path, "exec-dfl", "/usr/bin/prlimit", "--fsize=\(limit):unlimited", "--"])
            #expect(!looksLikeACrash(r.status, r.stderr), "limit \(limit - size) bytes past the log: \(r.status) \(r.stderr)")
            #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
            #expect(r.stderr.contains("audit log"), "\(r.stderr)")
            do {
                #expect(r.status == 125 && r.stdout.isEmpty, "\(r.status) \(r.stdout.debugDescription)")
            }
            let v = try p.verifyAudit()
            #expect(v.status == 0, "\(v.text)")
            FaultFigures.note("RLIMIT_FSIZE log (\(size) B)+\(limit - size) B (\(s)): exit \(r.status), stdout \(r.stdout.debugDescription), \(r.stderr.trimmingCharacters(in: .newlines))")
        }
        // A small log: the limit is met by the seccomp filter's memfd before the log.
        try Data().write(to: URL(fileURLWithPath: p.auditLog))
        #expect(try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp]).status == 0)
        let small = try #require(try FileManager.default.attributesOfItem(atPath: p.auditLog)[.size] as? Int)
        let r = try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp],
                             prefix: [Probe.path, "exec-dfl", "/usr/bin/prlimit", "--fsize=\(small + 100):unlimited", "--"])
        #expect(!looksLikeACrash(r.status, r.stderr), "\(r.status) \(r.stderr)")
        #expect(r.status == 125 && r.stdout.isEmpty && r.stderr.split(separator: "\n").count == 1, "\(r.status) \(r.stderr)")
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("RLIMIT_FSIZE log (\(small) B)+100 B (\(s)): exit \(r.status), \(r.stderr.trimmingCharacters(in: .newlines))")
        #expect(p.sandboxes(in: tmp).isEmpty)
        #expect(try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp]).status == 0)
        #expect(try p.verifyAudit().status == 0)
    }

    /// A log on a read-only file system, or (for an unprivileged mpm-run) a read-only file:
    /// the run is refused before anything starts, with one line that names the log.
    @Test(.enabled(if: SmallTmpfs.available, "mounting a tmpfs needs root (CAP_SYS_ADMIN)"), arguments: Supervisor.available)
    func anUnwritableAuditLogRefusesTheRunWithOneLine(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: Self.generous)
        let mount = try SmallTmpfs(at: p.root + "/state", size: "64k", owner: s == .nobody ? 65534 : 0)
        defer { mount.unmount() }
        try p.agent("echo", ["echo", "hello"])
        #expect(try runToEnd(p, ["echo"]).status == 0)
        let before = try String(contentsOfFile: p.auditLog, encoding: .utf8)
        var cases: [(String, () -> Void, () -> Void)] = [
            ("read-only file system", { mount.remount(readOnly: true) }, { mount.remount(readOnly: false) }),
        ]
        if s == .nobody {
            cases.append(("a 0400 log", { chmod(p.auditLog, 0o400) }, { chmod(p.auditLog, 0o600) }))
        }
        for (what, breakIt, repair) in cases {
            breakIt()
            let r = try runToEnd(p, ["echo"])
            repair()
            #expect(r.status == 125, "\(what): \(r.status) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(what): the agent ran")
            #expect(r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("mpm-run: audit log \(p.auditLog): "), "\(what): \(r.stderr)")
            #expect(try String(contentsOfFile: p.auditLog, encoding: .utf8) == before, "\(what): the log changed")
            #expect(try p.verifyAudit().status == 0)
            FaultFigures.note("unwritable log, \(what) (\(s)): exit \(r.status), \(r.stderr.trimmingCharacters(in: .newlines))")
        }
    }

    // MARK: - Descriptors, stdout, EPIPE

    /// mpm-run itself under a tiny RLIMIT_NOFILE: each run either works or is refused with
    /// one line; no crash, no sandbox left, the log verifies.
    @Test(arguments: Supervisor.available)
    func tooFewFileDescriptorsForMPMRunFailCleanly(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("echo", ["echo", "hello"])
        var outcomes: [String] = []
        for n in [4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 20] {
            let r = try runToEnd(p, ["echo"], environment: ["TMPDIR": tmp], prefix: ["/usr/bin/prlimit", "--nofile=\(n):\(n)", "--"])
            #expect(!looksLikeACrash(r.status, r.stderr), "nofile \(n): \(r.status) \(r.stderr)")
            let worked = r.status == 0 && r.stdout == "hello\n" && r.stderr.isEmpty
            let refused = r.status == 125 && r.stdout.isEmpty && r.stderr.split(separator: "\n").count == 1 && r.stderr.hasPrefix("mpm-run: ")
            #expect(worked || refused, "nofile \(n): \(r.status) \(r.stdout.debugDescription) \(r.stderr)")
            do {
                #expect(!r.stderr.contains("unknown agent"), "nofile \(n): \(r.stderr)")
            }
            outcomes.append("\(n): " + (worked ? "ok" : "\(r.status) \(r.stderr.trimmingCharacters(in: .newlines))"))
        }
        #expect(p.sandboxes(in: tmp).isEmpty, "sandboxes left: \(p.sandboxes(in: tmp))")
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("RLIMIT_NOFILE (\(s)): " + outcomes.joined(separator: " | "))
    }

    /// serve under a low RLIMIT_NOFILE with more runs asked for than it has descriptors for:
    /// every request is answered, every accepted run ends with run/exited, serve exits 0.
    @Test func serveWithTooFewFileDescriptorsAnswersEveryRequest() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("napper", ["sleep", "1"])
        let serve = try Spawned(p, ["serve"], environment: ["TMPDIR": tmp], prefix: ["/usr/bin/prlimit", "--nofile=40:40", "--"])
        let count = 12
        for i in 0..<count { serve.send(#"{"jsonrpc":"2.0","id":\#(i),"method":"run","params":{"agent":"napper"}}"#) }
        serve.closeInput()
        let status = serve.wait(timeout: 60)
        #expect(status == 0, "\(String(describing: status)) \(serve.stderr)")
        #expect(!looksLikeACrash(status ?? 0, serve.stderr))
        let lines = serve.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        #expect(lines.count == serve.stdoutText.split(separator: "\n").count, "a line that is not one JSON object")
        let answers = lines.filter { $0["id"] != nil }
        #expect(answers.count == count)
        let accepted = answers.compactMap { ($0["result"] as? [String: Any])?["run_id"] as? String }
        let unknown = answers.compactMap { $0["error"] as? [String: Any] }.filter { $0["code"] as? Int == -32001 }
        #expect(unknown.isEmpty, "runs refused as 'unknown agent': \(unknown.map { $0["message"] as? String ?? "" })")
        let exited = lines.filter { $0["method"] as? String == "run/exited" }.compactMap { ($0["params"] as? [String: Any])?["run_id"] as? String }
        #expect(Set(accepted) == Set(exited), "accepted \(accepted.count), exited \(exited.count)")
        let ok = lines.filter { ($0["method"] as? String == "run/exited") && (($0["params"] as? [String: Any])?["exit_code"] as? Int == 0) }.count
        // The sandbox of a launch that failed with EMFILE is removed all the same (removing
        // needs descriptors too: it waits for some rather than leave it for the sweep).
        let leftovers = p.sandboxes(in: tmp).map { name in
            name + ": " + (((try? FileManager.default.contentsOfDirectory(atPath: tmp + "/mpm-run/" + name)) ?? []).sorted().joined(separator: ","))
        }
        let left = leftovers.count
        #expect(leftovers.isEmpty, "sandboxes left by serve: \(leftovers); stderr: \(serve.stderrLines)")
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("serve RLIMIT_NOFILE 40, \(count) runs of 1 s: \(accepted.count) accepted, \(ok) exited 0, \(count - accepted.count) refused, \(left) sandboxes left; stderr: \(serve.stderrLines.prefix(2))")
    }

    /// mpm-run started with SIGCHLD ignored (inherited across execve: the kernel would reap its
    /// children itself): the CLI and serve still report the agent's own exit status, and the
    /// audit log records it.
    @Test(arguments: Supervisor.available)
    func startedWithSIGCHLDIgnoredTheAgentsExitIsStillKnown(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("three", ["exit", "3"])
        let ignoring = ["/usr/bin/env", "--ignore-signal=CHLD"]
        let r = try runToEnd(p, ["three"], prefix: ignoring)
        #expect(r.status == 3, "\(r.status) \(r.stderr)")
        #expect(r.stderr.isEmpty, "\(r.stderr)")
        let serve = try Spawned(p, ["serve"], prefix: ignoring)
        serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"three"}}"#)
        serve.closeInput()
        #expect(serve.wait(timeout: 60) == 0, "\(serve.stderr)")
        let exited = serve.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }.filter { $0["method"] as? String == "run/exited" }.compactMap { $0["params"] as? [String: Any] }
        #expect(exited.count == 1 && exited.first?["exit_code"] as? Int == 3, "\(serve.stdoutText)")
        let records = try p.audit("run_exited")
        #expect(records.count == 2 && records.allSatisfy { $0["exit_code"] as? Int == 3 },
                "\(records.map { "\($0["exit_code"] ?? "nil") \($0["signal"] ?? "nil")" })")
        // Reaped by mpm-run itself, not by the kernel: the wait brought the run's resource use.
        #expect(records.allSatisfy { ($0["max_rss_kb"] as? Int ?? 0) > 0 }, "\(records.map { $0["max_rss_kb"] ?? "nil" })")
        #expect(try p.verifyAudit().status == 0)
    }

    /// mpm-run started with stdin, stdout and stderr closed: the first files it opens (its
    /// signalfd, then the audit log) must not take their numbers, or the agent's relayed output
    /// (and mpm-run's messages) would be written into them; with all three closed, into the
    /// audit log. The run still ends with the agent's status, and the log holds only its records.
    @Test(arguments: Supervisor.available)
    func startedWithItsStandardDescriptorsClosedNothingIsWrittenIntoItsFiles(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        // Prints a word its argv (on record in run_started) does not hold.
        try p.agent("talker", ["-c", "printf 'IN%sTED\\n' JEC; printf 'IN%sTED\\n' JEC >&2; exit 4"], command: "/bin/sh")
        for closing in ["0<&- 1>&- 2>&-", "1>&-", "2>&-"] {
            let r = try runToEnd(p, ["talker"], prefix: ["/bin/sh", "-c", "exec \"$@\" \(closing)", "sh"])
            #expect(r.status == 4, "\(closing): \(r.status) \(r.stderr)")
            let r2 = try runToEnd(p, ["no-such-agent"], prefix: ["/bin/sh", "-c", "exec \"$@\" \(closing)", "sh"])
            #expect(r2.status == 125, "\(closing): \(r2.status)")
        }
        let serve = try Spawned(p, ["serve"], prefix: ["/bin/sh", "-c", "exec \"$@\" 2>&-", "sh"])
        serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"talker"}}"#)
        serve.closeInput()
        #expect(serve.wait(timeout: 60) == 0)
        let log = (try? String(contentsOfFile: p.auditLog, encoding: .utf8)) ?? ""
        #expect(!log.contains("INJECTED"), "\(log.prefix(2000))")
        #expect(try p.audit("run_exited").count == 4)
        #expect(try p.verifyAudit().status == 0)
    }

    /// mpm-run started with a umask that takes bits from the owner: the sandbox it makes must
    /// still be usable (an unprivileged mpm-run refused every run: it could not write its own
    /// INSTRUCTIONS.md), and what the agent writes still comes out.
    @Test(arguments: Supervisor.available)
    func aUmaskThatTakesTheOwnersBitsDoesNotBreakTheSandbox(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files", "execute_commands"])
        try p.agent("writer", ["-c", "cat \"$MPM_INPUT_DIR/INSTRUCTIONS.md\" >/dev/null && echo made > \"$MPM_OUTPUT_DIR/made.txt\" && exit 3"],
                    command: "/bin/sh")
        for mask in ["0177", "0277", "0777"] {
            let prefix = ["/bin/sh", "-c", "umask \(mask); exec \"$@\"", "sh"]
            let r = try runToEnd(p, ["writer", "--output", p.root + "/out-\(mask)"], prefix: prefix)
            #expect(r.status == 3, "umask \(mask): \(r.status) \(r.stderr)")
            #expect((try? String(contentsOfFile: p.root + "/out-\(mask)/made.txt", encoding: .utf8)) == "made\n", "umask \(mask)")
            let serve = try Spawned(p, ["serve"], prefix: prefix)
            serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"writer"}}"#)
            serve.closeInput()
            #expect(serve.wait(timeout: 60) == 0, "umask \(mask): \(serve.stderr)")
            #expect(serve.stdoutText.contains(#""exit_code":3"#), "umask \(mask): \(serve.stdoutText)")
        }
        #expect(try p.verifyAudit().status == 0)
    }

    /// No signalfd for mpm-run (a seccomp filter of whoever started it answers ENOSYS): it cannot
    /// watch for SIGTERM and friends, so it refuses to start, with one line. It used to block
    /// them anyway and run on: a SIGTERM then stayed pending and the run went on to its timeout.
    @Test(arguments: Supervisor.available)
    func withoutSignalfdMPMRunRefusesToStart(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("echo", ["echo", "hello"])
        for args in [["echo"], ["serve"]] {
            let r = try runToEnd(p, args, prefix: [Probe.path, "exec-without-signalfd"])
            #expect(r.status == 125, "\(args): \(r.status) \(r.stderr)")
            #expect(r.stdout.isEmpty, "\(args): \(r.stdout)")
            #expect(r.stderr.hasPrefix("mpm-run: cannot watch for SIGINT") && r.stderr.split(separator: "\n").count == 1,
                    "\(args): \(r.stderr)")
        }
        #expect(try p.auditRecords().isEmpty)
    }

    /// serve can start no thread for an accepted run (RLIMIT_NPROC at the threads it has when
    /// idle): the run ends as not started, and the audit log has its refusal, as for every
    /// other accepted run that could not start.
    @Test(.enabled(if: Supervisor.isRoot, "serve must run as a user of its own"))
    func aRunServeCannotStartAThreadForIsOnRecord() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("echo", ["echo", "hello"])
        let log = tmp + "/audit.jsonl"
        let environment = ["TMPDIR": tmp, "MPM_AUDIT_LOG": log]
        // A uid no other process has: RLIMIT_NPROC then counts serve's threads alone.
        let asUser = ["/usr/bin/setpriv", "--reuid=61234", "--regid=61234", "--clear-groups", "--"]
        let counting = try Spawned(p, ["serve"], environment: environment, prefix: asUser)
        let threads = { (pid: Int32) in ((try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []).count }
        let idle = eventually { () -> Int? in
            let n = threads(counting.process.processIdentifier)
            usleep(200_000)
            return n >= 2 && n == threads(counting.process.processIdentifier) ? n : nil
        }
        counting.closeInput()
        #expect(counting.wait(timeout: 60) == 0)
        let limit = try #require(idle, "serve's threads never settled")

        let serve = try Spawned(p, ["serve"], environment: environment,
                                prefix: ["/usr/bin/prlimit", "--nproc=\(limit):\(limit)", "--"] + asUser)
        serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"echo"}}"#)
        serve.closeInput()
        #expect(serve.wait(timeout: 60) == 0, "\(serve.stderr)")
        let lines = serve.stdoutText.split(separator: "\n").compactMap {
            try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
        }
        let runID = try #require(lines.first { $0["id"] as? Int == 1 }.flatMap { ($0["result"] as? [String: Any])?["run_id"] as? String },
                                 "\(serve.stdoutText)")
        let exited = lines.filter { $0["method"] as? String == "run/exited" }.compactMap { $0["params"] as? [String: Any] }
            .first { $0["run_id"] as? String == runID }
        #expect((exited?["error"] as? String)?.hasPrefix("cannot start a thread for the run") == true, "\(serve.stdoutText)")
        let records = try p.auditRecords(log).filter { $0["run_id"] as? String == runID }
        #expect(records.count == 1 && records.first?["type"] as? String == "policy_rejected", "\(records)")
        #expect(try p.verifyAudit(log).status == 0)
    }

    /// --output on a file system that fills up while the output is copied: the files that fit
    /// are whole, the one that did not fit is not left half-written under its name, and the
    /// user is told (the sandbox is kept, with everything).
    @Test(.enabled(if: SmallTmpfs.available, "mounting a tmpfs needs root (CAP_SYS_ADMIN)"), arguments: Supervisor.available)
    func outputThatDoesNotFitLeavesNoHalfWrittenFile(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files", "execute_commands"])
        let mount = try SmallTmpfs(at: p.root + "/small", size: "1m", owner: s == .nobody ? 65534 : 0)
        defer { mount.unmount() }
        try p.agent("writer", ["-c", "for i in 1 2 3; do head -c 409600 /dev/urandom > \"$MPM_OUTPUT_DIR/f$i\"; done"], command: "/bin/sh")
        let out = mount.path + "/out"
        let r = try p.mpmRun(["writer", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stderr.contains("output not collected") && r.stderr.contains("No space left on device"), "\(r.stderr)")
        let names = (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? []
        #expect(!names.isEmpty && names.count < 3, "\(names)")
        for name in names {
            var st = stat()
            #expect(lstat(out + "/" + name, &st) == 0 && st.st_size == 409600, "\(name): \(st.st_size) bytes")
        }
        if let kept = r.stderr.range(of: "the sandbox is kept at ") {
            let sandbox = String(r.stderr[kept.upperBound...].prefix { $0 != "\n" })
            try? FileManager.default.removeItem(atPath: sandbox)
        }
    }

    /// The agent closes its stdout at once and goes on: mpm-run relays its stderr, exits with
    /// its status, and prints nothing of its own.
    @Test(arguments: Supervisor.available)
    func anAgentThatClosesItsStdoutEarly(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("closer", ["-c", "exec 1>&-; echo after the close >&2; echo lost; exit 3"], command: "/bin/sh")
        let r = try runToEnd(p, ["closer"])
        #expect(r.status == 3)
        #expect(r.stdout.isEmpty)
        #expect(r.stderr.hasPrefix("after the close\n"), "\(r.stderr)")
        #expect(!looksLikeACrash(r.status, r.stderr))
        let json = try runToEnd(p, ["closer", "--json"])
        #expect(json.status == 3)
        let methods = json.stdout.split(separator: "\n").map { line -> String in
            let o = try? JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any]
            return o?["method"] as? String ?? "not JSON: \(line)"
        }
        #expect(methods.first == "run/started" && methods.last == "run/exited", "\(methods)")
    }

    /// The reader of `mpm-run <agent>` goes away (EPIPE on its stdout): the run goes on to its
    /// end, the agent is not blocked, mpm-run exits with the agent's status.
    @Test(arguments: Supervisor.available)
    func theCLIsReaderGoingAwayDoesNotStopTheRun(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("random", ["random-out", "7", "\(4 << 20)"])
        let run = try Spawned(p, ["random"])
        run.closeInput()
        run.closeStdout()
        let status = run.wait(timeout: 60)
        #expect(status == 0, "\(String(describing: status)) \(run.stderr)")
        #expect(run.stderr.isEmpty, "\(run.stderr)")
        #expect(try p.audit("run_exited").last?["exit_code"] as? Int == 0)
    }

    /// The orchestrator closes serve's stdout while a run goes on: serve's next write fails
    /// (EPIPE), it cancels every run, records their ends and exits 1 with one line.
    @Test(arguments: Supervisor.available)
    func serveWhoseStdoutIsClosedCancelsItsRunsAndExitsOne(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        try p.agent("escaper", ["setsid-grandchild"])
        let serve = try Spawned(p, ["serve"], environment: ["TMPDIR": tmp])
        let name = uniqueMarker("mpme")
        serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"escaper","args":["\#(name)"]}}"#)
        #expect(eventually { processes(named: name).first } != nil)
        #expect(serve.waitForStdout { $0.contains("started\\n") })
        serve.closeStdout()
        let closed = Date()
        serve.send(#"{"jsonrpc":"2.0","id":2,"method":"status"}"#)
        let status = serve.wait(timeout: 20)
        let took = Date().timeIntervalSince(closed)
        #expect(status == 1, "\(String(describing: status)) \(serve.stderr)")
        #expect(serve.stderrLines == ["mpm-run serve: stdout is closed: cancelling every run"], "\(serve.stderr)")
        #expect(pids(withCommandLineContaining: name).isEmpty)
        #expect(p.sandboxes(in: tmp).isEmpty)
        let id = try #require(try p.runID(withArgument: name))
        #expect(try p.records(ofRun: id).last?["type"] as? String == "run_exited")
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("serve stdout closed (\(s)): exit \(String(describing: status)) \(ms(took)) after the next write")
    }

    // MARK: - Inputs, argv, environment, profiles

    /// Files of an input folder are deleted while mpm-run copies it: the run either starts
    /// with what was there (the agent sees whole files only) or is refused with one line.
    @Test(arguments: Supervisor.available)
    func anInputVanishingWhileItIsCopied(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"], incidents: Self.generous)
        let tmp = try p.privateTMPDIR()
        // Counts the files it was given (shell builtins only).
        try p.agent("checker", ["-c", #"n=0; for f in input/data/*; do [ -f "$f" ] && n=$((n+1)); done; echo "$n""#], command: "/bin/sh")
        var outcomes: [String] = []
        for trial in 0..<3 {
            let data = p.root + "/data"
            try FileManager.default.createDirectory(atPath: data, withIntermediateDirectories: true)
            let block = [UInt8](repeating: UInt8(ascii: "x"), count: 4096)
            let count = 400
            for i in 0..<count {
                let fd = open("\(data)/f\(i)", O_WRONLY | O_CREAT | O_TRUNC, 0o644)
                _ = block.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                close(fd)
            }
            let run = try Spawned(p, ["checker", "--input", "data"], environment: ["TMPDIR": tmp])
            run.closeInput()
            // Into the copy: the sandbox folder appears just before it; copying takes about
            // 0.5 ms a file (debug build).
            let deadline = Date().addingTimeInterval(10)
            while p.sandboxes(in: tmp).isEmpty && run.process.isRunning && Date() < deadline { usleep(200) }
            usleep(useconds_t(30_000 * trial))
            // From the end of the copy's order (f0, f1, f10, f100, ...) back, while it goes on.
            for i in stride(from: count - 1, through: 0, by: -1) {
                unlink("\(data)/f\(i)")
                if i % 4 == 0 { usleep(500) }
            }
            let status = run.wait(timeout: 60) ?? -999
            rmdir(data)
            #expect(!looksLikeACrash(status, run.stderr), "\(status) \(run.stderr)")
            let copied = Int(run.stdoutText.trimmingCharacters(in: .whitespacesAndNewlines))
            let worked = status == 0 && copied != nil
            let refused = status == 125 && run.stdoutText.isEmpty && run.stderrLines.count == 1
            #expect(worked || refused, "\(status) \(run.stdoutText) \(run.stderr)")
            do {
                #expect(!worked || copied == count || run.stderr.contains("data/"), "\(copied ?? 0) of \(count) copied, nothing said")
            }
            outcomes.append(worked ? "ran with \(copied!) of \(count) files" : "refused: \(run.stderr.trimmingCharacters(in: .newlines))")
        }
        #expect(p.sandboxes(in: tmp).isEmpty)
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("input vanishing (\(s)): " + outcomes.joined(separator: " | "))
    }

    /// argv and environment at the kernel's limits: an agent argument over MAX_ARG_STRLEN, an
    /// argv that fits mpm-run but not the agent, and an environment of megabytes (scrubbed).
    @Test func hugeArgvAndEnvironment() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: Self.generous)
        // One argument of 200 KB in the agent's command: execve fails with E2BIG.
        try p.agent("big", ["echo", String(repeating: "a", count: 200_000)])
        let big = try runToEnd(p, ["big"])
        #expect(!looksLikeACrash(big.status, big.stderr))
        #expect(big.status == 126 && big.stderr.split(separator: "\n").count == 1, "\(big.status) \(big.stderr)")
        #expect(big.stdout.isEmpty)
        FaultFigures.note("argument of 200 KB: exit \(big.status), \(big.stderr.trimmingCharacters(in: .newlines))")

        // Arguments after -- that reach the agent whole: 1.2 MB in 64 KiB pieces.
        let piece = String(repeating: "b", count: 64 << 10)
        try p.agent("counter", ["-c", #"n=0; for a; do n=$((n+${#a})); done; echo "$# $n""#, "sh"], command: "/bin/sh")
        let many = try runToEnd(p, ["counter", "--"] + Array(repeating: piece, count: 19))
        #expect(many.status == 0 && many.stdout == "19 \(19 * (64 << 10))\n", "\(many.status) \(many.stdout) \(many.stderr)")

        // Arguments that fit mpm-run's execve but not the agent's (its environment is longer).
        var stack = rlimit()
        getrlimit(Int32(RLIMIT_STACK.rawValue), &stack)
        let limit = stack.rlim_cur == rlim_t.max ? 6 << 20 : max(128 << 10, min(6 << 20, Int(stack.rlim_cur / 4)))
        let env = ["PATH": "/usr/local/bin:/usr/bin:/bin", "MPM_AUDIT_LOG": p.auditLog]
        let fixed = [MPMRun.binary, "counter", "--"].reduce(0) { $0 + $1.utf8.count + 1 + 8 }
            + env.reduce(0) { $0 + $1.key.utf8.count + $1.value.utf8.count + 2 + 8 } + 8
        let room = limit - fixed - 64
        let pieces = room / (piece.utf8.count + 1 + 8)
        let tail = String(repeating: "c", count: room - pieces * (piece.utf8.count + 1 + 8) - 1 - 8)
        let edge = try runToEnd(p, ["counter", "--"] + Array(repeating: piece, count: pieces) + [tail])
        #expect(!looksLikeACrash(edge.status, edge.stderr))
        #expect(edge.status == 126 && edge.stderr.split(separator: "\n").count == 1 && edge.stderr.contains("Argument list too long"),
                "\(edge.status) \(edge.stdout.prefix(100)) \(edge.stderr)")
        FaultFigures.note("argv \(limit - 64) B (fits mpm-run, not the agent): exit \(edge.status), \(edge.stderr.trimmingCharacters(in: .newlines))")

        // An environment of 1.5 MB: scrubbed, none of it reaches the agent; the run is quick.
        var junk: [String: String] = [:]
        for i in 0..<96 { junk["MPM_JUNK_\(i)"] = String(repeating: "j", count: 16 << 10) }
        try p.agent("env", ["env"])
        let started = Date()
        let scrubbed = try runToEnd(p, ["env"], environment: junk)
        #expect(scrubbed.status == 0, "\(scrubbed.stderr)")
        #expect(!scrubbed.stdout.contains("MPM_JUNK"))
        FaultFigures.note("environment of 1.5 MB: exit \(scrubbed.status) in \(ms(Date().timeIntervalSince(started))), none of it passed")

        // serve: the same 200 KB argument in a run request.
        let serve = try Spawned(p, ["serve"])
        serve.send(#"{"jsonrpc":"2.0","id":1,"method":"run","params":{"agent":"counter","args":[""# + String(repeating: "d", count: 200_000) + #""]}}"#)
        serve.send(#"{"jsonrpc":"2.0","id":2,"method":"status"}"#)
        serve.closeInput()
        #expect(serve.wait(timeout: 30) == 0, "\(serve.stderr)")
        let exited = serve.stdoutText.split(separator: "\n").first { $0.contains(#""run/exited""#) } ?? ""
        #expect(exited.contains(#""exit_code":126"#), "\(exited)")
        #expect(serve.stdoutText.contains(#""id":2"#), "serve carries on")
        FaultFigures.note("serve, argument of 200 KB: \(exited.prefix(200))")
        #expect(try p.verifyAudit().status == 0)
    }

    /// The profile is rewritten, atomically (rename) and in place (truncate, then written in
    /// pieces, as `cat > file` or an editor may), while `run` and `check` read it. A run
    /// reads either version, or a broken file and is refused: never the `*` fallback's wider
    /// permissions, which a half-written claim would hand it.
    @Test func aProfileRewrittenWhileRunAndCheckReadIt() throws {
        let p = try SandboxProject(.root, permissions: [], incidents: Self.generous)
        let path = p.project.profiles + "/probe.yaml"
        // The fallback grants what the agent's own profile does not.
        try p.project.write("profiles/fallback.yaml", """
            profile: fallback
            description: Everything no other profile claims.
            applies_to: ["*"]
            permissions: [execute_commands]
            limits: {memory_mb: 512, cpu_seconds: 30, timeout_seconds: 60, max_processes: 64, max_open_files: 256, max_file_size_mb: 64, max_output_bytes: 16777216}
            """)
        let text = try String(contentsOfFile: path, encoding: .utf8)
            .replacingOccurrences(of: "applies_to: [probe]", with: "applies_to:\n  - other\n  - probe")
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        try p.agent("forker", ["fork"])
        #expect(try runToEnd(p, ["forker"]).stdout == "fork: denied EPERM\n")
        // Where a writer in pieces may pause: inside the claim, and between lines.
        let cut = try #require(text.range(of: "  - pro")).upperBound
        let pieces = [String(text[..<cut]), String(text[cut...])]

        let stop = ManagedAtomicFlag()
        let writer = Thread {
            var n = 0
            while !stop.isSet {
                n += 1
                if n % 2 == 0 {
                    try? text.write(toFile: path, atomically: true, encoding: .utf8)
                } else {
                    let fd = open(path, O_WRONLY | O_TRUNC)
                    for piece in pieces {
                        _ = piece.withCString { write(fd, $0, strlen($0)) }
                        usleep(3000)
                    }
                    close(fd)
                }
                usleep(1000)
            }
        }
        writer.start()
        var outcomes: [String: Int] = [:]
        let deadline = Date().addingTimeInterval(3)
        while Date() < deadline {
            let r = try runToEnd(p, ["forker"])
            #expect(!looksLikeACrash(r.status, r.stderr), "\(r.status) \(r.stderr)")
            #expect(!r.stdout.contains("fork: ok"), "the run got the fallback's execute_commands: \(r.stderr)")
            let clean = (r.status == 1 && r.stdout == "fork: denied EPERM\n") || (r.status == 125 && r.stdout.isEmpty && !r.stderr.isEmpty)
            #expect(clean, "\(r.status) \(r.stdout) \(r.stderr)")
            outcomes[r.status == 125 ? "refused" : r.stdout.contains("fork: ok") ? "FALLBACK" : "ran", default: 0] += 1
            let c = try runToEnd(p, ["check"])
            #expect(!looksLikeACrash(c.status, c.stderr))
            #expect(c.status == 0 || c.status == 1, "\(c.status) \(c.stderr)")
            outcomes["check \(c.status)", default: 0] += 1
        }
        stop.set()
        while writer.isExecuting { usleep(1000) }
        #expect(try p.verifyAudit().status == 0)
        FaultFigures.note("profile rewritten while read: \(outcomes.sorted { $0.key < $1.key })")
    }
}

/// A flag one thread sets and another polls.
final class ManagedAtomicFlag: @unchecked Sendable {
    private let lock = NSLock()
    private var value = false
    var isSet: Bool { lock.lock(); defer { lock.unlock() }; return value }
    func set() { lock.lock(); value = true; lock.unlock() }
}

/// A small tmpfs mounted by the test (root only), unmounted at the end.
final class SmallTmpfs {
    let path: String

    init(at path: String, size: String, owner: uid_t) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        let rc = runTool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=\(size),mode=0700,uid=\(owner),gid=\(owner)", "tmpfs", path])
        try #require(rc == 0, "mount tmpfs at \(path) failed")
    }

    /// Whether this test run may mount one (root, in a namespace that allows it).
    static let available: Bool = {
        guard Supervisor.isRoot else { return false }
        let dir = "/tmp/mpm-test-mount-\(getpid())"
        mkdir(dir, 0o700)
        defer { rmdir(dir) }
        guard runTool("/usr/bin/mount", ["-t", "tmpfs", "-o", "size=4k", "tmpfs", dir]) == 0 else { return false }
        runTool("/usr/bin/umount", [dir])
        return true
    }()

    func remount(readOnly: Bool) {
        _ = runTool("/usr/bin/mount", ["-o", "remount," + (readOnly ? "ro" : "rw"), path])
    }

    /// Writes `file` until the file system is full.
    func fill(_ file: String) {
        let fd = open(file, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        let block = [UInt8](repeating: 0, count: 512)
        while block.withUnsafeBytes({ write(fd, $0.baseAddress, $0.count) }) > 0 {}
        close(fd)
    }

    func unmount() { _ = runTool("/usr/bin/umount", ["-l", path]) }
}

func ms(_ t: TimeInterval) -> String { "\(Int((t * 1000).rounded())) ms" }

/// Figures for the docs table, printed to stderr as the tests find them (`FAULT:` lines).
enum FaultFigures {
    static func note(_ text: String) {
        FileHandle.standardError.write(Data("FAULT: \(text)\n".utf8))
    }
}
