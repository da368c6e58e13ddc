import Foundation
import MPMRun
import Testing

/// A red team's attacks on the sandbox, each run by the probe from inside a real run.
///
/// The first group are holes found on review: each test states what should hold, fails today,
/// and is disabled with a one-line reason so the suite stays green; the owner enables it with
/// the fix. The second group are attacks that are blocked and that no other test covers: each
/// fails if the protection breaks.
@Suite struct RedTeamTests {
    static let everything = ["read_files", "write_files", "execute_commands", "network_access"]

    // MARK: - Holes (disabled until fixed)

    /// With a write path over the project (the shipped version-control profile has ["."]),
    /// profiles/ and agents/ are the agent's to rewrite: it replaces its own profile, and the
    /// next launch runs it with whatever it granted itself. On the root path that includes
    /// capabilities (cap_dac_read_search reads /etc/shadow, cap_setuid becomes uid 0).
    @Test(arguments: Supervisor.available)
    func anAgentCannotRewriteThePolicyOfItsNextRun(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files", "write_files"], writePaths: ["."])
        let profile = p.project.profiles + "/probe.yaml"
        let escalated = try String(contentsOfFile: profile, encoding: .utf8).replacingOccurrences(
            of: "permissions: [read_files, write_files]", with: "permissions: [read_files, write_files, execute_commands]")
        let hex = escalated.utf8.map { String(format: "%02x", $0) }.joined()
        // The profile is root's and 0644; the project folder is not: move profiles/ aside, make a new one.
        let r = try p.attack(["multi", "rename \(p.project.profiles) \(p.root)/profiles-old", "mkdir \(p.project.profiles)",
                              "write-hex \(profile) \(hex)"])
        let next = try p.probe("spawn", "/bin/true")
        #expect(!next.stdout.contains("spawn: ok"), "the agent granted itself execute_commands: \(r.stdout)")
    }

