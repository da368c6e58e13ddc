import Foundation
import Testing

/// Attacks from inside the sandbox, each of which must be blocked. Most run with every
/// permission but system_config granted: the baseline must hold at the widest grant.
@Suite struct EscapeTests {
    static let everything = ["read_files", "write_files", "execute_commands", "network_access"]

    @Test(arguments: Supervisor.available)
    func syscallsNoAgentNeedsFailWithEPERM(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: Self.everything)
        for attack in ["ptrace", "mount", "unshare-user", "clone-newuser", "bpf", "perf", "keyctl", "io-uring"] {
            let r = try p.probe(attack, "1")
            #expect(r.stdout == "\(attack): denied EPERM\n", "\(attack): \(r.stdout)\(r.stderr)")
        }
    }

    @Test(arguments: Supervisor.available)
    func theSandboxShowsNoCapabilitiesNoNewPrivsAndSeccomp(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: Self.everything)
        let r = try p.probe("status")
        #expect(r.stdout.contains("NoNewPrivs:\t1"))
        #expect(r.stdout.contains("Seccomp:\t2"))
        #expect(r.stdout.contains("CapEff:\t0000000000000000"))
        #expect(r.stdout.contains("CapBnd:\t0000000000000000"))
        let uids = Supervisor.uids(inStatus: r.stdout)
        #expect(uids.count == 4 && uids.allSatisfy { s.isAgentUID($0) }, "the agent's uids: \(uids)")
    }

    @Test(arguments: Supervisor.available)
    func otherProcessesEnvironmentsStayUnreadable(_ s: Supervisor) throws {
        // mpm-run's own environment holds the marker; the agent scans every /proc/*/environ.
        let marker = "mpm-marker-\(UUID().uuidString)"
        let p = try SandboxProject(s, permissions: Self.everything)
        let r = try p.probe("environ-scan", marker, environment: ["MPM_TEST_MARKER": marker])
        #expect(r.stdout.hasPrefix("environ-scan: readable"))
        #expect(r.stdout.hasSuffix("found 0\n"), "\(r.stdout)")
    }

    @Test(arguments: Supervisor.available)
    func secretsInMPMRunsEnvironmentNeverReachTheAgent(_ s: Supervisor) throws {
        let env = ["DEPLOY_TOKEN": "tok-\(UUID().uuidString)", "GITHUB_TOKEN": "ghp_" + String(repeating: "a", count: 36),
                   "LANG": "C.UTF-8", "UNRELATED": "x"]
        // Allowed by name in env.allow, and asked for: still refused, it is not under env.secrets.
        let p = try SandboxProject(s, permissions: Self.everything, envAllow: ["DEPLOY_TOKEN"])
        try p.agent("asks", ["env"], env: ["DEPLOY_TOKEN"])
        let asked = try p.mpmRun(["asks"], environment: env)
        #expect(asked.status == 125)
        #expect(asked.stderr.contains("DEPLOY_TOKEN looks like a secret"), "\(asked.stderr)")
        // An agent that does not ask sees only the scrubbed environment.
        try p.agent("plain", ["env"], env: ["LANG"])
        let plain = try p.mpmRun(["plain"], environment: env)
        let names = Set(plain.stdout.split(separator: "\n").map { String($0.split(separator: "=")[0]) })
        #expect(names == ["PATH", "LANG", "HOME", "TMPDIR", "MPM_RUN_ID", "MPM_AGENT_ID", "MPM_INPUT_DIR", "MPM_OUTPUT_DIR"],
                "\(plain.stdout)")
        #expect(!plain.stdout.contains("tok-"))
        #expect(!plain.stdout.contains("ghp_"))
    }

    @Test func aSetuidBinaryGrantsNothing() throws {
        try #require(Supervisor.isRoot, "making a setuid-root binary needs root")
        let p = try SandboxProject(.root, permissions: Self.everything)
        let suid = "/tmp/mpm-test-suid-\(UUID().uuidString)"
        try FileManager.default.copyItem(atPath: Probe.path, toPath: suid)
        defer { try? FileManager.default.removeItem(atPath: suid) }
        chown(suid, 0, 0)
        chmod(suid, 0o4755)
        try p.agent("suid", ["ids"], command: suid)
        let r = try p.mpmRun(["suid"])
        let ids = r.stdout.split(separator: " ").compactMap { UInt32($0.trimmingCharacters(in: .whitespacesAndNewlines)) }
        #expect(ids.count == 4 && ids.allSatisfy { Supervisor.root.isAgentUID($0) }, "setuid-root gave nothing: \(r.stdout)\(r.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func theAgentCannotSignalProcessesOutsideItsSandbox(_ s: Supervisor) throws {
        // A victim with the agent's own uid: only Landlock's signal scoping protects it.
        let victim = Process()
        victim.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        victim.arguments = Supervisor.isRoot
            ? ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/sleep", "30"] : ["/bin/sleep", "30"]
        try victim.run()
        defer { victim.terminate() }
        let p = try SandboxProject(s, permissions: Self.everything)
        let r = try p.probe("signal", String(victim.processIdentifier), "9")
        // Outside the run's PID namespace the pid does not even exist (ESRCH); Landlock's
        // signal scoping (EPERM) stands behind that.
        #expect(r.stdout.hasPrefix("signal: denied"), "\(r.stdout)\(r.stderr)")
        #expect(victim.isRunning)
    }

    @Test(arguments: Supervisor.available)
    func aForkBombStopsAtMaxProcesses(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: Self.everything, limits: ["max_processes": 20])
        let r = try p.probe("fork-bomb")
        let words = r.stdout.split(separator: " ")
        let n = words.count > 3 ? Int(words[3]) ?? -1 : -1
        #expect((1..<20).contains(n), "\(r.stdout)\(r.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func aMemoryHogStopsAtTheMemoryLimit(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["memory_mb": 64])
        let r = try p.probe("memory-hog")
        if r.status == 128 + 9 {
            // A root supervisor limits memory with a cgroup: the OOM killer ends the hog.
            #expect(r.stderr.contains("memory_limit"), "\(r.stderr)")
        } else {
            // Otherwise RLIMIT_AS: the hog's allocations fail below the limit.
            let words = r.stdout.split(separator: " ")
            let mb = words.count > 3 ? Int(words[3]) ?? -1 : -1
            #expect((1..<64).contains(mb), "\(r.stdout)\(r.stderr)")
        }
    }

    @Test(arguments: Supervisor.available)
    func aCPUSpinIsKilledAtTheCPULimit(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["cpu_seconds": 1])
        let start = Date()
        let r = try p.probe("cpu-spin")
        // SIGXCPU (24) at the soft limit, SIGKILL (9) at the hard one.
        #expect(r.status == 128 + 24 || r.status == 128 + 9, "\(r.status)")
        #expect(Date().timeIntervalSince(start) < 15)
    }

    @Test(arguments: Supervisor.available)
    func aLargeFileIsStoppedAtTheFileSizeLimit(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [], limits: ["max_file_size_mb": 1])
        try p.agent("probe-agent", ["big-file", "temp/big"])
        let r = try p.mpmRun(["probe-agent", "--keep-sandbox"])
        #expect(r.status == 128 + 25, "SIGXFSZ: \(r.status) \(r.stderr)")
        let sandbox = try #require(r.stderr.components(separatedBy: "sandbox kept at ").last?
            .trimmingCharacters(in: .whitespacesAndNewlines))
        defer { try? FileManager.default.removeItem(atPath: sandbox) }
        let size = (try FileManager.default.attributesOfItem(atPath: sandbox + "/temp/big")[.size] as? Int) ?? -1
        #expect(size == 1 << 20)
    }

    /// A sandbox the user is told is kept carries its `kept` mark even when the agent took
    /// the write bit off its run folder: without it, a later mpm-run's sweep would remove it.
    @Test(arguments: Supervisor.available)
    func aKeptSandboxIsMarkedEvenIfTheAgentMadeItsFolderReadOnly(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files", "execute_commands"])
        try p.agent("locker", ["-c", "chmod 500 . && echo locked"], command: "/bin/sh")
        let r = try p.mpmRun(["locker", "--keep-sandbox"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == "locked\n")
        let marker = try #require(r.stderr.range(of: "mpm-run: sandbox kept at "), "\(r.stderr)")
        let sandbox = String(r.stderr[marker.upperBound...].prefix { $0 != "\n" })
        defer {
            chmod(sandbox, 0o700)
            try? FileManager.default.removeItem(atPath: sandbox)
        }
        #expect(FileManager.default.fileExists(atPath: sandbox + "/kept"), "\(r.stderr)")
        #expect(!r.stderr.contains("could not be marked"), "\(r.stderr)")
    }

    /// mpm-run started at real-time priority, nice -5 and real-time I/O (chrt, nice, ionice, as
    /// root can), with RLIMIT_RTPRIO and RLIMIT_NICE that allow both: the agent gets none of it,
    /// nor can it take it. Kept, a busy agent at SCHED_FIFO on the supervisor's CPU starves its
    /// supervisor, and its timeout never fires. A lower priority is kept.
    @Test(.enabled(if: Self.realTimeAvailable, "chrt -f and ionice -c1 need root and real-time CPU time (not in every container)"),
          arguments: Supervisor.available)
    func theAgentDoesNotInheritItsCallersRealTimePriority(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands"])
        // nice, rt_priority and policy (fields 19, 40, 41 of /proc/self/stat), then the I/O class;
        // then it tries to take real-time priority and a negative nice value itself, which the
        // caller's RLIMIT_RTPRIO and RLIMIT_NICE would allow it.
        try p.agent("sched", ["-c", "cut -d' ' -f19,40,41 /proc/self/stat; ionice -p $$; "
                                  + "chrt -f -p 5 $$ 2>/dev/null && echo took-rt; renice -n -3 -p $$ >/dev/null 2>&1 && echo took-nice; true"],
                    command: "/bin/sh")
        // Raising the limits needs CAP_SYS_RESOURCE, which not every root has (this machine's
        // does not, and its hard limits are 0): then only the inherited priorities are tried.
        let limits = ["/usr/bin/prlimit", "--rtprio=50:50", "--nice=30:30", "--"]
        let canRaiseLimits = runTool(limits[0], Array(limits.dropFirst()) + ["/bin/true"]) == 0
        let raised = try runToEnd(p, ["sched"], prefix: (canRaiseLimits ? limits : [])
                                      + ["/usr/bin/chrt", "-f", "10", "/usr/bin/nice", "-n", "-5", "/usr/bin/ionice", "-c1", "-n4"])
        #expect(raised.status == 0, "\(raised.stderr)")
        #expect(raised.stdout == "0 0 0\nnone: prio 0\n", "nice rt_priority policy, I/O class: \(raised.stdout)")
        let lowered = try runToEnd(p, ["sched"], prefix: ["/usr/bin/nice", "-n", "7", "/usr/bin/ionice", "-c3"])
        #expect(lowered.status == 0, "\(lowered.stderr)")
        #expect(lowered.stdout == "7 0 0\nidle\n", "\(lowered.stdout)")
    }

    static let realTimeAvailable = Supervisor.isRoot
        && runTool("/usr/bin/chrt", ["-f", "10", "/usr/bin/ionice", "-c1", "-n4", "/bin/true"]) == 0

    @Test(arguments: Supervisor.available)
    func aTimeoutKillsASetsidGrandchild(_ s: Supervisor) throws {
        let name = "mpm-g\(UInt32.random(in: 0..<UInt32.max))"  // comm holds 15 characters
        let p = try SandboxProject(s, permissions: Self.everything)
        try p.agent("probe-agent", ["setsid-grandchild", name])
        let start = Date()
        let r = try p.mpmRun(["probe-agent", "--timeout", "1"])
        #expect(r.status == 124, "\(r.stderr)")
        #expect(r.stdout == "setsid-grandchild: started\n")
        #expect(Date().timeIntervalSince(start) < 10)
        #expect(Self.processes(named: name).isEmpty, "a process of the run survived")
    }

    /// Pids whose comm is `name`, read from /proc.
    static func processes(named name: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { pid in
            guard pid.allSatisfy(\.isNumber),
                  let comm = try? String(contentsOfFile: "/proc/\(pid)/comm", encoding: .utf8) else { return false }
            return comm.trimmingCharacters(in: .whitespacesAndNewlines) == name
        }
    }
}
