import Foundation
import Synchronization
import Testing

@testable import MPMRun

/// Review (helper-13) of serve's prepare-once caches: the seccomp template, the catalog
/// cache and the activity index, attacked with inputs their own tests do not try.
@Suite struct ServePrepareReviewTests {

    // MARK: catalog cache

    /// A profile written through a shared mapping: on tmpfs the kernel updates mtime/ctime
    /// only at the first write fault of a page; later writes through the same (already
    /// writable) mapping change the bytes and no stamp. serve keeps the old catalog.
    @Test func aProfileTightenedThroughASharedMappingIsSeen() throws {
        let mounts = (try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)) ?? ""
        guard mounts.split(separator: "\n").contains(where: { $0.hasPrefix("tmpfs /dev/shm tmpfs ") }) else { return }
        let root = "/dev/shm/mpm-h13-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/profiles", withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: root) }
        let wide = "[read_files, write_files, network_access]"
        let tight = "[read_files]" + String(repeating: " ", count: wide.count - "[read_files]".count)
        let profile = CatalogFixtures.profile(wide, extra: "# v1\n")
        let agent = CatalogFixtures.agent()
        try agent.write(toFile: root + "/agents/a.yaml", atomically: false, encoding: .utf8)
        try profile.write(toFile: root + "/profiles/p.yaml", atomically: false, encoding: .utf8)

        let fd = open(root + "/profiles/p.yaml", O_RDWR)
        #expect(fd >= 0)
        defer { close(fd) }
        let size = profile.utf8.count
        let raw = try #require(mmap(nil, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0))
        try #require(Int(bitPattern: raw) != -1)
        let map = raw.assumingMemoryBound(to: UInt8.self)
        defer { munmap(map, size) }
        // An earlier edit through the mapping (the page's first write fault: stamps change now).
        let v = try #require(profile.range(of: "# v1")).lowerBound.utf16Offset(in: profile)
        map[v + 3] = UInt8(ascii: "2")
        sleep(2)
        func ctime() -> timespec { var st = stat(); stat(root + "/profiles/p.yaml", &st); return st.st_ctim }

        let cache = CatalogCache(agentsDir: root + "/agents", profilesDir: root + "/profiles")
        let before = cache.current()
        #expect(before.profiles.profiles.first?.permissions.contains(.networkAccess) == true)

        // The administrator tightens the profile (same size, through the mapping).
        let settled = ctime()
        let at = try #require(profile.range(of: wide)).lowerBound.utf16Offset(in: profile)
        for (i, byte) in tight.utf8.enumerated() { map[at + i] = byte }
        let edited = ctime()
        #expect(settled.tv_sec == edited.tv_sec && settled.tv_nsec == edited.tv_nsec, "the kernel left ctime as it was")
        #expect(cache.reads.load(ordering: .relaxed) == 1)
        let onDisk = try String(contentsOfFile: root + "/profiles/p.yaml", encoding: .utf8)
        #expect(onDisk.contains("permissions: [read_files] "))

        let after = cache.current()
        #expect(after.profiles.profiles.first?.permissions.contains(.networkAccess) == false,
                "serve kept the catalog read before the profile was tightened")
    }

    // MARK: activity index

    final class Clock: Sendable {
        private let now: Mutex<Date>
        init(_ start: Date) { now = Mutex(start) }
        func read() -> Date { now.withLock { $0 } }
        func advance(_ seconds: Double) { now.withLock { $0 = $0.addingTimeInterval(seconds) } }
        var function: @Sendable () -> Date { { self.read() } }
    }

    /// The equivalence property of `activityIndexMatchesAFreshScan`, with a clock that
    /// sometimes steps back (NTP, an administrator's `date -s`): records' times and the
    /// queries' `now` go backwards. Reports every query where the index is less strict than
    /// the backward scan (fewer launches in the rate limit's minute, fewer incident runs, no
    /// quarantine where the scan has one).
    @Test func theActivityIndexIsNeverLaxerThanTheScanWhenTheClockStepsBack() throws {
        let dir = NSTemporaryDirectory() + "mpm-h13-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.jsonl"
        let clock = Clock(Date(timeIntervalSince1970: 1_795_317_636))
        let log = try AuditLog(path: path, clock: clock.function)
        let index = ActivityIndex()
        var random = SeededRandom(seed: 0xBAC4_0013)
        func pick<T>(_ xs: [T]) -> T { xs[Int(random.next() % UInt64(xs.count))] }
        let agents = ["coder", "writer"]
        var laxer: [String] = []
        var different = 0
        for step in 0..<1500 {
            let agent = pick(agents)
            let run = "r\(step % 40)"
            switch random.next() % 10 {
            case 0, 1, 2, 3: try log.append(Event(.runStarted, runID: run, agentID: agent))
            case 4: try log.append(Event(.runExited, runID: run, agentID: agent))
            case 5, 6: try log.append(.incident(runID: run, agentID: agent, kind: pick(["timeout", "cpu_limit"]),
                                                detail: "", action: "killed"))
            case 7:
                var q = Event.incident(runID: nil, agentID: agent, kind: "quarantined", detail: "", action: "quarantined")
                q.fields["until"] = .string(AuditTime.format(clock.read().addingTimeInterval(Double(pick([30, 300, 900])))))
                try log.append(q)
            case 8: try log.append(Event(.released, runID: nil, agentID: agent))
            default: break
            }
            // Mostly forward; one step in eight goes back by up to four minutes.
            if random.next() % 8 == 0 {
                clock.advance(-Double(random.next() % 240))
            } else {
                clock.advance(Double(random.next() % 60))
            }
            for agent in agents {
                let seconds = pick([300, 900])
                let now = clock.read()
                let fresh = try AuditLog.recentActivity(path: path, agent: agent, within: seconds, now: now)
                let indexed = try index.activity(path: path, agent: agent, within: seconds, now: now)
                if fresh != indexed { different += 1 }
                let lax = indexed.launches(within: 60, now: now) < fresh.launches(within: 60, now: now)
                    || indexed.runsEndingInIncident(within: seconds, now: now) < fresh.runsEndingInIncident(within: seconds, now: now)
                    || (fresh.quarantinedUntil != nil && (indexed.quarantinedUntil ?? .distantPast) < fresh.quarantinedUntil!)
                if lax && laxer.count < 5 { laxer.append("step \(step), \(agent), within \(seconds): \(indexed) instead of \(fresh)") }
            }
        }
        #expect(laxer.isEmpty, "\(laxer)")
        // Some answers still differ, none of them laxer: with times out of order the backward
        // scan itself stops early, at another agent's line that looks past, which the index
        // (holding only the agent's own records) never sees.
        _ = different
    }
    /// The smallest case: three incidents, a launch six minutes later, a query (the index keeps
    /// only the launch: the incidents are past the 300 s window and the launch's), then the
    /// clock steps back five minutes. The backward scan counts the three incidents again (the
    /// agent is due a quarantine at 3 runs in 300 s); the index has dropped them for good.
    @Test func aClockSteppedBackDoesNotMakeTheIndexForgetIncidents() throws {
        let dir = NSTemporaryDirectory() + "mpm-h13-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/audit.jsonl"
        let clock = Clock(Date(timeIntervalSince1970: 1_795_317_636))
        let log = try AuditLog(path: path, clock: clock.function)
        let index = ActivityIndex()
        for run in ["r1", "r2", "r3"] {
            try log.append(Event(.runStarted, runID: run, agentID: "a"))
            try log.append(.incident(runID: run, agentID: "a", kind: "timeout", detail: "", action: "killed"))
        }
        clock.advance(350)
        try log.append(Event(.runStarted, runID: "r4", agentID: "a"))
        clock.advance(50)
        _ = try index.activity(path: path, agent: "a", within: 300, now: clock.read())
        clock.advance(-300)  // the wall clock is stepped back (NTP, date -s)
        let now = clock.read()
        let fresh = try AuditLog.recentActivity(path: path, agent: "a", within: 300, now: now)
        let indexed = try index.activity(path: path, agent: "a", within: 300, now: now)
        #expect(fresh.runsEndingInIncident(within: 300, now: now) == 3)
        #expect(indexed.runsEndingInIncident(within: 300, now: now) == 3, "the index forgot the incidents")
    }
}