    /// The agent knows its run id (MPM_RUN_ID) and, with a write path that holds the working
    /// folder, plants `mpm-output/<run_id>` as a symlink before it exits. Collecting output
    /// follows it: the supervisor (root, on the root path) creates the agent's files wherever
    /// the link points, e.g. /etc/cron.d.
    @Test(arguments: Supervisor.available)
    func collectingOutputNeverFollowsALinkTheAgentPlantedAtTheDestination(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files", "write_files"], writePaths: ["."])
        // A folder the supervisor's user may write and the agent may not (Landlock).
        let target = try Victim(owner: s == .nobody ? 65534 : getuid(), dirMode: 0o755)
        try p.agent("probe-agent", ["multi", "link-run-output \(target.dir) \(p.root)/mpm-output", "write output/crontab"])
        // The policy and the audit log live outside the write path (else the run is refused).
        let policy = try Project()
        chmod(policy.root, 0o755)
        for folder in ["agents", "profiles"] {
            try FileManager.default.removeItem(atPath: policy.root + "/" + folder)
            try FileManager.default.moveItem(atPath: p.root + "/" + folder, toPath: policy.root + "/" + folder)
        }
        try FileManager.default.createDirectory(atPath: policy.root + "/state", withIntermediateDirectories: true)
        chmod(policy.root + "/state", 0o777)
        let r = try p.mpmRun(["probe-agent", "--agents-dir", policy.agents, "--profiles-dir", policy.profiles],
                             environment: ["MPM_AUDIT_LOG": policy.root + "/state/audit.jsonl"])
        // The output folder exists before the agent starts, so the plant itself fails.
        #expect(r.stdout.hasPrefix("link-run-output: denied"), "\(r.stdout)\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: target.dir + "/crontab"),
                "the supervisor wrote the agent's file into \(target.dir)")
    }

    /// Landlock (ABI 7) does not govern connect() to a named unix socket, and without a mount
    /// namespace every socket of the host is reachable by path (/proc/net/unix lists them).
    /// The agent, with no permission at all, talks to a service of its own uid: an ssh-agent,
    /// a D-Bus session bus (systemd --user runs any command, unsandboxed), docker.sock through
    /// a supplementary group, nscd or resolved (DNS, i.e. the network).
    @Test(arguments: Supervisor.available)
    func namedUnixSocketsOutsideTheSandboxAreUnreachable(_ s: Supervisor) throws {
        let service = try Victim(owner: s.agentUID, dirMode: 0o700)
        let listener = try UnixListener(path: service.dir + "/agent.sock")
        chown(service.dir + "/agent.sock", s.agentUID, s.agentUID)
        chmod(service.dir + "/agent.sock", 0o600)
        let p = try SandboxProject(s, permissions: [])
        let r = try p.probe("multi", "proc-net-unix \(service.dir)", "unix-connect \(service.dir)/agent.sock")
        #expect(!r.stdout.contains("hello-from-host"), "\(r.stdout)\(r.stderr)")
        #expect(listener.accepted == 0)
    }

    /// On the unprivileged path the agent keeps the supplementary groups of whoever ran
    /// mpm-run (the user namespace cannot drop them): a socket of the `docker` group is root.
    @Test(.disabled("hole: on the unprivileged path the agent keeps the user's supplementary groups, e.g. docker's socket"))
    func theUnprivilegedAgentHasNoSupplementaryGroups() throws {
        try #require(Supervisor.isRoot, "running mpm-run with chosen groups needs root")
        let service = try Victim(owner: 0, dirMode: 0o755)
        let listener = try UnixListener(path: service.dir + "/docker.sock")
        chown(service.dir + "/docker.sock", 0, 4242)
        chmod(service.dir + "/docker.sock", 0o660)
        let p = try SandboxProject(.nobody, permissions: [])
        try p.agent("probe-agent", ["unix-connect", service.dir + "/docker.sock"])
        let r = try runAsNobody(["probe-agent"], cwd: p.root, groups: [4242])
        #expect(!r.stdout.contains("hello-from-host"), "\(r.stdout)\(r.stderr)")
        #expect(listener.accepted == 0)
    }

    /// Landlock does not cover chmod, utimes, setxattr (nor chown): the agent changes the
    /// metadata of any file its uid owns, wherever it is. On the unprivileged path that is
    /// all of the user's files (chmod 0644 ~/.ssh/id_ed25519, chmod 0777 ~/.bashrc, chmod 0
    /// the project, or 0777 on `<tmp>/mpm-run` which then refuses every later run); on the
    /// root path, every other run's sandbox (all agents are nobody), whose 0700 it opens.
    @Test(arguments: Supervisor.available)
    func theAgentCannotChangeTheMetadataOfFilesOutsideItsSandbox(_ s: Supervisor) throws {
        let victim = try Victim(owner: s.agentUID, dirMode: 0o700, file: "id_ed25519", fileMode: 0o600)
        let p = try SandboxProject(s, permissions: [])
        let r = try p.probe("multi", "chmod \(victim.file) 644", "chmod \(victim.dir) 755",
                            "utimes \(victim.file)", "setxattr \(victim.file)")
        for line in r.stdoutLines { #expect(line.contains(": denied"), "\(line)") }
        #expect(victim.mode(of: victim.file) == 0o600)
        #expect(victim.mode(of: victim.dir) == 0o700)
    }

    /// No IPC namespace: SysV shared memory made by the agent outlives the run (and other
    /// runs of the same uid can attach it), and nothing ever frees it. Detached segments are
    /// not counted by RLIMIT_AS: on the unprivileged path memory_mb does not bound them at all
    /// (here 3 x 32 MiB under memory_mb 64); on the root path the run's memory cgroup does,
    /// but what was made before the limit stays. POSIX message queues outlive the run too.
    @Test(arguments: Supervisor.available)
    func sharedMemoryDoesNotOutliveTheRun(_ s: Supervisor) throws {
        let base = Int32.random(in: 0x1000_0000..<0x7000_0000)
        defer { for i in 0..<3 { removeSharedMemory(key: base + Int32(i)) } }
        let p = try SandboxProject(s, permissions: [], limits: ["memory_mb": 64])
        let r = try p.probe("shm", String(base), "3", "32")
        let left = (0..<3).filter { shmget(key_t(base + Int32($0)), 0, 0) >= 0 }
        #expect(left.isEmpty, "\(left.count) segments of 32 MiB outlived the run (\(r.stdout))")
    }

    /// Collecting output copies byte by byte: a sparse file (or 100,000 hard links to one
    /// file) that costs the agent nothing becomes real data in the user's folder. With the
    /// default limits: 100,000 entries x 64 MiB = 6.4 TB, with no time limit on the copy.
    @Test(arguments: Supervisor.available)
    func collectingOutputCannotAmplifySparseFiles(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files"],
                                   limits: ["max_file_size_mb": 16, "max_output_bytes": 1 << 20])
        try p.agent("probe-agent", ["sparse", "output", "4", "16"])
        let out = p.root + "/collected"
        let r = try p.mpmRun(["probe-agent", "--output", out])
        #expect(r.stdout == "sparse: ok\n", "\(r.stdout)\(r.stderr)")
        var allocated = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: out)) ?? [] {
            var st = stat()
            if lstat(out + "/" + name, &st) == 0 { allocated += Int(st.st_blocks) * 512 }
        }
        #expect(allocated <= 1 << 20, "four sparse files became \(allocated >> 20) MiB on disk")
    }

    /// The always-denied list names one spelling of each operation; with capabilities kept by
    /// system_config the others reach the kernel. Here the agent (cap_sys_admin, cap_sys_time)
    /// makes a mount of the host read-only with mount_setattr, and clock_adjtime would set
    /// the clock that settimeofday, clock_settime and adjtimex may not.
    @Test
    func capabilitiesKeptBySystemConfigReachNoAliasOfTheDeniedSyscalls() throws {
        try #require(Supervisor.isRoot, "keeping capabilities and mounting need root")
        let mountPoint = try Victim(owner: 0, dirMode: 0o755)
        #expect(mount("mpm-red-team", mountPoint.dir, "tmpfs", 0, nil) == 0)
        defer { umount2(mountPoint.dir, 2 /* MNT_DETACH */) }
        let p = try SandboxProject(.root, permissions: ["system_config"], capabilities: ["cap_sys_admin", "cap_sys_time"])
            .allowingDenials()
        let r = try p.probe("multi", "always-denied-aliases", "mount-setattr-ro \(mountPoint.dir)")
        for line in r.stdoutLines {
            #expect(line.hasSuffix("denied EPERM") || line.contains("ENOSYS"), "\(line)")
        }
        let fd = open(mountPoint.dir + "/written", O_WRONLY | O_CREAT, 0o644)
        #expect(fd >= 0, "the agent made a mount of the host read-only: \(String(cString: strerror(errno)))")
        if fd >= 0 { close(fd) }
    }

    /// The run has its own PID namespace but the host's /proc: the agent lists every process
    /// of the machine and reads their command lines (secrets passed as arguments, other runs'
    /// arguments and sandbox paths), /proc/net (every connection and named socket).
    @Test(.disabled("hole: the host's /proc is visible: every process's command line, /proc/net"),
          arguments: Supervisor.available)
    func processesOutsideTheRunAreInvisible(_ s: Supervisor) throws {
        let marker = "mpm-secret-\(UUID().uuidString)"
        let other = Process()
        other.executableURL = URL(fileURLWithPath: "/bin/sh")
        other.arguments = ["-c", "sleep 20", marker]
        try other.run()
        defer { other.terminate(); other.waitUntilExit() }
        let p = try SandboxProject(s, permissions: [])
        let r = try p.probe("cmdline-scan", marker)
        #expect(r.stdout.hasSuffix("found 0\n"), "\(r.stdout)")
    }

    /// On the root path every agent is uid 65534, the uid of nobody and of unmapped ids: any
    /// process of the host running as nobody (a daemon, or anyone's unprivileged mpm-run)
    /// reads the agent's environment, secrets included, and may ptrace it.
    @Test
    func anotherNobodyProcessCannotReadTheAgentsEnvironment() throws {
        try #require(Supervisor.isRoot, "the root path needs root")
        let key = "sk-ant-" + UUID().uuidString
        let marker = "mpm-agent-\(UUID().uuidString)"
        let p = try SandboxProject(.root, permissions: [], envSecrets: ["ANTHROPIC_API_KEY"])
        try p.agent("probe-agent", ["multi", "echo \(marker)", "sleep 5"], env: ["ANTHROPIC_API_KEY"])
        let run = try spawnMPMRun(["probe-agent"], cwd: p.root, asNobody: false, environment: ["ANTHROPIC_API_KEY": key])
        defer { kill(run.processIdentifier, SIGKILL); run.waitUntilExit() }
        let agent = try #require(waitFor { EscapeTests.pids(withCommandLineContaining: marker).first }, "the agent never started")
        let cat = try runProcess("/usr/bin/setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", "/bin/cat", "/proc/\(agent)/environ"])
        #expect(!cat.contains(key), "a nobody process outside the sandbox read the agent's API key")
    }

    // MARK: - Blocked attacks

    /// Without execute_commands, the filter lets execve through only with the launcher's three
    /// pointers. Their offsets from the heap's start are the same on every run of a
    /// configuration (measured: path at +0xc10 in its page, argv +0x16a60 and envp +0x11740
    /// from it), the heap's start has about 2^28 possible pages, and a denied execve costs
    /// 0.3 us: unchecked, a brute force takes about a minute (EFAULT instead of EPERM says
    /// when it hit). The denial accounting is what stops it: the run ends at denial_burst.
    @Test(arguments: Supervisor.available)
    func aBruteForceOfTheExecvePointersEndsAtTheDenialBurst(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        let start = Date()
        let r = try p.probe("execve-flood", "100000")
        #expect(!r.stdout.contains("survived"), "\(r.stdout)")
        #expect(r.status == 128 + 9, "\(r.status) \(r.stderr)")
        #expect(Date().timeIntervalSince(start) < 15)
    }

    /// The filter is for x86_64 syscalls; the same call through the x32 ABI (nr | 0x40000000)
    /// or the i386 ABI (int 0x80) must not slip past it.
    @Test(arguments: Supervisor.available)
    func otherSyscallABIsAreKilledNotAllowed(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: Self.everything)
        for attack in ["x32-unshare", "int80-unshare"] {
            let r = try p.probe(attack)
            // libseccomp kills a foreign ABI (SIGSYS); an EPERM would be as good.
            #expect(r.status == 128 + 31 || r.stdout == "\(attack): denied EPERM\n", "\(attack): \(r.status) \(r.stdout)")
            #expect(!r.stdout.contains(": ok"))
        }
    }

    /// Every way to a new namespace: clone3 (whose flags seccomp cannot read), clone with each
    /// namespace flag (and with bits above the 32 the kernel reads), unshare, setns.
    @Test(arguments: Supervisor.available)
    func noNamespaceCanBeEnteredByAnyRoute(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: Self.everything).allowingDenials()
        let flags = ["10000000", "110000000", "40000000", "20000", "8000000", "4000000", "2000000", "20000000"]
        let r = try p.attack(["multi", "clone3"] + flags.map { "clone-ns \($0)" }
                             + ["unshare 40000000", "unshare 20000", "unshare 8000000", "setns"])
        let expected = ["clone3: denied ENOSYS"] + [String](repeating: "clone-ns: denied EPERM", count: flags.count)
            + [String](repeating: "unshare: denied EPERM", count: 3) + ["setns: denied EPERM"]
        #expect(r.stdoutLines == expected, "\(r.stdout)\(r.stderr)")
    }

    /// Without execute_commands: no process and no execve by any other route (vfork, a
    /// clone that shares everything but is not a thread, execveat on an fd, a memfd copy of a
    /// program, execve from a second thread, clone3).
    @Test(arguments: Supervisor.available)
    func withoutExecuteCommandsNoSideDoorStartsAProgram(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files", "write_files", "network_access"]).allowingDenials()
        let r = try p.probe("multi", "vfork", "clone-parent", "execveat /bin/true", "exec-memfd /bin/true",
                            "exec-thread /bin/true", "clone3", "echo after")
        #expect(r.stdoutLines == ["vfork: denied EPERM", "clone-parent: denied EPERM", "execveat: denied EPERM",
                                  "exec-memfd: denied EPERM", "exec-thread: denied EPERM", "clone3: denied ENOSYS", "after"],
                "\(r.stdout)\(r.stderr)")
    }

    /// Without network_access: an AF_INET socket with bits above the int the kernel reads,
    /// socketpair, and a TCP connection to a live listener on 127.0.0.1 all fail.
    @Test(arguments: Supervisor.available)
    func withoutNetworkAccessNoSocketReachesOut(_ s: Supervisor) throws {
        let listener = try TCPListener()
        let p = try SandboxProject(s, permissions: ["read_files", "write_files", "execute_commands"])
        let r = try p.probe("multi", "socket-highbits", "socketpair-inet", "tcp-connect \(listener.port)")
        #expect(r.stdoutLines.count == 3 && r.stdoutLines.allSatisfy { $0.contains(": denied") }, "\(r.stdout)\(r.stderr)")
        #expect(r.stdoutLines.first == "socket-highbits: denied EPERM")
        #expect(r.stdoutLines.last == "tcp-connect: denied EPERM")
        #expect(listener.accepted == 0)
    }

    /// Abstract unix sockets are not files: only Landlock's scoping (ABI 6) keeps the agent
    /// from a listener outside its run, even with network_access.
    @Test(arguments: Supervisor.available)
    func abstractUnixSocketsOutsideTheRunAreUnreachable(_ s: Supervisor) throws {
        let name = "mpm-red-\(UUID().uuidString)"
        let listener = try UnixListener(abstract: name)
        let p = try SandboxProject(s, permissions: Self.everything)
        let r = try p.probe("abstract-connect", name)
        #expect(r.stdout == "abstract-connect: denied EPERM\n", "\(r.stdout)\(r.stderr)")
        #expect(listener.accepted == 0)
    }

    /// The run's init shares mpm-run's memory; neither it nor mpm-run may be read, signalled,
    /// ptraced, have fds taken, or be reached through their /proc links, by pid 1 of the run's
    /// namespace or by the host pids /proc shows. An agent's own extra seccomp filter (with a
    /// listener) does not loosen the run's.
    @Test(arguments: Supervisor.available)
    func theRunsInitAndTheSupervisorAreOutOfReach(_ s: Supervisor) throws {
        let victim = try Victim(owner: 0, dirMode: 0o755, file: "f", fileMode: 0o644)
        let hidden = String(victim.file.dropFirst())
        let p = try SandboxProject(s, permissions: Self.everything).allowingDenials()
        let attacks = [
            "pidfd-getfd 1 0", "pidfd-getfd 1 3", "pidfd-signal 1", "procfd-signal init 0", "procfd-signal supervisor 0",
            "kill-target 1", "process-vm-readv 1", "proc-mem-read init", "proc-mem-read supervisor",
            "proc-cat init maps", "proc-cat supervisor environ", "proc-cat supervisor maps", "proc-readlink init cwd",
            "proc-readlink supervisor exe", "proc-open-through init root \(hidden)", "proc-open-through supervisor root \(hidden)",
            "kill-target supervisor", "prlimit supervisor 7 3", "renice supervisor", "sched-idle supervisor",
        ]
        let r = try p.attack(["multi"] + attacks + ["seccomp-notify", "echo still-running"])
        #expect(r.status == 0, "the agent did not get to its end: \(r.status) \(r.stderr)")
        let lines = r.stdoutLines
        #expect(lines.count == attacks.count + 2, "\(r.stdout)")
        for (attack, line) in zip(attacks, lines) {
            #expect(line.hasPrefix(attack.split(separator: " ")[0] + ": denied"), "\(attack) -> \(line)")
        }
        #expect(lines.dropLast().last == "seccomp-notify: filter added; unshare EPERM")
        #expect(lines.last == "still-running")
    }

    /// Landlock with every permission but system_config: /dev, /proc and /tmp outside the
    /// grant, through /proc/self/root and through a symlink the agent made; device nodes; a
    /// hard link to a system file; and input/ made writable by mode (chmod passes Landlock)
    /// still refusing writes, truncation, renames and links out of it.
    @Test(arguments: Supervisor.available)
    func landlockHoldsAgainstProcDevLinkAndModeTricks(_ s: Supervisor) throws {
        let victim = try Victim(owner: 0, dirMode: 0o777, file: "f", fileMode: 0o666)
        let p = try SandboxProject(s, permissions: Self.everything).allowingDenials()
        let attacks = [
            "write /dev/shm/mpm-red-\(UUID().uuidString)", "read /dev/kmsg", "write /proc/self/oom_score_adj",
            "write /proc/sys/kernel/ns_last_pid", "write /proc/self/mem", "list /tmp", "list /run",
            "read /proc/self/root\(victim.file)", "write \(victim.dir)/new", "read temp/l/f", "write temp/l/new",
            "mknod temp/null", "link /etc/passwd temp/passwd",
            "truncate input/INSTRUCTIONS.md", "write input/INSTRUCTIONS.md", "rename input/INSTRUCTIONS.md temp/i",
            "link input/INSTRUCTIONS.md output/i", "unlink input/INSTRUCTIONS.md",
        ]
        let setup = ["symlink \(victim.dir) temp/l", "chmod input 700", "chmod input/INSTRUCTIONS.md 600"]
        let r = try p.attack(["multi"] + setup + attacks)
        let lines = Array(r.stdoutLines.dropFirst(setup.count))
        #expect(r.stdoutLines.first == "symlink: ok")
        #expect(lines.count == attacks.count, "\(r.stdout)\(r.stderr)")
        for (attack, line) in zip(attacks, lines) {
            #expect(line.hasPrefix(attack.split(separator: " ")[0] + ": denied"), "\(attack) -> \(line)")
        }
        #expect(!FileManager.default.fileExists(atPath: victim.dir + "/new"))
        #expect(victim.contents() == "victim\n")
    }

    /// A read-only project file does not become writable by a hard link or a rename into a
    /// write path (Landlock's REFER), nor by truncation; a symlink in a write path to a
    /// folder outside does not extend the grant.
    @Test(arguments: Supervisor.available)
    func linksAndRenamesCannotWidenTheWritePaths(_ s: Supervisor) throws {
        let victim = try Victim(owner: 0, dirMode: 0o777)
        let p = try SandboxProject(s, permissions: ["read_files", "write_files"], writePaths: ["out"])
        try p.openFolder("out")
        let ro = try p.project.write("ro.txt", "read only\n")
        chmod(ro, 0o666)  // the file modes allow all of it: only Landlock says no
        let attacks = ["link \(ro) \(p.root)/out/ro.txt", "rename \(ro) \(p.root)/out/ro.txt", "truncate \(ro)",
                       "write \(ro)", "write \(p.root)/out/l/new"]
        let r = try p.attack(["multi", "symlink \(victim.dir) \(p.root)/out/l"] + attacks)
        #expect(r.stdoutLines.first == "symlink: ok", "\(r.stdout)\(r.stderr)")
        for (attack, line) in zip(attacks, r.stdoutLines.dropFirst()) {
            #expect(line.hasPrefix(attack.split(separator: " ")[0] + ": denied"), "\(attack) -> \(line)")
        }
        #expect(r.stdoutLines.count == attacks.count + 1)
        #expect(try String(contentsOfFile: ro, encoding: .utf8) == "read only\n")
        #expect(!FileManager.default.fileExists(atPath: p.root + "/out/ro.txt"))
        #expect(!FileManager.default.fileExists(atPath: victim.dir + "/new"))
    }

    /// output/ as a trap for the supervisor that copies it out: a symlink to /etc/shadow, a
    /// symlinked folder, a FIFO, a socket, and a hard link to /etc/shadow (which the kernel
    /// refuses to make). Only the regular files arrive, and nothing hangs.
    @Test(arguments: Supervisor.available)
    func trapsInOutputAreNeitherFollowedNorOpened(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files"])
        try p.agent("probe-agent", ["multi", "symlink /etc/shadow output/shadow", "mkfifo output/fifo", "bind-unix output/sock",
                                    "link /etc/shadow output/hard", "mkdir output/d", "symlink /etc output/d/etc",
                                    "write output/ok.txt"])
        let out = p.root + "/collected"
        let start = Date()
        let r = try p.mpmRun(["probe-agent", "--output", out])
        #expect(Date().timeIntervalSince(start) < 15)
        #expect(r.stdout.contains("link: denied"), "\(r.stdout)")
        #expect(r.status == 0, "\(r.stderr)")
        #expect(FileManager.default.fileExists(atPath: out + "/ok.txt"))
        for name in ["shadow", "fifo", "sock", "hard", "d/etc"] {
            var st = stat()
            #expect(lstat(out + "/" + name, &st) != 0, "\(name) was copied")
        }
    }

    /// TMPDIR inside a folder the profile lets agents write (or, for an unprivileged mpm-run,
    /// read): one run's agent could plant files in another run's output, which mpm-run then
    /// copies out as that run's, or read its input. Such a run is refused before it starts.
    @Test(arguments: Supervisor.available)
    func aRunCannotReachAnotherRunsSandboxThroughItsPaths(_ s: Supervisor) throws {
        let writer = try SandboxProject(s, permissions: ["read_files", "write_files", "execute_commands"], writePaths: ["work"])
        let tmp = writer.root + "/work/tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        chmod(tmp, 0o777)
        try writer.agent("planter", ["-c", "for d in \"$TMPDIR\"/../mpm-run/*/output \(tmp)/mpm-run/*/output; do echo planted > \"$d/planted\"; done; echo ran"],
                         command: "/bin/sh")
        let w = try writer.mpmRun(["planter"], environment: ["TMPDIR": tmp])
        #expect(w.status == 125 && w.stdout.isEmpty, "\(w.status) \(w.stdout) \(w.stderr)")
        #expect(w.stderr.contains("write path ") && w.stderr.contains(" overlaps ") && w.stderr.split(separator: "\n").count == 1,
                "\(w.stderr)")
        #expect(try writer.audit("run_started").isEmpty)

        // The same through symlinks: a write path that is a link to the sandboxes' folder (Landlock
        // follows it), and a TMPDIR reached through a link inside a write path (the agent could
        // repoint it at a folder of its own, where later runs would make their sandboxes).
        let linked = try SandboxProject(s, permissions: ["write_files", "execute_commands"], writePaths: ["link", "work"])
        let elsewhere = try linked.privateTMPDIR()
        try linked.agent("planter", ["-c", "echo ran"], command: "/bin/sh")
        try FileManager.default.createDirectory(atPath: linked.root + "/work", withIntermediateDirectories: true)
        for (link, tmpdir) in [("link", elsewhere), ("work/t", linked.root + "/work/t")] {
            try? FileManager.default.removeItem(atPath: linked.root + "/link")
            try? FileManager.default.removeItem(atPath: linked.root + "/work/t")
            try FileManager.default.createSymbolicLink(atPath: linked.root + "/" + link, withDestinationPath: elsewhere)
            let l = try linked.mpmRun(["planter"], environment: ["TMPDIR": tmpdir])
            #expect(l.status == 125 && l.stderr.contains(" overlaps "), "\(link): \(l.status) \(l.stdout) \(l.stderr)")
        }

        let reader = try SandboxProject(s, permissions: ["read_files"])
        let rtmp = reader.root + "/tmp"
        try FileManager.default.createDirectory(atPath: rtmp, withIntermediateDirectories: true)
        chmod(rtmp, 0o777)
        try reader.agent("echo", ["echo", "ran"])
        let r = try reader.mpmRun(["echo"], environment: ["TMPDIR": rtmp])
        if !(s == .root && Supervisor.isRoot) {
            #expect(r.status == 125 && r.stderr.contains("read path") && r.stderr.contains("overlaps"), "\(r.status) \(r.stderr)")
        } else {
            // As root every run has a uid and a 0700 folder of its own: reading is harmless.
            #expect(r.status == 0 && r.stdout == "ran\n", "\(r.status) \(r.stderr)")
        }
    }

    /// The agent makes folders in output/ named like ones already in the user's --output (a
    /// private `keep`, a sticky world-writable `sub`): collecting merges into them and leaves
    /// their modes alone. It used to make each 0755: with --output ~, an agent's `.ssh/` opened
    /// up the user's own.
    @Test(arguments: Supervisor.available)
    func collectingOutputLeavesTheModesOfFoldersAlreadyThere(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files", "execute_commands"])
        try p.agent("maker", ["-c", "cd \"$MPM_OUTPUT_DIR\" && mkdir keep sub new && echo k > keep/f && echo s > sub/g && echo n > new/h"],
                    command: "/bin/sh")
        let out = p.root + "/out"
        for (dir, mode) in [(out, mode_t(0o755)), (out + "/keep", 0o700), (out + "/sub", 0o1777)] {
            try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
            chmod(dir, mode)
            if s == .nobody && Supervisor.isRoot { chown(dir, 65534, 65534) }
        }
        let r = try p.mpmRun(["maker", "--output", out])
        #expect(r.status == 0, "\(r.stderr)")
        func mode(_ path: String) -> mode_t { var st = stat(); return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0 }
        #expect(mode(out + "/keep") == 0o700, "keep: \(String(mode(out + "/keep"), radix: 8))")
        #expect(mode(out + "/sub") == 0o1777, "sub: \(String(mode(out + "/sub"), radix: 8))")
        #expect(mode(out + "/new") == 0o755, "a folder the copy made: \(String(mode(out + "/new"), radix: 8))")
        for file in ["keep/f", "sub/g", "new/h"] {
            #expect(FileManager.default.fileExists(atPath: out + "/" + file), "\(file) not copied: \(r.stderr)")
        }
    }

    /// The agent of an unprivileged mpm-run (its own user) takes the owner's bits off its run
    /// folder and output/: its output is still collected and its sandbox removed. It used to be
    /// "not collected", the sandbox kept for good, at every such run.
    @Test(arguments: Supervisor.available)
    func anAgentThatLocksItsFoldersStillHasItsOutputCollected(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files", "execute_commands"])
        let tmp = try p.privateTMPDIR()
        for (name, lock) in [("lock-out", "chmod 000 \"$MPM_OUTPUT_DIR\""), ("lock-home", "chmod 000 \"$HOME\""),
                             ("lock-both", "chmod 000 \"$MPM_OUTPUT_DIR\" \"$HOME\"")] {
            try p.agent(name, ["-c", "echo result > \"$MPM_OUTPUT_DIR/f\"; \(lock)"], command: "/bin/sh")
            let out = p.root + "/out-" + name
            let r = try p.mpmRun([name, "--output", out], environment: ["TMPDIR": tmp])
            #expect(r.status == 0 && !r.stderr.contains("not collected"), "\(name): \(r.status) \(r.stderr)")
            #expect((try? String(contentsOfFile: out + "/f", encoding: .utf8)) == "result\n", "\(name): \(r.stderr)")
        }
        #expect(p.sandboxes(in: tmp).isEmpty, "sandboxes left: \(p.sandboxes(in: tmp))")
    }

    /// A killed supervisor leaves its sandbox; the next mpm-run sweeps it away without
    /// following the symlinks the agent left in temp/ to a folder of its own uid outside.
    @Test(arguments: Supervisor.available)
    func theStaleSweepFollowsNoSymlinkAKilledRunLeft(_ s: Supervisor) throws {
        let victim = try Victim(owner: s.agentUID, dirMode: 0o755, file: "keep", fileMode: 0o644)
        let marker = "l-\(UUID().uuidString)"
        let p = try SandboxProject(s, permissions: [])
        try p.agent("probe-agent", ["multi", "symlink \(victim.dir) temp/\(marker)", "symlink \(victim.file) temp/f",
                                    "mkdir temp/d", "symlink \(victim.dir) temp/d/l", "sleep 30"])
        // A sandbox folder of this test's own: other tests' supervisors, running in parallel,
        // would otherwise sweep the killed run's sandbox before this test looks at it.
        let tmp = try p.privateTMPDIR()
        let run = try spawnMPMRun(["probe-agent"], cwd: p.root, asNobody: s == .nobody && Supervisor.isRoot,
                                  environment: ["TMPDIR": tmp])
        let sandbox = waitFor { () -> String? in
            let runs = (try? FileManager.default.contentsOfDirectory(atPath: tmp + "/mpm-run")) ?? []
            return runs.map { tmp + "/mpm-run/" + $0 }.first { path in
                var st = stat()
                return lstat(path + "/temp/" + marker, &st) == 0 && lstat(path + "/temp/d/l", &st) == 0
            }
        }
        kill(run.processIdentifier, SIGKILL)
        run.waitUntilExit()
        let left = try #require(sandbox, "the agent never planted its links")
        #expect(FileManager.default.fileExists(atPath: left), "the killed run's sandbox should be left behind")

        try p.agent("sweeper", ["echo", "swept"])
        let r = try p.mpmRun(["sweeper"], environment: ["TMPDIR": tmp])
        #expect(r.stdout == "swept\n", "\(r.stderr)")
        #expect(!FileManager.default.fileExists(atPath: left), "the stale sandbox was not swept")
        #expect(victim.contents() == "victim\n")
        #expect(victim.mode(of: victim.dir) == 0o755)
    }

    /// Nothing of a run outlives it or holds mpm-run: a grandchild that ignores every signal,
    /// left its session and writes a file later; one that keeps stdout open; an agent that
    /// stops itself (SIGSTOP) is still ended by the timeout.
    @Test(arguments: Supervisor.available)
    func nothingOfTheRunOutlivesItOrHoldsMPMRun(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["execute_commands", "write_files"], writePaths: ["wp"])
        try p.openFolder("wp")
        let marker = p.root + "/wp/survivor"
        var start = Date()
        let orphan = try p.probe("orphan-writer", marker)
        let orphanEnded = Date()
        #expect(orphan.stdout == "orphan-writer: started\n", "\(orphan.stderr)")
        #expect(orphanEnded.timeIntervalSince(start) < 5)

        start = Date()
        let holder = try p.probe("hold-stdout")
        #expect(holder.stdout == "hold-stdout: started\n" && holder.status == 0, "\(holder.stderr)")
        #expect(Date().timeIntervalSince(start) < 5, "a grandchild holding stdout kept mpm-run waiting")

        try p.agent("probe-agent", ["stop-self"])
        start = Date()
        let stopped = try p.mpmRun(["probe-agent", "--timeout", "1"])
        #expect(stopped.status == 124, "\(stopped.stderr)")
        #expect(Date().timeIntervalSince(start) < 10)

        // The orphan writes 2 s after it started, if it is still alive.
        let wait = 3 - Date().timeIntervalSince(orphanEnded)
        if wait > 0 { Thread.sleep(forTimeInterval: wait) }
        #expect(!FileManager.default.fileExists(atPath: marker), "a process of the run outlived it")
    }

    /// Each always-denied syscall fails with EPERM even when the capability the kernel would
    /// ask for is kept, so that seccomp, not a missing capability, is what is tested. Every
    /// call's arguments make it harmless should the filter ever let it through.
    @Test func everyAlwaysDeniedSyscallIsDeniedEvenWithTheCapabilityKept() throws {
        try #require(Supervisor.isRoot, "keeping capabilities needs a root supervisor")
        let caps = ["cap_sys_admin", "cap_sys_boot", "cap_sys_module", "cap_sys_time", "cap_sys_pacct", "cap_syslog",
                    "cap_dac_read_search", "cap_sys_ptrace", "cap_bpf", "cap_perfmon", "cap_sys_tty_config", "cap_sys_rawio"]
        let p = try SandboxProject(.root, permissions: ["system_config"], capabilities: caps).allowingDenials()
        let r = try p.probe("always-denied")
        var seen: [String: String] = [:]
        for line in r.stdoutLines {
            let parts = line.split(separator: ":", maxSplits: 1).map(String.init)
            if parts.count == 2 { seen[parts[0]] = parts[1].trimmingCharacters(in: .whitespaces) }
        }
        for name in Baseline.alwaysDeniedSyscalls {
            #expect(seen[name] == "denied EPERM", "\(name): \(seen[name] ?? "no probe for it")")
        }
    }
}

