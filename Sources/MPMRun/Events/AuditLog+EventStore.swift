#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Glibc
import Synchronization

extension AuditLog: EventStore {
    /// The agent's recent activity, from `ActivityIndex`: what this instance has read of
    /// the log before, plus what was appended since, by anyone.
    public func activity(of agent: String, within seconds: Int) throws -> AuditActivity {
        try activityIndex.activity(path: path, agent: agent, within: seconds, now: AuditTime.now())
    }
}

/// What a long-lived supervisor (`serve`) knows of each agent's recent records, so that the
/// rate limit and quarantine checks of a launch read only what was appended to the log
/// since the last one, not the whole window again: `recentActivity`'s backward scan reads
/// every record of the agent in the last hour, and serve's launches all ask.
///
/// Each agent keeps the records its last scan took (those within the longest window asked
/// for, and the few older ones that decide an ended quarantine), and the point of the file
/// they were read up to. A query reads forward from there to the end (appends from other
/// processes included), adds the agent's records, replays them newest first exactly as the
/// backward scan would, and keeps what that replay took. The file must be the one read
/// before: same device and inode, not shorter, and the bytes just before the point
/// unchanged; else (rotated, truncated, replaced) the agent is scanned afresh. So is it when
/// the clock has stepped back (an earlier `now`, or a new record older than the newest
/// kept): records dropped as past could count again.
final class ActivityIndex: Sendable {
    /// Where in which file an agent's records were read up to.
    struct FileMark: Sendable, Equatable {
        var device: UInt64
        var inode: UInt64
        var end: Int64
        /// The last bytes before `end`: a file replaced by another of the same inode and a
        /// larger size is caught by them.
        var tail: [UInt8]

        static let tailLength = 64

        init(_ fd: Int32, end: Int64, path: String) throws(AuditError) {
            guard let st = FS.fstat(fd) else { throw AuditError(.io(step: "stat", path: path, errno: errno)) }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            self.end = end
            let from = max(0, end - Int64(Self.tailLength))
            tail = try AuditFile.read(fd, at: from, count: Int(end - from), path: path)
        }

        /// Whether `fd` (of size `size`) continues the file this mark was taken of.
        func isContinued(by fd: Int32, size: Int64, path: String) throws(AuditError) -> Bool {
            guard let st = FS.fstat(fd), UInt64(st.st_dev) == device, UInt64(st.st_ino) == inode, size >= end else {
                return false
            }
            let from = end - Int64(tail.count)
            return try AuditFile.read(fd, at: from, count: tail.count, path: path) == tail
        }
    }

    struct Agent: Sendable {
        var file: FileMark
        /// The longest window asked for: the records kept are what a scan of it takes.
        var seconds: Int
        /// Newest first.
        var records: [ActivityRecord]
        /// The latest `now` asked with, and the newest record's time (or of the scan's
        /// start): records dropped as past can count again if the clock steps back, so an
        /// earlier `now` or a record older than the newest kept one means a fresh scan.
        var latestNow: Date
        var newest: Date
    }

    private let agents = Mutex<[String: Agent]>([:])

    init() {}

    func activity(path: String, agent: String, within seconds: Int, now: Date) throws(AuditError) -> AuditActivity {
        let known = agents.withLock { $0[agent] }
        if let known, known.seconds >= seconds, now >= known.latestNow,
           let updated = try update(known, path: path, agent: agent, now: now) {
            agents.withLock { $0[agent] = updated }
            return ActivityScan.replay(updated.records, within: seconds, now: now).activity
        }
        // Not known, or the file is not the one read before: the backward scan, of the
        // longest window asked for so far.
        let window = max(seconds, known?.seconds ?? 0)
        guard let (scan, file) = try AuditLog.scanActivity(path: path, agent: agent, within: window, now: now) else {
            agents.withLock { $0[agent] = nil }
            return AuditActivity()
        }
        agents.withLock {
            $0[agent] = Agent(file: file, seconds: window, records: scan.taken, latestNow: now,
                              newest: scan.taken.first?.time ?? .distantPast)
        }
        return window == seconds ? scan.activity : ActivityScan.replay(scan.taken, within: seconds, now: now).activity
    }

    /// `known` with what was appended since it was read, or nil when the file is not the
    /// one it was read from.
    private func update(_ known: Agent, path: String, agent: String, now: Date) throws(AuditError) -> Agent? {
        guard let fd = try AuditFile.openIfPresent(path) else { return nil }
        defer { close(fd) }
        let size = try AuditFile.completeSize(fd, path: path)
        guard try known.file.isContinued(by: fd, size: size, path: path) else { return nil }
        var added: [ActivityRecord] = []
        if size > known.file.end {
            let marker = AuditRecord.agentMarker(agent)
            var lines = ForwardLines(fd: fd, path: path, limit: size, from: known.file.end)
            while let line = try lines.next() {
                guard AuditRecord.firstRange(of: marker, in: line.bytes) != nil,
                      let record = AuditRecord.parse(line.bytes), record["agent_id"]?.stringValue == agent,
                      let time = AuditRecord.quickTime(line.bytes) ?? record["ts"]?.stringValue.flatMap(AuditTime.parse),
                      let r = ActivityRecord(record, time: time)
                else { continue }
                added.append(r)
            }
        }
        // Times only grow down the log unless the clock was stepped back.
        var newest = known.newest
        for r in added {
            guard r.time >= newest else { return nil }
            newest = r.time
        }
        var updated = known
        updated.latestNow = now
        updated.newest = newest
        updated.file = try FileMark(fd, end: size, path: path)
        // Keep what a scan of the longest window takes now; older records can no longer count.
        updated.records = ActivityScan.replay(added.reversed() + known.records, within: known.seconds, now: now).taken
        return updated
    }
}
