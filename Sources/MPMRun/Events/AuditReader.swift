#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc

/// What `audit verify` found: every record sound and chained, or the first line that is not.
public struct AuditVerification: Sendable, Equatable, CustomStringConvertible {
    /// The first problem: `line` is 1-based (0 when the log itself is missing or unreadable).
    public struct Problem: Sendable, Equatable {
        public var line: Int
        public var message: String
    }

    /// Lines verified before the first problem (all of them when there is none).
    public var records: Int
    /// The first record's seq; a log that does not start at 1 continues an older one.
    public var firstSeq: Int?
    public var problem: Problem?

    public var ok: Bool { problem == nil }

    /// `ok: 12 records, chain intact`, or the problem as `PATH:LINE: what is wrong`.
    public var description: String {
        if let problem { return problem.message }
        var s = "ok: \(records) record\(records == 1 ? "" : "s"), chain intact"
        if let firstSeq, firstSeq != 1 { s += " (from seq \(firstSeq): earlier records are not in this file)" }
        return s
    }
}

/// The agent's recent history in the log, newest records only: what section 5's thresholds
/// (rate limit, quarantine) are decided from, across separate mpm-run processes.
public struct AuditActivity: Sendable, Equatable {
    public struct Incident: Sendable, Equatable {
        public var time: Date
        public var runID: String?
        public var kind: String
        public var action: String?
    }

    /// `ts` of the agent's `run_started` records in the window, oldest first.
    public var launches: [Date] = []
    /// The agent's `incident` records in the window, oldest first.
    public var incidents: [Incident] = []
    /// When the agent's quarantine ends, if one is in force at `now`: the `until` (RFC 3339)
    /// of its newest `incident` record of kind `quarantined` that has one, unless a newer
    /// `released` record of the agent lifted it.
    public var quarantinedUntil: Date?
    /// The `until` of the agent's newest quarantine when it has ended and neither a launch
    /// (`run_started` at or after it) nor a `released` record has followed: the next launch
    /// records its release (`released`, by expiry).
    public var endedQuarantine: Date?

    public init() {}

    /// Launches in the `seconds` before `now` (the rate limit: more than 100 in 60 s).
    public func launches(within seconds: Int, now: Date) -> Int {
        let from = now.addingTimeInterval(-Double(seconds))
        return launches.filter { $0 >= from }.count
    }

    /// Runs that ended in an incident in the `seconds` before `now`, one per run id (the
    /// quarantine: 5 in 300 s). Refusals (`rate_limit`, `quarantined`) are launches that never
    /// ran: counting them would keep an agent quarantined for as long as someone retries it.
    public func runsEndingInIncident(within seconds: Int, now: Date) -> Int {
        let from = now.addingTimeInterval(-Double(seconds))
        var runs = Set<String>()
        var anonymous = 0
        for i in incidents where i.time >= from && i.kind != "rate_limit" && i.kind != "quarantined" {
            if let id = i.runID { runs.insert(id) } else { anonymous += 1 }
        }
        return runs.count + anonymous
    }
}

/// One of an agent's records that its rate limit and quarantine are decided from.
struct ActivityRecord: Sendable {
    enum Kind: Sendable {
        case launch
        case incident(kind: String, action: String?, until: Date?)
        case released
    }

    var time: Date
    var runID: String?
    var kind: Kind

    /// Nil for a record of any other type.
    init?(_ record: [String: JSONValue], time: Date) {
        self.time = time
        runID = record["run_id"]?.stringValue
        switch record["type"]?.stringValue {
        case Event.Kind.runStarted.rawValue:
            kind = .launch
        case Event.Kind.incident.rawValue:
            kind = .incident(kind: record["kind"]?.stringValue ?? "", action: record["action"]?.stringValue,
                             until: record["until"]?.stringValue.flatMap(AuditTime.parse))
        case Event.Kind.released.rawValue:
            kind = .released
        default:
            return nil
        }
    }
}

