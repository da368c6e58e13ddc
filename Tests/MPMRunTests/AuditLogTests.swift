import Foundation
import Glibc
import Synchronization
import Testing

@testable import MPMRun

/// A private folder under /tmp for one test's logs, removed at the end.
private final class LogFolder {
    let root: String
    var log: String { root + "/state/mpm-run/audit.jsonl" }

    init() throws {
        var template = Array("/tmp/mpm-audit-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        root = String(cString: made)
    }

    deinit { try? FileManager.default.removeItem(atPath: root) }

    func lines(_ path: String? = nil) throws -> [String] {
        let text = try String(contentsOfFile: path ?? log, encoding: .utf8)
        return text.split(separator: "\n", omittingEmptySubsequences: false).dropLast().map(String.init)
    }

    func writeLines(_ lines: [String], _ path: String? = nil) throws {
        try Data((lines.map { $0 + "\n" }.joined()).utf8).write(to: URL(fileURLWithPath: path ?? log))
    }
}

/// A clock the test moves by hand.
private final class TestClock: Sendable {
    private let now: Mutex<Date>
    init(_ start: Date) { now = Mutex(start) }
    func read() -> Date { now.withLock { $0 } }
    func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
    var function: @Sendable () -> Date { { self.read() } }
}

private final class Failures: Sendable {
    let list = Mutex<[String]>([])
}

/// SHA-256 as sha256sum computes it: an independent check of the chain.
private func sha256sum(_ text: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
    let input = Pipe(), output = Pipe()
    p.standardInput = input
    p.standardOutput = output
    try p.run()
    input.fileHandleForWriting.write(Data(text.utf8))
    try input.fileHandleForWriting.close()
    let out = output.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(String(decoding: out, as: UTF8.self).prefix(64))
}

private func object(_ line: String) throws -> [String: Any] {
    try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] ?? [:]
}

private func mode(_ path: String) -> mode_t {
    var st = stat()
    return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
}

private func sampleEvents(_ count: Int, agent: String = "coder") -> [Event] {
    (0..<count).map { i in
        switch i % 3 {
        case 0: return Event(.runStarted, runID: "run-\(i)", agentID: agent, ["pid": .int(1000 + i)])
        case 1: return .permissionDenied(runID: "run-\(i)", agentID: agent, permission: "network_access", plane: "syscall",
                                         syscall: "socket", pid: 1000 + i, reason: "socket(AF_INET) needs network_access")
        default: return .incident(runID: "run-\(i)", agentID: agent, kind: "timeout", detail: "ran longer than 30 s", action: "killed")
        }
    }
}

@Suite("Audit log")
struct AuditLogTests {
    // MARK: files and modes

