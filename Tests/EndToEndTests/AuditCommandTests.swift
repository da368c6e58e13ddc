import Foundation
import Glibc
import MPMRun
import Testing

/// A log written through the library, as the supervisor writes it, in a private folder.
/// (Runs record themselves elsewhere; these tests are about reading and verifying.)
private final class AuditLogFixture {
    let root: String
    let path: String

    init() throws {
        var template = Array("/tmp/mpm-audit-e2e-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: made)
        path = root + "/state/audit.jsonl"
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    /// Appends through `AuditLog`, one instance per call, as separate supervisors would.
    @discardableResult
    func append(_ events: [Event]) throws -> [JSONValue] {
        let log = try AuditLog(path: path)
        return try events.map { try log.append($0) }
    }

    /// The typical life of a few runs of two agents.
    func standardRuns() throws {
        try append([
            Event(.runStarted, runID: "r1", agentID: "coder", ["pid": 1234]),
            .permissionDenied(runID: "r1", agentID: "coder", permission: "network_access", plane: "syscall",
                              syscall: "socket", pid: 1234, reason: "socket(AF_INET) needs network_access"),
            Event(.runExited, runID: "r1", agentID: "coder",
                  ["exit_code": 0, "signal": nil, "reason": "exited", "duration_ms": 52, "max_rss_kb": 2048]),
            Event(.runStarted, runID: "r2", agentID: "writer", ["pid": 1240]),
            .incident(runID: "r2", agentID: "writer", kind: "timeout", detail: "ran longer than 30 s", action: "killed"),
            Event(.runExited, runID: "r2", agentID: "writer",
                  ["exit_code": nil, "signal": 9, "reason": "timeout", "duration_ms": 30004, "max_rss_kb": 4096]),
        ])
    }

    /// Two records from an hour ago, written as raw lines (the library stamps the time itself).
    func oldRecords() throws {
        let hourAgo = AuditTime.format(Date().addingTimeInterval(-3600))
        let zeros = String(repeating: "0", count: 64)
        let first = #"{"seq":1,"ts":"\#(hourAgo)","type":"run_started","run_id":"old","agent_id":"coder","prev":"\#(zeros)"}"#
        try FileManager.default.createDirectory(atPath: root + "/state", withIntermediateDirectories: true)
        try Data((first + "\n").utf8).write(to: URL(fileURLWithPath: path))
        // The second is chained by the library, so the whole log verifies.
        _ = try AuditLog(path: path)
    }

    func lines() throws -> [String] {
        try String(contentsOfFile: path, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
            .dropLast().map(String.init)
    }

    func write(_ lines: [String], finalNewline: Bool = true) throws {
        var text = lines.joined(separator: "\n")
        if finalNewline { text += "\n" }
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    }

    func audit(_ args: [String], environment: [String: String] = [:]) throws -> MPMRun.Output {
        try MPMRun.run(["audit"] + args + ["--audit-log", path], environment: environment)
    }

    func verify() throws -> MPMRun.Output { try audit(["verify"]) }

    /// `audit --json` parsed, one object per line.
    func json(_ args: [String]) throws -> [[String: Any]] {
        let r = try audit(args + ["--json"])
        #expect(r.status == 0, "\(r.stderr)")
        return try r.stdoutLines.map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
    }
}

@Suite struct AuditCommandTests {
    // MARK: verify

    @Test func verifyPassesOnAnIntactLogAndExitsZero() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        try f.standardRuns()
        let r = try f.verify()
        #expect(r.status == 0)
        #expect(r.stdout == "ok: 12 records, chain intact\n")
        #expect(r.stderr.isEmpty)
    }

    @Test func verifyNamesTheLineAfterAChangedByte() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        var lines = try f.lines()
        lines[4] = lines[4].replacingOccurrences(of: "longer than 30 s", with: "longer than 3O s")  // one byte
        try f.write(lines)
        let r = try f.verify()
        #expect(r.status == 1)
        #expect(r.stdout == "\(f.path):6: prev does not match line 5 (a line was changed, removed or reordered)\n")
    }

    @Test func verifyNamesTheLineWhereOneWasRemoved() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        var lines = try f.lines()
        lines.remove(at: 2)
        try f.write(lines)
        let r = try f.verify()
        #expect(r.status == 1)
        #expect(r.stdout == "\(f.path):3: seq 4 follows 2 (a line is missing)\n")
    }