// MARK: - Helpers

/// A folder (and optionally a file in it) outside every sandbox, owned by `owner`; removed at deinit.
private final class Victim {
    let dir: String
    let file: String

    init(owner: uid_t, dirMode: mode_t, file name: String = "f", fileMode: mode_t = 0o644) throws {
        dir = "/tmp/mpm-red-\(UUID().uuidString)"
        file = dir + "/" + name
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: false)
        try "victim\n".write(toFile: file, atomically: false, encoding: .utf8)
        chown(file, owner, owner == 0 ? 0 : owner)
        chmod(file, fileMode)
        chown(dir, owner, owner == 0 ? 0 : owner)
        chmod(dir, dirMode)
    }

    deinit {
        chmod(dir, 0o700)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func mode(of path: String) -> mode_t {
        var st = stat()
        return lstat(path, &st) == 0 ? st.st_mode & 0o7777 : 0
    }

    func contents() -> String? { try? String(contentsOfFile: file, encoding: .utf8) }
}

/// A listening unix socket (named or abstract) that greets and counts whoever connects.
private final class UnixListener: @unchecked Sendable {
    let fd: Int32
    private let lock = NSLock()
    private var count = 0
    var accepted: Int { lock.withLock { count } }

    init(path: String? = nil, abstract: String? = nil) throws {
        let sock = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_un()
        addr.sun_family = sa_family_t(AF_UNIX)
        let bytes: [UInt8] = abstract.map { [0] + Array($0.utf8) } ?? Array(path!.utf8)
        withUnsafeMutableBytes(of: &addr.sun_path) { buf in
            for (i, b) in bytes.enumerated() { buf[i] = b }
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + (abstract == nil ? 1 : 0))
        let bound = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(sock, $0, length) }
        }
        fd = sock
        guard bound == 0, listen(sock, 16) == 0 else { throw POSIXError(.EADDRINUSE) }
        serve()
    }

    fileprivate func serve() {
        let fd = self.fd
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(fd, nil, nil)
                if c < 0 { return }
                lock.withLock { count += 1 }
                _ = "hello-from-host".withCString { write(c, $0, 15) }
                close(c)
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

/// A TCP listener on 127.0.0.1 with a port of the kernel's choice.
private final class TCPListener: @unchecked Sendable {
    let fd: Int32
    let port: UInt16
    private let lock = NSLock()
    private var count = 0
    var accepted: Int { lock.withLock { count } }

    init() throws {
        let sock = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = UInt32(0x7F00_0001).bigEndian
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(sock, $0, length) == 0 && listen(sock, 16) == 0 && getsockname(sock, $0, &length) == 0
            }
        }
        fd = sock
        port = UInt16(bigEndian: addr.sin_port)
        guard ok else { throw POSIXError(.EADDRINUSE) }
        let listening = fd
        Thread.detachNewThread { [self] in
            while true {
                let c = accept(listening, nil, nil)
                if c < 0 { return }
                lock.withLock { count += 1 }
                close(c)
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}

private func removeSharedMemory(key: Int32) {
    let id = shmget(key_t(key), 0, 0)
    if id >= 0 { shmctl(id, IPC_RMID, nil) }
}

/// Polls `body` every 50 ms for up to 10 s until it returns something.
private func waitFor<T>(_ body: () -> T?) -> T? {
    for _ in 0..<200 {
        if let v = body() { return v }
        Thread.sleep(forTimeInterval: 0.05)
    }
    return nil
}

/// Starts `mpm-run args` without waiting for it (its output is discarded).
private func spawnMPMRun(_ args: [String], cwd: String, asNobody: Bool, environment: [String: String] = [:]) throws -> Process {
    let p = Process()
    if asNobody {
        p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
        p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", MPMRun.binary] + args
    } else {
        p.executableURL = URL(fileURLWithPath: MPMRun.binary)
        p.arguments = args
    }
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    // The project's own audit log, as SandboxProject's runs use: nobody has no home for one.
    p.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "MPM_AUDIT_LOG": cwd + "/state/audit.jsonl"]
        .merging(environment) { $1 }
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    p.standardInput = FileHandle.nullDevice
    try p.run()
    return p
}

/// Runs mpm-run as uid 65534 with the supplementary groups `groups` (the harness clears them).
private func runAsNobody(_ args: [String], cwd: String, groups: [gid_t]) throws -> MPMRun.Output {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
    p.arguments = ["--reuid=65534", "--regid=65534", "--groups=" + groups.map(String.init).joined(separator: ","),
                   "--inh-caps=-all", "--", MPMRun.binary] + args
    p.currentDirectoryURL = URL(fileURLWithPath: cwd)
    p.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "MPM_AUDIT_LOG": cwd + "/state/audit.jsonl"]
    let out = Pipe(), err = Pipe()
    p.standardOutput = out
    p.standardError = err
    p.standardInput = FileHandle.nullDevice
    try p.run()
    let errData = err.fileHandleForReading.readDataToEndOfFile()
    let outData = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return MPMRun.Output(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                         stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
}

/// Runs a program and returns its stdout.
private func runProcess(_ path: String, _ args: [String]) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: path)
    p.arguments = args
    let out = Pipe()
    p.standardOutput = out
    p.standardError = FileHandle.nullDevice
    try p.run()
    let data = out.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return String(decoding: data, as: UTF8.self)
}

extension SandboxProject {
    /// Raises the profile's max_denials_per_run, for a battery of attacks that each end in a
    /// denial and must all get their turn before denial_burst ends the run.
    func allowingDenials(_ n: Int = 1000) throws -> SandboxProject {
        let profile = project.profiles + "/probe.yaml"
        let text = try String(contentsOfFile: profile, encoding: .utf8)
        try (text + "\nincidents: {max_denials_per_run: \(n)}\n").write(toFile: profile, atomically: false, encoding: .utf8)
        return self
    }

    /// Runs the probe with `args` as agent `probe-agent`.
    func attack(_ args: [String]) throws -> MPMRun.Output {
        try agent("probe-agent", args)
        return try mpmRun(["probe-agent"])
    }
}

extension EscapeTests {
    /// Host pids whose command line contains `text`.
    static func pids(withCommandLineContaining text: String) -> [String] {
        let pids = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
        return pids.filter { pid in
            guard pid.allSatisfy(\.isNumber),
                  let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
            return String(decoding: data, as: UTF8.self).contains(text)
        }
    }
}
