import CLauncher
import Foundation
import Testing

/// Issue 6: what a quiet run costs serve in memory. Starting a run goes deep into two stacks:
/// the launch thread's and the run's init's (where the agent runs until its execve). A waiting
/// run must keep no more than it uses: its own thread, which did not launch it, stays shallow,
/// and the part of init's stack the agent used goes back to the system. Read from the kernel's
/// page tables of the real serve (/proc/PID/pagemap, which needs root: the supervisor's memory
/// is not dumpable).
@Suite struct ServeMemoryTests {
    /// A waiting run's thread, from its poll up: its frames and glibc's thread block. 4 or 5
    /// pages in a debug build, 3 in a release build. A coarse bound: the release build's figure
    /// is the bench's (a run's parts once copied as a struct into each frame made it 4 there,
    /// which this debug-build bound does not see).
    static let runThreadStackPages = 6
    @Test(.enabled(if: Supervisor.isRoot, "reading another process's page tables needs root"),
          arguments: Supervisor.available)
    func aWaitingRunKeepsNoStackPagesItIsDoneWith(supervisor: Supervisor) throws {
        // With the kernel's audit on, each run of a root serve listens to Landlock's audit
        // records, and every record on the machine wakes it: another run's denials, made while
        // these wait, must not deepen their stacks either.
        if mpm_sys_landlock_abi() >= 7 {
            try KernelAudit.with(enabled: 1) { try waitingRuns(supervisor, denialsMeanwhile: true) }
        } else {
            try waitingRuns(supervisor, denialsMeanwhile: false)
        }
    }

    func waitingRuns(_ supervisor: Supervisor, denialsMeanwhile: Bool) throws {
        let p = try SandboxProject(supervisor, permissions: [], incidents: ServeTests.generous)
        try p.agent("sleeper", ["sleep", "30"])
        try p.agent("echo", ["echo", "warm"])
        try p.agent("denied", ["write", p.root + "/planted.txt"])
        // A thread that ends leaves its stack to glibc's cache, with the 16 KiB below where
        // it ended still resident (PTHREAD_STACK_MIN), for the next thread to reuse: what
        // the runs below are checked for is what they touch themselves, so no stack is kept.
        let serve = try ServeSession(p, environment: ["GLIBC_TUNABLES": "glibc.pthread.stack_cache_size=0"])
        let pid = serve.process.processIdentifier
        func start(_ agent: String) throws -> String {
            let answer = try serve.call("run", ["agent": agent])
            return try #require((answer["result"] as? [String: Any])?["run_id"] as? String, "\(answer)")
        }
        // run/started comes at the gate, before the agent starts: wait until every run's thread
        // (named "mpm-run run") is in poll(2) and every run's init (pid 1 of the run, a process
        // sharing serve's memory, serve's child) is in waitid(2).
        var threads: [(tid: String, sp: UInt)] = []
        var inits: [(pid: Int32, sp: UInt)] = []
        func waitForRuns(_ count: Int) throws {
            let deadline = Date().addingTimeInterval(20)
            repeat {
                threads = try PageTable.runThreads(of: pid)
                inits = try PageTable.initsWaiting(under: pid)
                if threads.count == count && inits.count == count { break }
                usleep(50_000)
            } while Date() < deadline
        }
        // Another run's denial reaches every waiting run as audit records (and so does the
        // record each run logs at its end): each wakes, reads them and waits again.
        func denialWhileTheyWait(_ count: Int) throws {
            try waitForRuns(count)
            try #require(threads.count == count, "run threads waiting in poll: \(threads.count)")
            let waiting = threads.map(\.tid)
            let before = waiting.map { PageTable.wakeUps(pid: pid, tid: $0) }
            #expect(serve.exited(try start("denied")) != nil)
            usleep(200_000)
            try waitForRuns(count)
            if supervisor == .root {
                // Each waiting run listens to the records (its poll has no shorter timeout),
                // so each woke to read them.
                let after = waiting.map { PageTable.wakeUps(pid: pid, tid: $0) }
                for (tid, (b, a)) in zip(waiting, zip(before, after)) {
                    #expect(b != nil && a != nil && a! > b!, "thread \(tid): wake-ups \(String(describing: b)) → \(String(describing: a))")
                }
            }
        }

        // Runs to their end first: the first runs of a serve also set up what the runtime makes
        // once (type metadata, caches), deep in their threads' stacks. With denials, also a
        // denial while a run waits: the waiting run reads records of a domain not its own.
        #expect(serve.exited(try start("echo")) != nil)
        if denialsMeanwhile {
            let first = try start("sleeper")
            try denialWhileTheyWait(1)
            _ = try serve.call("cancel", ["run_id": first])
            #expect(serve.exited(first) != nil)
        }

        let count = 4
        let ids = try (0..<count).map { _ in try start("sleeper") }
        let pages = try PageTable(pid: pid)
        defer { pages.close() }
        let page = UInt(sysconf(Int32(_SC_PAGESIZE)))
        if denialsMeanwhile {
            let before = try p.audit("permission_denied").filter { $0["plane"] as? String == "file" }.count
            try denialWhileTheyWait(count)
            if supervisor == .root {
                let after = try p.audit("permission_denied").filter { $0["plane"] as? String == "file" }.count
                #expect(after > before, "the other run's write was denied, and seen")
            }
        } else {
            try waitForRuns(count)
        }
        #expect(threads.count == count, "run threads waiting in poll: \(threads.count)")
        #expect(inits.count == count, "inits waiting in waitid: \(inits.count)")

        // A run's thread, which did not launch the run (serve's launch threads do, deep in
        // their stacks): nothing of its stack is resident more than two pages below the page
        // its stack pointer is on. Its stack is 1 MiB and it waits near the top, so the
        // 512 KiB under its stack pointer are its own.
        for (tid, sp) in threads {
            let below = PageTable.pageStart(sp, page) - 2 * page
            let resident = try pages.residentPages((sp - (512 << 10))..<below, page)
            #expect(resident.isEmpty, "thread \(tid): \(resident.count) resident pages below its poll, at sp - \(resident.map { (sp - $0) >> 10 }) KiB")
            // And above it: the frames from the thread's start down to its poll, and glibc's
            // thread block at the top.
            let top = try #require(PageTable.mappingEnd(pid: pid, containing: sp), "thread \(tid): no mapping holds its stack")
            let used = try pages.residentPages(PageTable.pageStart(sp, page)..<top, page)
            #expect(used.count <= Self.runThreadStackPages, "thread \(tid): \(used.count) resident pages from its poll up (at most \(Self.runThreadStackPages))")
        }

        // A run's init waits on the upper half of its 256 KiB stack: the lower half, where the
        // agent ran until its execve, holds no page. Init's stack top is within 8 KiB above its
        // stack pointer, so [sp - 240 KiB, sp - 64 KiB) lies inside that stack: the top of the
        // agent's half, and the part of init's half that init, waiting shallow, leaves alone.
        for (child, sp) in inits {
            let top = PageTable.pageStart(sp, page)
            let resident = try pages.residentPages((top - (240 << 10))..<(top - (64 << 10)), page)
            #expect(resident.isEmpty, "init \(child): \(resident.count) resident pages in the agent's half of its stack")
        }

        for id in ids { _ = try serve.call("cancel", ["run_id": id]) }
        serve.closeInput()
        #expect(serve.waitForExit()?.status == 0)
    }
}