    @Test func verifyNamesTheLineWhereTwoWereSwapped() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        var lines = try f.lines()
        lines.swapAt(2, 3)
        try f.write(lines)
        let r = try f.verify()
        #expect(r.status == 1)
        #expect(r.stdout == "\(f.path):3: seq 4 follows 2 (lines are out of order)\n")
    }

    @Test func verifyNamesATornLastLine() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        var lines = try f.lines()
        lines[5] = String(lines[5].prefix(60))
        try f.write(lines, finalNewline: false)
        let r = try f.verify()
        #expect(r.status == 1)
        #expect(r.stdout == "\(f.path):6: not a JSON object (an unfinished last line: a torn write)\n")
        // The next append closes the torn line and chains to it: verify still names it.
        try f.append([Event(.runStarted, runID: "r3", agentID: "coder")])
        #expect(try f.verify().stdout == "\(f.path):6: not a JSON object\n")
    }

    @Test func verifyOfAMissingOrEmptyLog() throws {
        let f = try AuditLogFixture()
        let missing = try f.verify()
        #expect(missing.status == 1)
        #expect(missing.stdout.isEmpty)
        #expect(missing.stderrLines == ["mpm-run: no audit log at \(f.path)"])
        try FileManager.default.createDirectory(atPath: f.root + "/state", withIntermediateDirectories: true)
        try f.write([], finalNewline: false)
        let empty = try f.verify()
        #expect(empty.status == 0)
        #expect(empty.stdout == "ok: 0 records, chain intact\n")
    }

    // MARK: reading

    @Test func jsonPrintsTheRecordsExactlyAsStored() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        let r = try f.audit(["--json"])
        #expect(r.status == 0)
        #expect(r.stdoutLines == (try f.lines()))
        #expect(r.stderr.isEmpty)
    }

    @Test func jsonFiltersByAgentTypeAndTime() throws {
        let f = try AuditLogFixture()
        try f.oldRecords()
        try f.standardRuns()
        func seqs(_ args: [String]) throws -> [Int] { try f.json(args).map { $0["seq"] as? Int ?? 0 } }
        #expect(try seqs([]) == Array(1...7))
        #expect(try seqs(["--agent", "writer"]) == [5, 6, 7])
        #expect(try seqs(["--type", "run_started"]) == [1, 2, 5])
        #expect(try seqs(["--agent", "coder", "--type", "run_started"]) == [1, 2])
        #expect(try seqs(["--since", "10m"]) == Array(2...7))
        #expect(try seqs(["--since", "2h"]) == Array(1...7))
        #expect(try seqs(["--since", "1d", "--agent", "coder"]) == [1, 2, 3, 4])
        let halfHourAgo = AuditTime.format(Date().addingTimeInterval(-1800))
        #expect(try seqs(["--since", halfHourAgo]) == Array(2...7))
        let inAnHour = AuditTime.format(Date().addingTimeInterval(3600)).replacingOccurrences(of: "Z", with: "+00:00")
        #expect(try seqs(["--since", inAnHour]).isEmpty)
        #expect(try seqs(["--agent", "nobody"]).isEmpty)
        // The subcommand spelled out is the same command.
        #expect(try f.json(["list", "--agent", "writer"]).count == 3)
        #expect(try f.verify().status == 0)
    }

    @Test func theTableSummarisesEachRecordOnOneLine() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        try f.append([.permissionDenied(runID: "r3", agentID: "coder\nevil", permission: "read_files", plane: "launch",
                                        path: "../secret\u{1b}[2J.txt", reason: "outside the project root")])
        let r = try f.audit([])
        #expect(r.status == 0, "\(r.stderr)")
        let lines = r.stdoutLines
        #expect(lines.count == 8, "\(r.stdout)")
        let header = lines[0].split(separator: " ", omittingEmptySubsequences: true)
        #expect(header == ["TIME", "TYPE", "RUN", "AGENT", "SUMMARY"])
        func row(_ n: Int) -> [String] {
            lines[n].split(separator: " ", maxSplits: 4, omittingEmptySubsequences: true)
                .map { String($0.drop(while: { $0 == " " })) }
        }
        let records = try f.lines().map { try #require(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]) }
        for n in 1...6 {
            #expect(row(n)[0] == records[n - 1]["ts"] as? String)
        }
        #expect(row(1).dropFirst() == ["run_started", "r1", "coder", "pid=1234"])
        #expect(row(2).dropFirst() == ["permission_denied", "r1", "coder", "denied network_access socket pid 1234"])
        #expect(row(3).dropFirst() == ["run_exited", "r1", "coder", "exited 0 in 52 ms"])
        #expect(row(5).dropFirst() == ["incident", "r2", "writer", "incident timeout killed: ran longer than 30 s"])
        #expect(row(6).dropFirst() == ["run_exited", "r2", "writer", "killed by signal 9 in 30004 ms (timeout)"])
        // What an agent chose (its name, a path) cannot break the table or reach the terminal raw.
        #expect(row(7).dropFirst() == ["permission_denied", "r3", "coder\\nevil", "denied read_files ../secret\\u{1b}[2J.txt (launch)"])
        // Columns line up.
        let typeColumn = lines[0].range(of: "TYPE")!.lowerBound.utf16Offset(in: lines[0])
        for line in lines.dropFirst() {
            #expect(line.utf16.count > typeColumn && line.utf16[line.utf16.index(line.utf16.startIndex, offsetBy: typeColumn - 1)] == 0x20)
        }
    }

    @Test func theLogComesFromTheEnvironmentWhenNotGiven() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        let viaEnv = try MPMRun.run(["audit", "verify"], environment: ["MPM_AUDIT_LOG": f.path])
        #expect(viaEnv.stdout == "ok: 6 records, chain intact\n")
        // XDG_STATE_HOME/mpm-run/audit.jsonl, then HOME/.local/state/mpm-run/audit.jsonl.
        let xdg = f.root + "/xdg"
        try FileManager.default.createDirectory(atPath: xdg + "/mpm-run", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: f.path, toPath: xdg + "/mpm-run/audit.jsonl")
        let viaXDG = try MPMRun.run(["audit", "verify"], environment: ["XDG_STATE_HOME": xdg, "HOME": f.root + "/nowhere"])
        #expect(viaXDG.stdout == "ok: 6 records, chain intact\n")
        let viaHome = try MPMRun.run(["audit", "verify"], environment: ["HOME": f.root + "/home"])
        #expect(viaHome.stderrLines == ["mpm-run: no audit log at \(f.root)/home/.local/state/mpm-run/audit.jsonl"])
        // --audit-log wins over the environment.
        let both = try MPMRun.run(["audit", "verify", "--audit-log", f.path], environment: ["MPM_AUDIT_LOG": f.root + "/other"])
        #expect(both.status == 0)
    }

    // MARK: release

    @Test(arguments: Supervisor.available)
    func releaseLiftsAQuarantineSoTheNextLaunchRuns(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["max_output_bytes": 100],
                                   incidents: "quarantine_after_incidents: 2, quarantine_window_seconds: 600, quarantine_seconds: 600")
        try p.agent("flood", ["-c", "while :; do echo flooding the output limit; done"], command: "/bin/sh")
        for _ in 0..<2 { #expect(try p.mpmRun(["flood"]).status == 137) }
        let quarantine = try #require(try p.audit("incident").last)
        #expect(quarantine["action"] as? String == "quarantined")
        let until = try #require(quarantine["until"] as? String)

        let refused = try p.mpmRun(["flood"])
        #expect(refused.status == 125)
        #expect(refused.stderr.contains("flood is quarantined until \(until)"), "\(refused.stderr)")

        let release = try p.mpmRun(["audit", "release", "flood"])
        #expect(release.status == 0, "\(release.stderr)")
        #expect(release.stdoutLines == ["released flood: its quarantine until \(until) is lifted"])
        #expect(release.stderr.isEmpty)
        let record = try #require(try p.audit("released").first)
        #expect(record["by"] as? String == "administrator")
        #expect(record["uid"] as? Int == Int(s == .nobody && Supervisor.isRoot ? 65534 : getuid()))
        #expect(record["until"] as? String == until)
        #expect(record["agent_id"] as? String == "flood")
        #expect(record["run_id"] is NSNull)

        // The next launch runs, and ends in an incident again: the two before the release no
        // longer count, so it does not quarantine the agent; nor does the launch after it.
        #expect(try p.mpmRun(["flood"]).status == 137, "released: the launch goes ahead")
        #expect(try p.audit("incident").filter { $0["action"] as? String == "quarantined" }.count == 1)
        try p.agent("flood", ["-c", "echo calm"], command: "/bin/sh")
        let calm = try p.mpmRun(["flood"])
        #expect(calm.status == 0, "\(calm.stderr)")
        #expect(try p.audit("released").count == 1, "an administrator's release is the only one")
        #expect(try p.audit("run_started").count == 4)
        let verify = try p.mpmRun(["audit", "verify"])
        #expect(verify.status == 0, "\(verify.stdout)\(verify.stderr)")

        // Not quarantined (any more, or ever): one line, exit 1, nothing written.
        for agent in ["flood", "never-ran"] {
            let again = try p.mpmRun(["audit", "release", agent])
            #expect(again.status == 1)
            #expect(again.stdout.isEmpty)
            #expect(again.stderrLines == ["mpm-run: \(agent) is not quarantined (audit log \(p.auditLog))"], "\(again.stderr)")
        }
        #expect(try p.audit("released").count == 1)
    }

    @Test func releaseUsageErrorsAreOneLineAndExit125() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        for args in [["release"], ["release", "a", "b"], ["release", ""], ["release", "coder", "--bogus"]] {
            let r = try f.audit(args)
            #expect(r.status == 125, "\(args): \(r.status)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderrLines.count == 1 && r.stderr.hasPrefix("mpm-run: "), "\(args): \(r.stderr)")
        }
        // No log at the path: named, exit 1, and none is created.
        let missing = try MPMRun.run(["audit", "release", "coder", "--audit-log", f.root + "/none.jsonl"])
        #expect(missing.status == 1)
        #expect(missing.stderrLines == ["mpm-run: no audit log at \(f.root)/none.jsonl"])
        #expect(!FileManager.default.fileExists(atPath: f.root + "/none.jsonl"))
        let help = try MPMRun.run(["audit", "--help"])
        #expect(help.stdout.contains("release"), "\(help.stdout)")
    }

    // MARK: usage errors

    @Test func aBadSinceIsOneLineAndExit125() throws {
        let f = try AuditLogFixture()
        try f.standardRuns()
        for bad in ["yesterday", "10x", "5 m", "2026-13-01T00:00:00Z", "2026-11-22"] {
            let r = try f.audit(["--since", bad])
            #expect(r.status == 125, "\(bad)")
            #expect(r.stdout.isEmpty)
            #expect(r.stderrLines == ["mpm-run: --since \(bad): not a time (RFC 3339 such as 2026-11-22T03:00:00Z, "
                                      + "or a span such as 90s, 10m, 2h, 1d) (see mpm-run --help)"], "\(r.stderr)")
        }
        // A value that looks like an option is still one line and 125.
        let dash = try f.audit(["--since", "-5m"])
        #expect(dash.status == 125)
        #expect(dash.stdout.isEmpty && dash.stderrLines.count == 1, "\(dash.stderr)")
        let type = try f.audit(["--type", "denied"])
        #expect(type.status == 125)
        #expect(type.stderrLines.count == 1)
        #expect(type.stderr.hasPrefix("mpm-run: --type denied: not a record type (one of run_started, run_exited, permission_denied,"))
        let missing = try MPMRun.run(["audit", "--audit-log", f.root + "/none.jsonl"])
        #expect(missing.status == 1)
        #expect(missing.stderrLines == ["mpm-run: no audit log at \(f.root)/none.jsonl"])
    }

    @Test func aLogThatCannotBeCreatedIsRefusedNamingThePathAndTheFix() throws {
        let f = try AuditLogFixture()
        // A file where the log's folder must be.
        _ = FileManager.default.createFile(atPath: f.root + "/blocker", contents: nil)
        let path = f.root + "/blocker/mpm-run/audit.jsonl"
        do {
            _ = try AuditLog(path: path)
            Issue.record("opened \(path)")
        } catch {
            #expect(error.description == "audit log \(path): cannot create the folder \(f.root)/blocker/mpm-run: Not a directory "
                    + "(make it writable, or choose another file with --audit-log FILE or MPM_AUDIT_LOG)")
            #expect(error.path == path)
        }
        // A symlink planted at the log's path is never followed.
        try FileManager.default.createDirectory(atPath: f.root + "/state", withIntermediateDirectories: true)
        symlink("/etc/passwd", f.path)
        #expect(throws: AuditError(.symlink(path: f.path))) { try AuditLog(path: f.path) }
        // A folder the user cannot write (checked as nobody when the tests run as root).
        if geteuid() != 0 {
            let locked = f.root + "/locked"
            mkdir(locked, 0o500)
            #expect(throws: AuditError(.open(path: locked + "/audit.jsonl", errno: EACCES))) { try AuditLog(path: locked + "/audit.jsonl") }
        }
    }
}