/// `recentActivity`'s reading of one agent's records, fed newest first; `past` says when
/// no older record can change the answer. Kept apart from the file so that `ActivityIndex`
/// can replay the records it holds in memory and reach the same answer.
struct ActivityScan {
    let seconds: Int
    let now: Date
    let from: Date
    private(set) var activity = AuditActivity()
    /// The records taken, newest first.
    private(set) var taken: [ActivityRecord] = []
    private var released = false
    private var quarantineSeen = false
    private var newestLaunch: Date?

    init(within seconds: Int, now: Date) {
        self.seconds = seconds
        self.now = now
        from = now.addingTimeInterval(-Double(seconds))
    }

    /// Before the agent's newest launch, quarantine or release is found, only its own
    /// records matter.
    var skipping: Bool { !released && !quarantineSeen && newestLaunch == nil }

    /// Whether the scan is done at a record of time `t`.
    func past(_ t: Date) -> Bool {
        guard t < from else { return false }
        if released || quarantineSeen { return true }
        return newestLaunch.map { t < $0.addingTimeInterval(-Double(seconds)) } ?? false
    }

    mutating func take(_ r: ActivityRecord) {
        taken.append(r)
        // Past the window only the search for an ended quarantine goes on.
        let inWindow = r.time >= from
        switch r.kind {
        case .launch:
            if newestLaunch == nil { newestLaunch = r.time }
            if inWindow { activity.launches.append(r.time) }
        case .incident(let kind, let action, let until) where !released:
            if inWindow { activity.incidents.append(.init(time: r.time, runID: r.runID, kind: kind, action: action)) }
            if kind == "quarantined" && !quarantineSeen, let until {
                quarantineSeen = true
                if until > now {
                    activity.quarantinedUntil = until
                } else if newestLaunch.map({ $0 < until }) ?? true {
                    activity.endedQuarantine = until
                }
            }
        case .released:
            released = true
        default:
            break
        }
    }

    /// Oldest first, as `AuditActivity` lists them.
    mutating func finish() {
        activity.launches.reverse()
        activity.incidents.reverse()
    }

    /// The scan of `records` (newest first) up to where it is past.
    static func replay(_ records: [ActivityRecord], within seconds: Int, now: Date) -> ActivityScan {
        var scan = ActivityScan(within: seconds, now: now)
        for r in records {
            if scan.past(r.time) { break }
            scan.take(r)
        }
        scan.finish()
        return scan
    }
}

extension AuditLog {
    /// Checks every line: a JSON object, `seq` one more than the line before's (the first
    /// line's may be any, for a log that continues a rotated one; a log that starts at seq 1
    /// must start with 64 zeros as `prev`), and `prev` the SHA-256 of the line before. Names
    /// the first bad line, e.g. `audit.jsonl:17: prev does not match line 16 (…)`.
    ///
    /// A hash chain cannot see a change to its newest line (no line after it vouches for it)
    /// nor lines cut from its start of a log that does not begin at seq 1.
    public static func verify(path: String) -> AuditVerification {
        var result = AuditVerification(records: 0)
        func fail(_ line: Int, _ what: String) -> AuditVerification {
            result.problem = .init(line: line, message: line > 0 ? "\(path):\(line): \(what)" : what)
            return result
        }
        let fd: Int32
        do { fd = try AuditFile.openForReading(path) } catch { return fail(0, error.description) }
        defer { close(fd) }
        do {
            var lines = ForwardLines(fd: fd, path: path, limit: try AuditFile.completeSize(fd, path: path))
            var previous: (seq: Int, hash: String)?
            while let line = try lines.next() {
                let n = line.number
                guard !line.bytes.isEmpty else { return fail(n, "an empty line") }
                guard let record = AuditRecord.parse(line.bytes) else {
                    return fail(n, line.terminated ? "not a JSON object"
                                                   : "not a JSON object (an unfinished last line: a torn write)")
                }
                guard let seq = record["seq"]?.intValue else { return fail(n, "seq is missing or not a whole number") }
                let prev = record["prev"]?.stringValue
                if let previous {
                    if seq <= previous.seq {
                        return fail(n, "seq \(seq) follows \(previous.seq) (\(seq == previous.seq ? "a line is repeated" : "lines are out of order"))")
                    }
                    if seq != previous.seq + 1 {
                        // A later line with a seq in the gap means the lines were reordered.
                        let next = try lines.peek().flatMap { AuditRecord.quickSeq($0.bytes) ?? AuditRecord.parse($0.bytes)?["seq"]?.intValue }
                        let reordered = next.map { $0 > previous.seq && $0 < seq } ?? false
                        return fail(n, "seq \(seq) follows \(previous.seq) (\(reordered ? "lines are out of order" : "a line is missing"))")
                    }
                    if prev != previous.hash {
                        return fail(n, "prev does not match line \(n - 1) (a line was changed, removed or reordered)")
                    }
                } else {
                    result.firstSeq = seq
                    guard prev.map(isHexDigest) ?? false else { return fail(n, "prev is missing or not a SHA-256 in hex") }
                    if seq == 1 && prev != AuditRecord.genesis {
                        return fail(n, "the first record's prev is not 64 zeros (records were removed from the start)")
                    }
                }
                guard line.terminated else { return fail(n, "no newline at the end (an unfinished write)") }
                previous = (seq, AuditRecord.hash(line.bytes))
                result.records += 1
            }
        } catch {
            return fail(0, error.description)
        }
        return result
    }