/// Which pages of a process are resident, from /proc/PID/pagemap (bit 63 of each page's entry),
/// and where its tasks wait, from /proc/.../syscall.
struct PageTable {
    #if arch(x86_64)
    static let pollNR = 7  // glibc's poll is poll(2)
    static let waitidNR = 247
    #elseif arch(arm64)
    static let pollNR = 73  // ppoll(2)
    static let waitidNR = 95
    #endif

    let fd: Int32

    init(pid: Int32) throws {
        fd = open("/proc/\(pid)/pagemap", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO) }
    }

    func close() { _ = Glibc.close(fd) }

    func residentPages(_ range: Range<UInt>, _ page: UInt) throws -> [UInt] {
        guard !range.isEmpty else { return [] }
        let first = range.lowerBound / page
        let count = Int((range.upperBound - range.lowerBound + page - 1) / page)
        var entries = [UInt64](repeating: 0, count: count)
        let got = entries.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, off_t(first * 8)) }
        guard got == count * 8 else { throw POSIXError(got < 0 ? POSIXErrorCode(rawValue: errno) ?? .EIO : .EIO) }
        return entries.enumerated().filter { $0.element >> 63 != 0 }.map { (first + UInt($0.offset)) * page }
    }

    static func pageStart(_ address: UInt, _ page: UInt) -> UInt { address & ~(page - 1) }

    /// The end of the mapping of `pid` that holds `address` (/proc/PID/maps).
    static func mappingEnd(pid: Int32, containing address: UInt) -> UInt? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let range = line.prefix { $0 != " " }.split(separator: "-")
            guard range.count == 2, let start = UInt(range[0], radix: 16), let end = UInt(range[1], radix: 16) else { continue }
            if (start..<end).contains(address) { return end }
        }
        return nil
    }

    /// How many times a task has blocked and been woken (voluntary_ctxt_switches).
    static func wakeUps(pid: Int32, tid: String) -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/status", encoding: .utf8) else { return nil }
        let line = text.split(separator: "\n").first { $0.hasPrefix("voluntary_ctxt_switches:") }
        return line.flatMap { Int($0.split(separator: ":").last!.trimmingCharacters(in: .whitespaces)) }
    }

    /// The system call a blocked task is in, and its stack pointer (/proc/.../syscall).
    static func blockedSyscall(_ path: String) -> (Int, UInt)? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        let fields = text.split(separator: " ")
        guard fields.count >= 9, let nr = Int(fields[0]),
              let sp = UInt(fields[7].dropFirst(2), radix: 16) else { return nil }
        return (nr, sp)
    }

    /// serve's run threads that wait in poll, with their stack pointers.
    static func runThreads(of pid: Int32) throws -> [(tid: String, sp: UInt)] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task").compactMap { tid in
            guard (try? String(contentsOfFile: "/proc/\(pid)/task/\(tid)/comm", encoding: .utf8)) == "mpm-run run\n",
                  let (nr, sp) = blockedSyscall("/proc/\(pid)/task/\(tid)/syscall"), nr == pollNR else { return nil }
            return (tid, sp)
        }
    }

    /// The children of `pid` that wait in waitid (a run's init), with their stack pointers.
    static func initsWaiting(under pid: Int32) throws -> [(pid: Int32, sp: UInt)] {
        try FileManager.default.contentsOfDirectory(atPath: "/proc").compactMap { entry in
            guard let child = Int32(entry), child != pid,
                  let stat = try? String(contentsOfFile: "/proc/\(child)/stat", encoding: .utf8),
                  let close = stat.lastIndex(of: ")"),
                  Int32(stat[stat.index(close, offsetBy: 4)...].split(separator: " ").first ?? "") == pid,
                  let (nr, sp) = blockedSyscall("/proc/\(child)/syscall"), nr == waitidNR else { return nil }
            return (child, sp)
        }
    }
}