    @Test("creates the log 0600 and its missing folders 0700")
    func modes() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        try log.append(Event(.runStarted, runID: "r1", agentID: "a"))
        #expect(mode(f.log) == 0o600)
        #expect(mode(f.root + "/state/mpm-run") == 0o700)
        #expect(mode(f.root + "/state") == 0o700)
        // An existing folder is the user's choice and keeps its mode.
        #expect(mode(f.root) == 0o700)  // mkdtemp's
        let shared = f.root + "/shared"
        mkdir(shared, 0o755)
        _ = try AuditLog(path: shared + "/log.jsonl")
        #expect(mode(shared) == 0o755)
        #expect(mode(shared + "/log.jsonl") == 0o600)
    }

    @Test("a symlink, a folder or a FIFO at the path is refused with a line naming the path and the fix")
    func refusals() throws {
        let f = try LogFolder()
        let target = f.root + "/elsewhere.jsonl"
        _ = FileManager.default.createFile(atPath: target, contents: nil)
        symlink(target, f.root + "/link.jsonl")
        #expect(throws: AuditError(.symlink(path: f.root + "/link.jsonl"))) { try AuditLog(path: f.root + "/link.jsonl") }
        do {
            _ = try AuditLog(path: f.root + "/link.jsonl")
        } catch {
            #expect(error.description == "audit log \(f.root)/link.jsonl: is a symlink, which is never followed "
                    + "(replace it with a regular file, or choose another file with --audit-log FILE or MPM_AUDIT_LOG)")
        }
        mkfifo(f.root + "/fifo", 0o600)
        #expect(throws: AuditError(.notAFile(path: f.root + "/fifo", what: "a FIFO"))) { try AuditLog(path: f.root + "/fifo") }
        #expect(throws: AuditError(.open(path: f.root, errno: EISDIR))) { try AuditLog(path: f.root) }

        // A file where a folder must be: the folder that could not be made is named.
        _ = FileManager.default.createFile(atPath: f.root + "/file", contents: nil)
        do {
            _ = try AuditLog(path: f.root + "/file/sub/audit.jsonl")
            Issue.record("opened a log under a file")
        } catch {
            #expect(error.description == "audit log \(f.root)/file/sub/audit.jsonl: cannot create the folder \(f.root)/file/sub: "
                    + "Not a directory (make it writable, or choose another file with --audit-log FILE or MPM_AUDIT_LOG)")
        }
    }

    @Test("the default path: MPM_AUDIT_LOG, then XDG_STATE_HOME, then HOME, then the passwd home")
    func defaultPath() {
        #expect(AuditLog.defaultPath(environment: ["MPM_AUDIT_LOG": "/x/a.jsonl", "XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/x/a.jsonl")
        #expect(AuditLog.defaultPath(environment: ["XDG_STATE_HOME": "/s", "HOME": "/h"]) == "/s/mpm-run/audit.jsonl")
        #expect(AuditLog.defaultPath(environment: ["MPM_AUDIT_LOG": "", "XDG_STATE_HOME": "", "HOME": "/h/"]) == "/h/.local/state/mpm-run/audit.jsonl")
        // The XDG spec: a relative value is invalid and ignored.
        #expect(AuditLog.defaultPath(environment: ["XDG_STATE_HOME": "rel", "HOME": "/h"]) == "/h/.local/state/mpm-run/audit.jsonl")
        let home = AuditLog.passwdHome()
        #expect(home != nil)
        #expect(AuditLog.defaultPath(environment: [:]) == (home ?? "") + "/.local/state/mpm-run/audit.jsonl")
    }

    // MARK: records

    @Test("each record: seq, ts, type, run_id, agent_id, the fields at top level, prev last")
    func recordShape() throws {
        let f = try LogFolder()
        let clock = TestClock(Date(timeIntervalSince1970: 1_795_317_636.123))
        let log = try AuditLog(path: f.log, clock: clock.function)
        let record = try log.append(.permissionDenied(runID: "r1", agentID: nil, permission: "network_access", plane: "syscall",
                                                      syscall: "socket", pid: 1234, reason: "no network"))
        let line = try f.lines()[0]
        #expect(line == #"{"seq":1,"ts":"2026-11-22T03:20:36.123Z","type":"permission_denied","run_id":"r1","agent_id":null,"#
                + #""path":null,"permission":"network_access","pid":1234,"plane":"syscall","reason":"no network","syscall":"socket","#
                + #""prev":"0000000000000000000000000000000000000000000000000000000000000000"}"#)
        #expect(record["seq"] == 1)
        #expect(record["agent_id"] == .null)
        #expect(record["syscall"] == "socket")
        #expect(record["prev"] == .string(String(repeating: "0", count: 64)))
    }

    @Test("seq counts up by one and prev is the SHA-256 of the previous line")
    func chain() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        for e in sampleEvents(5) { try log.append(e) }
        let lines = try f.lines()
        #expect(lines.count == 5)
        for (i, line) in lines.enumerated() {
            let o = try object(line)
            #expect(o["seq"] as? Int == i + 1)
            let expected = i == 0 ? String(repeating: "0", count: 64) : try sha256sum(lines[i - 1])
            #expect(o["prev"] as? String == expected)
        }
        // A second instance (another supervisor) continues the same chain.
        let other = try AuditLog(path: f.log)
        try other.append(Event(.released, runID: nil, agentID: "coder"))
        let sixth = try object(try f.lines()[5])
        #expect(sixth["seq"] as? Int == 6)
        #expect(sixth["prev"] as? String == (try sha256sum(lines[4])))
    }

    @Test("keys naming a password, token, key, secret or credential are redacted at any depth, in any case")
    func redaction() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        let fields: [String: JSONValue] = [
            "API_KEY": "AKIAIOSFODNN7EXAMPLE",
            "Password": "hunter2",
            "github_token": "ghp_0123456789abcdef",
            "mySecretThing": ["nested": "nested-secret-value"],
            "aws_credentials": ["a", "b"],
            "config": ["db": ["PASSWORD": "pw-deep", "host": "db.local"], "list": [["token": "t-in-array", "name": "n"]]],
            "path": "/etc/passwd",
            "detail": "password=visible-because-values-are-not-keys",
            "count": 3,
        ]
        let record = try log.append(Event(.agentRejected, runID: "r", agentID: "a", fields))
        let redacted: JSONValue = "***REDACTED***"
        for key in ["API_KEY", "Password", "github_token", "mySecretThing", "aws_credentials"] {
            #expect(record[key] == redacted, "\(key)")
        }
        #expect(record["config"] == ["db": ["PASSWORD": redacted, "host": "db.local"], "list": [["token": redacted, "name": "n"]]])
        #expect(record["path"] == "/etc/passwd")
        #expect(record["detail"] == "password=visible-because-values-are-not-keys")
        #expect(record["count"] == 3)
        let text = try String(contentsOfFile: f.log, encoding: .utf8)
        for secret in ["AKIAIOSFODNN7EXAMPLE", "hunter2", "ghp_0123456789abcdef", "nested-secret-value", "pw-deep", "t-in-array"] {
            #expect(!text.contains(secret), "\(secret) reached the log")
        }
        // What is written is what was returned.
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == record)
    }

    @Test("a field named like a record key is kept beside it, never in its place; NaN is written as null")
    func reservedAndOddValues() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        let record = try log.append(Event(.released, runID: "r", agentID: "a",
                                          ["seq": 99, "type": "forged", "ratio": .double(.nan), "line\nbreak": "a\u{2028}b\u{1}"]))
        #expect(record["seq"] == 1)
        #expect(record["type"] == "released")
        #expect(record["field_seq"] == 99)
        #expect(record["field_type"] == "forged")
        #expect(record["ratio"] == .null)
        let lines = try f.lines()
        #expect(lines.count == 1)
        #expect(lines[0].contains(#""line\nbreak":"a\u2028b\u0001""#))
        #expect(AuditLog.verify(path: f.log).ok)
    }

    @Test("ts is RFC 3339 in UTC with milliseconds")
    func timestamps() throws {
        #expect(AuditTime.format(Date(timeIntervalSince1970: 1_795_317_636.123)) == "2026-11-22T03:20:36.123Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: 1_709_251_199.9999)) == "2024-02-29T23:59:59.999Z")
        #expect(AuditTime.format(Date(timeIntervalSince1970: -0.5)) == "1969-12-31T23:59:59.500Z")
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        let ts = try log.append(Event(.runStarted, runID: "r", agentID: "a"))["ts"]?.stringValue ?? ""
        #expect(ts.wholeMatch(of: /\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z/) != nil, "\(ts)")
        let parsed = AuditTime.parse(ts)?.timeIntervalSince1970 ?? 0
        #expect(abs(parsed - Date().timeIntervalSince1970) < 5)

        #expect(AuditTime.parse("2026-11-22T03:20:36Z")?.timeIntervalSince1970 == 1_795_317_636)
        #expect(AuditTime.parse("2026-11-22t05:20:36.5+02:00")?.timeIntervalSince1970 == 1_795_317_636.5)
        #expect(AuditTime.parse("2026-11-22 03:20:36z")?.timeIntervalSince1970 == 1_795_317_636)
        for bad in ["2026-11-22", "2026-11-22T03:20:36", "2026-02-30T00:00:00Z", "2026-11-22T24:00:00Z",
                    "2026-11-22T03:20:36.Z", "2026-11-22T03:20:36Zx", "yesterday", ""] {
            #expect(AuditTime.parse(bad) == nil, "\(bad)")
        }
        let now = Date(timeIntervalSince1970: 1_795_317_636)
        #expect(AuditTime.parseSince("10m", now: now)?.timeIntervalSince1970 == 1_795_317_036)
        #expect(AuditTime.parseSince("2h", now: now)?.timeIntervalSince1970 == 1_795_310_436)
        #expect(AuditTime.parseSince("1d", now: now)?.timeIntervalSince1970 == 1_795_231_236)
        #expect(AuditTime.parseSince("90s", now: now)?.timeIntervalSince1970 == 1_795_317_546)
        for bad in ["m", "-5m", "5x", "1.5h", "99999999999999999999d", "１０m"] {
            #expect(AuditTime.parseSince(bad, now: now) == nil, "\(bad)")
        }
    }

    // MARK: verify

    /// A log of `count` records, its lines, and the path.
    private func makeLog(_ count: Int) throws -> (LogFolder, [String]) {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        for e in sampleEvents(count) { try log.append(e) }
        return (f, try f.lines())
    }

    @Test("verify passes on a real log and an empty one, and fails on a missing one")
    func verifyIntact() throws {
        let (f, _) = try makeLog(30)
        let v = AuditLog.verify(path: f.log)
        #expect(v.ok)
        #expect(v.records == 30)
        #expect(v.description == "ok: 30 records, chain intact")
        try f.writeLines([])
        #expect(AuditLog.verify(path: f.log).description == "ok: 0 records, chain intact")
        let missing = AuditLog.verify(path: f.root + "/none.jsonl")
        #expect(!missing.ok)
        #expect(missing.description == "no audit log at \(f.root)/none.jsonl")
    }

    @Test("verify names the line after one changed byte")
    func verifyChangedByte() throws {
        let (f, lines) = try makeLog(30)
        var changed = lines
        changed[11] = changed[11].replacingOccurrences(of: "ran longer than 30 s", with: "ran longer than 31 s")
        #expect(changed[11].utf8.count == lines[11].utf8.count && changed[11] != lines[11])
        try f.writeLines(changed)
        #expect(AuditLog.verify(path: f.log).description
                == "\(f.log):13: prev does not match line 12 (a line was changed, removed or reordered)")
        // A changed seq is caught on its own line.
        changed = lines
        changed[4] = changed[4].replacingOccurrences(of: #"{"seq":5,"#, with: #"{"seq":6,"#)
        try f.writeLines(changed)
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):5: seq 6 follows 4 (a line is missing)")
        // A byte that breaks the JSON.
        changed = lines
        changed[19] = String(changed[19].dropLast())
        try f.writeLines(changed)
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):20: not a JSON object")
    }

    @Test("verify names the line where one was removed")
    func verifyRemoved() throws {
        let (f, lines) = try makeLog(30)
        var removed = lines
        removed.remove(at: 16)
        try f.writeLines(removed)
        let v = AuditLog.verify(path: f.log)
        #expect(v.description == "\(f.log):17: seq 18 follows 16 (a line is missing)")
        #expect(v.problem?.line == 17)
        #expect(v.records == 16)
        // The first line removed: indistinguishable from a log that continues a rotated one,
        // so verify passes but says where the records start.
        try f.writeLines(Array(lines.dropFirst()))
        #expect(AuditLog.verify(path: f.log).description == "ok: 29 records, chain intact (from seq 2: earlier records are not in this file)")
    }

    @Test("verify names the line where two were swapped")
    func verifySwapped() throws {
        let (f, lines) = try makeLog(30)
        var swapped = lines
        swapped.swapAt(6, 7)
        try f.writeLines(swapped)
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):7: seq 8 follows 6 (lines are out of order)")
        // Swapped and renumbered to hide it: the hashes still tell.
        var renumbered = swapped
        renumbered[6] = renumbered[6].replacingOccurrences(of: #"{"seq":8,"#, with: #"{"seq":7,"#)
        renumbered[7] = renumbered[7].replacingOccurrences(of: #"{"seq":7,"#, with: #"{"seq":8,"#)
        try f.writeLines(renumbered)
        #expect(AuditLog.verify(path: f.log).description
                == "\(f.log):7: prev does not match line 6 (a line was changed, removed or reordered)")
    }

    @Test("verify names a truncated line, in the middle or torn at the end")
    func verifyTruncated() throws {
        let (f, lines) = try makeLog(10)
        var cut = lines
        cut[3] = String(cut[3].prefix(40))
        try f.writeLines(cut)
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):4: not a JSON object")
        // Torn at the end: the last write stopped half-way, without its newline.
        let torn = lines.dropLast().map { $0 + "\n" }.joined() + String(lines[9].prefix(50))
        try Data(torn.utf8).write(to: URL(fileURLWithPath: f.log))
        #expect(AuditLog.verify(path: f.log).description
                == "\(f.log):10: not a JSON object (an unfinished last line: a torn write)")
        // Only the newline missing.
        try Data((lines.map { $0 + "\n" }.joined().dropLast()).utf8).write(to: URL(fileURLWithPath: f.log))
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):10: no newline at the end (an unfinished write)")
        // Empty lines and a log that is not JSON at all.
        try f.writeLines([lines[0], ""])
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):2: an empty line")
    }

    @Test("appending after a torn last line starts a new line chained to the torn bytes")
    func appendAfterTorn() throws {
        let (f, lines) = try makeLog(5)
        let tornLine = String(lines[4].prefix(30))
        let torn = lines.dropLast().map { $0 + "\n" }.joined() + tornLine
        try Data(torn.utf8).write(to: URL(fileURLWithPath: f.log))
        let log = try AuditLog(path: f.log)
        let record = try log.append(Event(.runStarted, runID: "r9", agentID: "coder"))
        let now = try f.lines()
        #expect(now.count == 6)
        #expect(now[4] == tornLine)
        #expect(record["seq"] == 6)  // the torn line keeps its number
        #expect(record["prev"] == .string(try sha256sum(tornLine)))
        #expect(AuditLog.verify(path: f.log).description == "\(f.log):5: not a JSON object")
    }

    @Test("records far longer than a read chunk chain and read back like short ones")
    func longRecords() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        let long = String(repeating: "x", count: 300_000)
        try log.append(.incident(runID: "r1", agentID: "coder", kind: "output_limit", detail: long, action: "killed"))
        try log.append(Event(.runStarted, runID: "r2", agentID: "coder"))
        try log.append(.incident(runID: "r2", agentID: "coder", kind: "timeout", detail: long + long, action: "killed"))
        let record = try log.append(Event(.runStarted, runID: "r3", agentID: "coder"))
        #expect(record["seq"] == 4)
        #expect(record["prev"] == .string(try sha256sum(try f.lines()[2])))
        #expect(AuditLog.verify(path: f.log).description == "ok: 4 records, chain intact")
        let a = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 60, now: Date())
        #expect(a.launches.count == 2 && a.incidents.count == 2)
        #expect(try AuditLog.records(path: f.log, type: "incident", since: Date().addingTimeInterval(-60)).count == 2)
    }

    @Test("a log renamed away (rotated) or removed is recreated at its path by the next append")
    func rotation() throws {
        let f = try LogFolder()
        let log = try AuditLog(path: f.log)
        for e in sampleEvents(3) { try log.append(e) }
        #expect(rename(f.log, f.log + ".1") == 0)
        try log.append(Event(.runStarted, runID: "r", agentID: "coder"))
        #expect(try f.lines().count == 1)
        #expect(try f.lines(f.log + ".1").count == 3)
        #expect(AuditLog.verify(path: f.log).ok)
        #expect(mode(f.log) == 0o600)
        #expect(unlink(f.log) == 0)
        try log.append(Event(.runStarted, runID: "r", agentID: "coder"))
        #expect(try f.lines().count == 1)
    }

    @Test("denials, incidents, rejections and releases are fsynced as written; a run's start and exit are not")
    func syncPolicy() throws {
        let f = try LogFolder()
        // Each fsync: the size of the file it was asked for, so we know which record it covered.
        let synced = Mutex<[Int]>([])
        let failNext = Mutex(false)
        let log = try AuditLog(path: f.log, clock: AuditTime.now, syncFile: { fd in
            if failNext.withLock({ let fail = $0; $0 = false; return fail }) {
                errno = EIO
                return -1
            }
            var st = stat()
            _ = fstat(fd, &st)
            synced.withLock { $0.append(Int(st.st_size)) }
            return fsync(fd)
        })
        func size() -> Int {
            var st = stat()
            return stat(f.log, &st) == 0 ? Int(st.st_size) : -1
        }
        try log.append(Event(.runStarted, runID: "r1", agentID: "coder"))
        try log.append(Event(.runExited, runID: "r1", agentID: "coder", ["exit_code": 0]))
        #expect(synced.withLock { $0 }.isEmpty, "a clean run's records wait for the kernel's writeback")

        var expected: [Int] = []
        for event in [Event.permissionDenied(runID: "r2", agentID: "coder", permission: "network_access", plane: "syscall",
                                             syscall: "socket", pid: 7, reason: "no network"),
                      .incident(runID: "r2", agentID: "coder", kind: "timeout", detail: "ran 30 s", action: "killed"),
                      Event(.policyRejected, runID: nil, agentID: "coder", ["reason": "x"]),
                      Event(.agentRejected, runID: nil, agentID: "coder", ["reason": "x"]),
                      Event(.released, runID: nil, agentID: "coder")] {
            try log.append(event)
            expected.append(size())
        }
        #expect(synced.withLock { $0 } == expected, "each synced with its own record already in the file")
        #expect(Event.Kind.allCases.filter(\.syncedAtOnce).count == Event.Kind.allCases.count - 2)

        // A record that cannot be synced is reported as an error, so the caller (the run)
        // fails closed; the record stays whole in the file and the chain goes on.
        let before = size()
        failNext.withLock { $0 = true }
        #expect(throws: AuditError.self) {
            try log.append(.incident(runID: "r3", agentID: "coder", kind: "timeout", detail: "d", action: "killed"))
        }
        #expect(size() > before)
        #expect(AuditLog.verify(path: f.log).ok)
        // serve's last step syncs everything, routine records included.
        try log.append(Event(.runStarted, runID: "r4", agentID: "coder"))
        try log.sync()
        #expect(synced.withLock { $0.last } == size())
    }

    @Test("an append does not wait for another's fsync: serve's launches never queue behind the disk")
    func syncOutsideTheLocks() throws {
        let f = try LogFolder()
        let inSync = DispatchSemaphore(value: 0), release = DispatchSemaphore(value: 0)
        let log = try AuditLog(path: f.log, clock: AuditTime.now, syncFile: { fd in
            inSync.signal()
            release.wait()
            return fsync(fd)
        })
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? log.append(.incident(runID: "r1", agentID: "coder", kind: "timeout", detail: "d", action: "killed"))
            done.signal()
        }
        #expect(inSync.wait(timeout: .now() + 10) == .success)
        // The incident's sync is held; a launch's record still goes in at once.
        let second = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            _ = try? log.append(Event(.runStarted, runID: "r2", agentID: "coder"))
            second.signal()
        }
        let notBlocked = second.wait(timeout: .now() + 5) == .success
        #expect(notBlocked, "the second append waited for the first one's fsync")
        release.signal()
        if !notBlocked { _ = second.wait(timeout: .now() + 10) }
        #expect(done.wait(timeout: .now() + 10) == .success)
        #expect(try f.lines().count == 2)
        #expect(AuditLog.verify(path: f.log).ok)
    }

    // MARK: reading

    @Test("records filter by agent, type and time, oldest first")
    func recordsFilters() throws {
        let f = try LogFolder()
        let clock = TestClock(Date(timeIntervalSince1970: 1_795_317_636))
        let log = try AuditLog(path: f.log, clock: clock.function)
        for e in sampleEvents(6, agent: "coder") + sampleEvents(3, agent: "writer") {
            try log.append(e)
            clock.advance(60)
        }
        #expect(try AuditLog.records(path: f.log).count == 9)
        #expect(try AuditLog.records(path: f.log, agent: "writer").compactMap { $0["seq"]?.intValue } == [7, 8, 9])
        #expect(try AuditLog.records(path: f.log, type: "incident").compactMap { $0["seq"]?.intValue } == [3, 6, 9])
        #expect(try AuditLog.records(path: f.log, agent: "coder", type: "incident").compactMap { $0["seq"]?.intValue } == [3, 6])
        let since = Date(timeIntervalSince1970: 1_795_317_636 + 5 * 60)
        #expect(try AuditLog.records(path: f.log, since: since).compactMap { $0["seq"]?.intValue } == [6, 7, 8, 9])
        #expect(try AuditLog.records(path: f.log, since: Date(timeIntervalSince1970: 1_795_317_635)).count == 9)
        #expect(try AuditLog.records(path: f.log, since: clock.read()).isEmpty)
        #expect(try AuditLog.records(path: f.log, agent: "nobody").isEmpty)
        #expect(throws: AuditError(.missing(path: f.root + "/none"))) { try AuditLog.records(path: f.root + "/none") }
    }

    @Test("recentActivity: launches, incidents and quarantine of one agent within the window")
    func recentActivity() throws {
        let f = try LogFolder()
        let t0 = Date(timeIntervalSince1970: 1_795_317_636)
        let clock = TestClock(t0)
        let log = try AuditLog(path: f.log, clock: clock.function)
        // An hour ago: outside every window.
        try log.append(Event(.runStarted, runID: "old", agentID: "coder"))
        try log.append(.incident(runID: "old", agentID: "coder", kind: "timeout", detail: "", action: "killed"))
        clock.advance(3600)
        for i in 0..<5 {
            try log.append(Event(.runStarted, runID: "r\(i)", agentID: "coder"))
            try log.append(Event(.runStarted, runID: "w\(i)", agentID: "writer"))
            try log.append(.incident(runID: "r\(i)", agentID: "coder", kind: "cpu_limit", detail: "", action: "killed"))
            // Two incidents of one run count once.
            if i == 4 { try log.append(.incident(runID: "r\(i)", agentID: "coder", kind: "denial_burst", detail: "", action: "killed")) }
            clock.advance(10)
        }
        let until = clock.read().addingTimeInterval(900)
        var quarantine = Event.incident(runID: nil, agentID: "coder", kind: "quarantined", detail: "5 runs ended in incidents", action: "quarantined")
        quarantine.fields["until"] = .string(AuditTime.format(until))
        try log.append(quarantine)
        clock.advance(5)
        try log.append(.incident(runID: nil, agentID: "coder", kind: "quarantined", detail: "", action: "refused"))

        let now = clock.read()
        let a = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 900, now: now)
        #expect(a.launches.count == 5)
        #expect(a.launches == a.launches.sorted())
        #expect(a.incidents.count == 8)
        #expect(a.runsEndingInIncident(within: 300, now: now) == 5)
        #expect(a.runsEndingInIncident(within: 30, now: now) == 2)  // r3 and r4
        #expect(a.launches(within: 60, now: now) == 5)
        #expect(a.launches(within: 30, now: now) == 2)
        #expect(a.quarantinedUntil.map(AuditTime.format) == AuditTime.format(until))
        // Later than `until`: no quarantine in force.
        let later = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 3000, now: until.addingTimeInterval(1))
        #expect(later.quarantinedUntil == nil)
        // Another agent's history is its own; a short window stops early.
        let writer = try AuditLog.recentActivity(path: f.log, agent: "writer", within: 900, now: now)
        #expect(writer.launches.count == 5 && writer.incidents.isEmpty && writer.quarantinedUntil == nil)
        #expect(try AuditLog.recentActivity(path: f.log, agent: "coder", within: 16, now: now).launches.count == 1)
        // A release lifts the quarantine and forgives earlier incidents; launches still count.
        try log.append(Event(.released, runID: nil, agentID: "coder"))
        let released = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 900, now: now)
        #expect(released.quarantinedUntil == nil)
        #expect(released.incidents.isEmpty)
        #expect(released.launches.count == 5)
        // No log yet: no history.
        #expect(try AuditLog.recentActivity(path: f.root + "/none", agent: "coder", within: 900, now: now) == AuditActivity())
    }

    @Test("a quarantine that has ended is found however long ago, until a launch or a release follows it")
    func endedQuarantine() throws {
        let f = try LogFolder()
        // A day and ten seconds ago, so that the last step is now (Thresholds reads the real clock).
        let clock = TestClock(Date().addingTimeInterval(-86_410))
        let log = try AuditLog(path: f.log, clock: clock.function)
        func activity(_ agent: String = "coder") throws -> AuditActivity {
            try AuditLog.recentActivity(path: f.log, agent: agent, within: 900, now: clock.read())
        }
        try log.append(Event(.runStarted, runID: "r0", agentID: "coder"))
        try log.append(.incident(runID: "r0", agentID: "coder", kind: "timeout", detail: "", action: "killed"))
        let until = clock.read().addingTimeInterval(900)
        var quarantine = Event.incident(runID: "r0", agentID: "coder", kind: "quarantined", detail: "", action: "quarantined")
        quarantine.fields["until"] = .string(AuditTime.format(until))
        try log.append(quarantine)
        try log.append(Event(.runExited, runID: "r0", agentID: "coder"))
        // A launch refused meanwhile, and a run of another agent, change nothing.
        clock.advance(10)
        try log.append(.incident(runID: "r1", agentID: "coder", kind: "quarantined", detail: "", action: "refused"))
        try log.append(Event(.runStarted, runID: "w1", agentID: "writer"))
        #expect(try activity().quarantinedUntil.map(AuditTime.format) == AuditTime.format(until))
        #expect(try activity().endedQuarantine == nil, "still in force")
        #expect(try AuditLog.quarantinedUntil(path: f.log, agent: "coder", now: clock.read()).map(AuditTime.format) == AuditTime.format(until))

        // A day later (far outside the window): ended, and found.
        clock.advance(86_400)
        #expect(try activity().quarantinedUntil == nil)
        #expect(try activity().endedQuarantine.map(AuditTime.format) == AuditTime.format(until))
        #expect(try AuditLog.quarantinedUntil(path: f.log, agent: "coder", now: clock.read()) == nil)
        #expect(try activity("writer").endedQuarantine == nil)
        #expect(try activity("nobody").endedQuarantine == nil)

        // The launch that goes ahead records the release; after it, nothing is due.
        let store = try AuditLog(path: f.log, clock: clock.function)
        #expect(Thresholds.refusal(agent: "coder", thresholds: IncidentThresholds(), store: store, runID: "r2") == nil)
        let released = try AuditLog.records(path: f.log, type: "released")
        #expect(released.count == 1)
        #expect(released.first?["by"] == "expiry")
        #expect(released.first?["run_id"] == "r2")
        #expect(released.first?["until"] == .string(AuditTime.format(until)))
        #expect(try activity().endedQuarantine == nil)
        try log.append(Event(.runStarted, runID: "r2", agentID: "coder"))
        #expect(Thresholds.refusal(agent: "coder", thresholds: IncidentThresholds(), store: store, runID: "r3") == nil)
        #expect(try AuditLog.records(path: f.log, type: "released").count == 1, "one release, not one a launch")
        #expect(AuditLog.verify(path: f.log).ok)
    }

    @Test("a launch after a quarantine ended (a log from before releases were recorded) means nothing is due")
    func launchedThroughAnEndedQuarantine() throws {
        let f = try LogFolder()
        let clock = TestClock(Date(timeIntervalSince1970: 1_795_317_636))
        let log = try AuditLog(path: f.log, clock: clock.function)
        let until = clock.read().addingTimeInterval(60)
        var quarantine = Event.incident(runID: "r0", agentID: "coder", kind: "quarantined", detail: "", action: "quarantined")
        quarantine.fields["until"] = .string(AuditTime.format(until))
        try log.append(quarantine)
        // A run that passed its checks before the quarantine was written starts after it: the
        // quarantine still needs its release.
        clock.advance(1)
        try log.append(Event(.runStarted, runID: "r1", agentID: "coder"))
        clock.advance(120)
        let pending = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 60, now: clock.read())
        #expect(pending.endedQuarantine.map(AuditTime.format) == AuditTime.format(until))
        // A launch after `until` went through it.
        try log.append(Event(.runStarted, runID: "r2", agentID: "coder"))
        clock.advance(1000)
        let done = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 60, now: clock.read())
        #expect(done.endedQuarantine == nil)
        #expect(done.launches.isEmpty, "launches past the window are not counted")
    }

    @Test("reading backwards, lines with a needle are found across chunk boundaries, mixed with reading line by line")
    func backwardSearch() throws {
        let f = try LogFolder()
        try FileManager.default.createDirectory(atPath: f.root + "/state/mpm-run", withIntermediateDirectories: true)
        var random = SeededRandom(seed: 0xB4C7)
        let needle = Array(#""agent_id":"coder""#.utf8)
        let alphabet = Array(#"acdeor"_:{},"#.utf8)
        var lines: [[UInt8]] = []
        for _ in 0..<3000 {
            // Mostly short lines, some far longer than a chunk; the needle anywhere in some.
            var line = (0..<random.below(300)).map { _ in random.pick(alphabet) }
            if random.chance(1) { line = Array(repeating: line + [0x78], count: 70_000 / (line.count + 1) + 1 + random.below(300)).flatMap { $0 } }
            if random.chance(15) {
                let at = random.below(line.count + 1)
                line.insert(contentsOf: needle, at: at)
                // A near miss beside it must not count.
                if random.chance(50) { line.insert(contentsOf: needle.dropLast(), at: random.below(line.count + 1)) }
            }
            lines.append(line)
        }
        let text = lines.map { $0 + [0x0A] }.joined()
        try Data(text).write(to: URL(fileURLWithPath: f.log))
        let fd = open(f.log, O_RDONLY)
        defer { close(fd) }
        let hasNeedle = lines.map { Data($0).range(of: Data(needle)) != nil }
        var offsets: [Int64] = [0]
        for line in lines { offsets.append(offsets.last! + Int64(line.count + 1)) }
        for round in 0..<4 {
            var reader = try BackwardLines(fd: fd, path: f.log, size: Int64(text.count))
            var expected = lines.count - 1  // index of the next line a plain next() returns
            while true {
                let searching = round == 0 || (round > 1 && random.chance(50))
                let got = try searching ? reader.next(containing: needle) : reader.next()
                if searching { while expected >= 0 && !hasNeedle[expected] { expected -= 1 } }
                guard let got else {
                    #expect(expected < 0, "round \(round): stopped early at line \(expected)")
                    break
                }
                guard expected >= 0, Array(got.bytes) == lines[expected] else {
                    Issue.record("round \(round): line \(expected) read wrong (\(got.bytes.count) bytes)")
                    return
                }
                #expect(got.offset == offsets[expected])
                expected -= 1
            }
        }
    }

    // MARK: scale and concurrency

    @Test("a 100 MB log: the tail query and an append read only the tail")
    func largeLog() throws {
        let f = try LogFolder()
        let setup = try AuditLog(path: f.log)
        try setup.append(Event(.runStarted, runID: "first", agentID: "coder"))
        // 100 MB of day-old records of many agents, written directly (their chain does not
        // matter here; building it with append would only slow the test).
        let old = AuditTime.format(Date().addingTimeInterval(-86_400))
        var block = ""
        var seq = 2
        while block.utf8.count < 1 << 20 {
            block += #"{"seq":\#(seq),"ts":"\#(old)","type":"permission_denied","run_id":"run-\#(seq)","agent_id":"agent-\#(seq % 50)","#
                + #""path":null,"permission":"network_access","pid":\#(seq),"plane":"syscall","reason":"socket(AF_INET) needs network_access","syscall":"socket","prev":"\#(String(repeating: "ab", count: 32))"}"# + "\n"
            seq += 1
        }
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: f.log))
        try handle.seekToEnd()
        let data = Data(block.utf8)
        for _ in 0..<100 { try handle.write(contentsOf: data) }
        try handle.close()
        let size = (try FileManager.default.attributesOfItem(atPath: f.log)[.size] as? Int) ?? 0
        #expect(size >= 100 << 20)

        let log = try AuditLog(path: f.log)
        let appends = 200
        let started = DispatchTime.now()
        for i in 0..<appends {
            try log.append(Event(.runStarted, runID: "r\(i)", agentID: i % 2 == 0 ? "coder" : "writer"))
        }
        let appendMicros = Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1000 / Double(appends)

        var best = Double.infinity
        var activity = AuditActivity()
        for _ in 0..<5 {
            let t = DispatchTime.now()
            activity = try AuditLog.recentActivity(path: f.log, agent: "coder", within: 900, now: Date())
            best = min(best, Double(DispatchTime.now().uptimeNanoseconds - t.uptimeNanoseconds) / 1e6)
        }
        #expect(activity.launches.count == appends / 2)
        #expect(best < 100, "tail query took \(best) ms")
        print("audit: 100 MB log (\(size) bytes): append \(String(format: "%.1f", appendMicros)) µs per record, "
              + "tail query over \(appends) recent records \(String(format: "%.2f", best)) ms")
    }

    @Test("four writers with their own open files append 500 records each: one intact chain of 2000")
    func concurrentWriters() throws {
        let f = try LogFolder()
        let path = f.log
        _ = try AuditLog(path: path)
        let writers = 4, each = 500
        let failures = Failures()
        let group = DispatchGroup()
        for w in 0..<writers {
            group.enter()
            // Separate threads and separate AuditLog instances: separate open file
            // descriptions, which flock serialises exactly as it does separate processes.
            Thread.detachNewThread {
                defer { group.leave() }
                do {
                    let log = try AuditLog(path: path)
                    for i in 0..<each {
                        try log.append(Event(.runStarted, runID: "w\(w)-\(i)", agentID: "writer-\(w)"))
                    }
                } catch {
                    failures.list.withLock { $0.append("\(error)") }
                }
            }
        }
        group.wait()
        #expect(failures.list.withLock { $0 }.isEmpty)
        let v = AuditLog.verify(path: f.log)
        #expect(v.description == "ok: 2000 records, chain intact")
        let records = try AuditLog.records(path: f.log)
        #expect(records.map { $0["seq"]?.intValue ?? 0 } == Array(1...2000))
        for w in 0..<writers {
            let mine = records.filter { $0["agent_id"]?.stringValue == "writer-\(w)" }.compactMap { $0["run_id"]?.stringValue }
            #expect(mine == (0..<each).map { "w\(w)-\($0)" })  // each writer's records in its own order
        }
        // One instance shared by several threads: its mutex orders them.
        let shared = try AuditLog(path: f.log)
        DispatchQueue.concurrentPerform(iterations: 4) { t in
            for i in 0..<100 {
                do { try shared.append(Event(.runStarted, runID: "s\(t)-\(i)", agentID: "shared")) }
                catch { failures.list.withLock { $0.append("\(error)") } }
            }
        }
        #expect(failures.list.withLock { $0 }.isEmpty)
        #expect(AuditLog.verify(path: f.log).description == "ok: 2400 records, chain intact")
    }

    @Test("the activity index answers what a fresh backward scan answers, as records arrive, the log rotates and time passes")
    func activityIndexMatchesAFreshScan() throws {
        let f = try LogFolder()
        let clock = TestClock(Date(timeIntervalSince1970: 1_795_317_636))
        var log = try AuditLog(path: f.log, clock: clock.function)
        let index = ActivityIndex()
        var random = SeededRandom(seed: 0xAC71_7117)
        func pick<T>(_ xs: [T]) -> T { xs[Int(random.next() % UInt64(xs.count))] }
        let agents = ["coder", "writer", "ops"]
        var checked = 0
        var rebuilt = 0
        for step in 0..<1500 {
            let agent = pick(agents)
            let run = "r\(step % 40)"
            switch random.next() % 12 {
            case 0, 1, 2: try log.append(Event(.runStarted, runID: run, agentID: agent))
            case 3, 4: try log.append(Event(.runExited, runID: run, agentID: agent))
            case 5, 6: try log.append(.incident(runID: run, agentID: agent, kind: pick(["timeout", "cpu_limit", "rate_limit"]),
                                                detail: "", action: "killed"))
            case 7:
                var q = Event.incident(runID: nil, agentID: agent, kind: "quarantined", detail: "", action: "quarantined")
                q.fields["until"] = .string(AuditTime.format(clock.read().addingTimeInterval(Double(pick([30, 300, 900])))))
                try log.append(q)
            case 8: try log.append(.incident(runID: run, agentID: agent, kind: "quarantined", detail: "", action: "refused"))
            case 9: try log.append(Event(.released, runID: nil, agentID: agent))
            case 10: try log.append(.permissionDenied(runID: run, agentID: agent, permission: "network_access", plane: "syscall",
                                                      path: nil, reason: "socket"))
            default:
                if random.next() % 40 == 0 {
                    // Rotated: the old file moves away, a new one starts (a new inode).
                    rename(f.log, f.log + ".\(step)")
                    log = try AuditLog(path: f.log, clock: clock.function)
                    rebuilt += 1
                }
            }
            clock.advance(Double(random.next() % 90))
            for agent in agents {
                let seconds = pick([60, 300, 900, 3600])
                let now = clock.read()
                let fresh = try AuditLog.recentActivity(path: f.log, agent: agent, within: seconds, now: now)
                let indexed = try index.activity(path: f.log, agent: agent, within: seconds, now: now)
                let same = fresh == indexed
                #expect(same, "step \(step), \(agent), within \(seconds): \(indexed) instead of \(fresh)")
                if !same { return }
                checked += 1
            }
        }
        #expect(checked == 4500 && rebuilt > 0)
    }
}