    /// The records of `agent` (agent_id), of `type`, at or after `since`, oldest first; each
    /// argument nil matches everything. Reads line by line; lines that are not JSON objects
    /// are skipped (`verify` is what reports them), as are lines without a readable `ts` when
    /// `since` is given.
    public static func records(path: String, agent: String? = nil, type: String? = nil,
                               since: Date? = nil) throws(AuditError) -> [JSONValue] {
        var out: [JSONValue] = []
        try forEachRecord(path: path, agent: agent, type: type, since: since) { _, record in out.append(record) }
        return out
    }

    /// `records`, streamed: `body` gets each matching line exactly as stored (without its
    /// newline) and its record, so a log of any size can be printed.
    public static func forEachRecord(path: String, agent: String? = nil, type: String? = nil, since: Date? = nil,
                                     _ body: (String, JSONValue) -> Void) throws(AuditError) {
        let fd = try AuditFile.openForReading(path)
        defer { close(fd) }
        let size = try AuditFile.completeSize(fd, path: path)
        var start: Int64 = 0
        if let since { start = try firstOffset(fd, path: path, size: size, since: since) }
        var lines = ForwardLines(fd: fd, path: path, limit: size, from: start)
        let marker = agent.map(AuditRecord.agentMarker)
        while let line = try lines.next() {
            // Cheap rejections first: most lines of a large log are some other agent's.
            if let since, let t = AuditRecord.quickTime(line.bytes), t < since { continue }
            if let marker, AuditRecord.firstRange(of: marker, in: line.bytes) == nil { continue }
            guard let record = AuditRecord.parse(line.bytes) else { continue }
            if let agent, record["agent_id"]?.stringValue != agent { continue }
            if let type, record["type"]?.stringValue != type { continue }
            if let since {
                guard let t = record["ts"]?.stringValue.flatMap(AuditTime.parse), t >= since else { continue }
            }
            body(String(decoding: line.bytes, as: UTF8.self), .object(record))
        }
    }

    /// Where the records at or after `since` begin: found reading backwards from the end, so
    /// `--since 10m` on a large log reads only its last ten minutes (times only grow down the
    /// file; see recentActivity).
    private static func firstOffset(_ fd: Int32, path: String, size: Int64, since: Date) throws(AuditError) -> Int64 {
        var lines = try BackwardLines(fd: fd, path: path, size: size)
        var start: Int64 = size
        while let line = try lines.next() {
            guard let t = AuditRecord.quickTime(line.bytes) ?? AuditRecord.parse(line.bytes)?["ts"]?.stringValue.flatMap(AuditTime.parse)
            else {
                start = line.offset
                continue
            }
            if t < since { break }
            start = line.offset
        }
        return start
    }

    /// The agent's launches, incidents and quarantine from the newest records back to
    /// `now - seconds`, reading the log backwards from its end: pass the longest window a
    /// decision needs (max of 60 s, quarantine_window_seconds and quarantine_seconds). Lines
    /// of other agents are skipped without parsing. The scan stops at the first record older
    /// than the window (appends take their time under the lock, so times only grow down the
    /// file, unless the clock is stepped back). A `released` record of the agent ends the scan
    /// for incidents and quarantine: what came before it was forgiven. A missing log is an
    /// empty history.
    ///
    /// To find a quarantine that has ended since the agent last ran (`endedQuarantine`), the
    /// scan goes on past the window until it meets the agent's newest quarantine or release,
    /// or records older than `seconds` before the agent's newest launch (a quarantine recorded
    /// before then ended before that launch, when `seconds` is at least quarantine_seconds).
    /// For an agent that has not run for a long time this reads back to its last run (other
    /// agents' lines passed over in bulk: about 1 ms a MB).
    public static func recentActivity(path: String, agent: String, within seconds: Int,
                                      now: Date) throws(AuditError) -> AuditActivity {
        try scanActivity(path: path, agent: agent, within: seconds, now: now)?.scan.activity ?? AuditActivity()
    }

    /// The scan of `recentActivity`, and the file it read: its identity, the size read and
    /// the records the scan took (what `ActivityIndex` keeps). Nil for a missing log.
    static func scanActivity(path: String, agent: String, within seconds: Int,
                             now: Date) throws(AuditError) -> (scan: ActivityScan, file: ActivityIndex.FileMark)? {
        guard let fd = try AuditFile.openIfPresent(path) else { return nil }
        defer { close(fd) }
        let size = try AuditFile.completeSize(fd, path: path)
        let mark = try ActivityIndex.FileMark(fd, end: size, path: path)
        var lines = try BackwardLines(fd: fd, path: path, size: size)
        let marker = AuditRecord.agentMarker(agent)
        var scan = ActivityScan(within: seconds, now: now)
        while true {
            // Until the agent's newest launch, quarantine or release is found, nothing stops
            // the scan and only the agent's own lines matter: pass over the others in bulk.
            guard let line = try scan.skipping ? lines.next(containing: marker) : lines.next() else { break }
            let quick = AuditRecord.quickTime(line.bytes)
            if let quick, scan.past(quick) { break }
            guard AuditRecord.firstRange(of: marker, in: line.bytes) != nil || quick == nil,
                  let record = AuditRecord.parse(line.bytes),
                  let time = quick ?? record["ts"]?.stringValue.flatMap(AuditTime.parse)
            else { continue }
            if scan.past(time) { break }
            guard record["agent_id"]?.stringValue == agent, let r = ActivityRecord(record, time: time) else { continue }
            scan.take(r)
        }
        scan.finish()
        return (scan, mark)
    }

    /// When the agent's quarantine ends, if one is in force at `now`: the `until` of its
    /// newest `quarantined` incident that has one, unless a newer `released` record lifted
    /// it. Reads backwards from the end as far as that record, without a window (what
    /// `audit release` asks; a launch asks `recentActivity`). A missing log throws.
    public static func quarantinedUntil(path: String, agent: String, now: Date) throws(AuditError) -> Date? {
        let fd = try AuditFile.openForReading(path)
        defer { close(fd) }
        var lines = try BackwardLines(fd: fd, path: path, size: try AuditFile.completeSize(fd, path: path))
        let marker = AuditRecord.agentMarker(agent)
        while let line = try lines.next(containing: marker) {
            guard let record = AuditRecord.parse(line.bytes), record["agent_id"]?.stringValue == agent
            else { continue }
            switch record["type"]?.stringValue {
            case Event.Kind.released.rawValue:
                return nil
            case Event.Kind.incident.rawValue where record["kind"]?.stringValue == "quarantined":
                guard let until = record["until"]?.stringValue.flatMap(AuditTime.parse) else { continue }
                return until > now ? until : nil
            default:
                continue
            }
        }
        return nil
    }

    private static func isHexDigest(_ s: String) -> Bool {
        s.utf8.count == 64 && s.utf8.allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
    }
}
