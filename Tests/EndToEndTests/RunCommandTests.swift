import Foundation
import Testing

/// `mpm-run <agent>` as a person uses it: exit statuses, streaming, stdin, inputs and outputs.
@Suite struct RunCommandTests {
    @Test(arguments: Supervisor.available)
    func theAgentsExitStatusIsMPMRunsExitStatus(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        #expect(try p.probe("exit", "0").status == 0)
        #expect(try p.probe("exit", "3").status == 3)
        #expect(try p.probe("exit", "100").status == 100)
    }

    @Test func aCommandThatDoesNotExistExits127() throws {
        let p = try SandboxProject(.root, permissions: [])
        try p.agent("missing", [], command: "/nonexistent/agent-binary")
        let r = try p.mpmRun(["missing"])
        #expect(r.status == 127)
        #expect(r.stderr == "mpm-run: /nonexistent/agent-binary: command not found (agent missing)\n")
    }

    @Test func aCommandThatCannotBeExecutedExits126() throws {
        let p = try SandboxProject(.root, permissions: [])
        let script = try p.project.write("not-executable.sh", "#!/bin/sh\necho hi\n")
        chmod(script, 0o644)
        try p.agent("noexec", [], command: script)
        let r = try p.mpmRun(["noexec"])
        #expect(r.status == 126, "\(r.stderr)")
        #expect(r.stderr.hasPrefix("mpm-run: sandbox setup failed at execve: Permission denied"))
    }

    @Test func anUnknownAgentIsRefusedWith125AndOneLine() throws {
        let p = try SandboxProject(.root, permissions: [])
        let r = try p.mpmRun(["no-such-agent"])
        #expect(r.status == 125)
        #expect(r.stderr == "mpm-run: unknown agent 'no-such-agent': no file in ./agents defines it\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func badUsageExits125WithOneLine() throws {
        let p = try SandboxProject(.root, permissions: [])
        try p.agent("probe-agent", ["exit", "0"])
        let r = try p.mpmRun(["probe-agent", "--timeout", "0"])
        #expect(r.status == 125)
        #expect(r.stderr.split(separator: "\n").count == 1, "\(r.stderr)")
        #expect(r.stderr.contains("--timeout must be at least 1 second"))
    }

    @Test(arguments: Supervisor.available)
    func outputStreamsWhileTheAgentRuns(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("ticker", ["tick", "3"])
        let start = Date()
        let (process, stdout) = try p.start(["ticker"])
        // The first line must arrive long before the agent's 3-second sleep ends.
        var first = Data()
        while !first.contains(UInt8(ascii: "\n")) {
            let chunk = stdout.availableData
            if chunk.isEmpty { break }
            first.append(chunk)
        }
        let firstAt = Date().timeIntervalSince(start)
        process.waitUntilExit()
        #expect(String(decoding: first, as: UTF8.self).hasPrefix("tick: first\n"))
        #expect(firstAt < 2.5, "first line after \(firstAt) s")
        #expect(Date().timeIntervalSince(start) >= 3)
    }

    /// F_GETPIPE_SZ and F_SETPIPE_SZ (fcntl.h, _GNU_SOURCE).
    static let getPipeSize: Int32 = 1032, setPipeSize: Int32 = 1031

    @Test(arguments: Supervisor.available)
    func aPipeAtStdoutIsGrownTo256KiBAndNeverShrunk(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("speaker", ["echo", "hello"])
        try p.agent("quiet", ["exit", "0"])
        // The default pipe (64 KiB with 4 KiB pages): mpm-run grows it on its first write, so
        // that its relay need not wait for the reader every 64 KiB (0.65x of `cat | cat`
        // before, 1.04x to 1.30x after).
        let pipe = Pipe()
        let before = fcntl(pipe.fileHandleForWriting.fileDescriptor, Self.getPipeSize)
        let (process, stdout) = try p.start(["speaker"], stdout: pipe)
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        #expect(fcntl(stdout.fileDescriptor, Self.getPipeSize) == max(before, 256 << 10))
        #expect(String(decoding: stdout.readDataToEndOfFile(), as: UTF8.self) == "hello\n")

        // Nothing written, nothing grown: the caller's pipe is left as it was.
        let (silent, silentOut) = try p.start(["quiet"])
        silent.waitUntilExit()
        #expect(silent.terminationStatus == 0)
        #expect(fcntl(silentOut.fileDescriptor, Self.getPipeSize) == before)

        // A pipe already larger stays as it is (1 MiB: any process may ask for that much).
        let big = Pipe()
        #expect(fcntl(big.fileHandleForWriting.fileDescriptor, Self.setPipeSize, Int32(1 << 20)) == 1 << 20)
        let (again, bigOut) = try p.start(["speaker"], stdout: big)
        again.waitUntilExit()
        #expect(again.terminationStatus == 0)
        #expect(fcntl(bigOut.fileDescriptor, Self.getPipeSize) == 1 << 20)
    }

    @Test(arguments: Supervisor.available)
    func stdinIsDevNullUnlessAsked(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("probe-agent", ["stdin"])
        let closed = try p.mpmRun(["probe-agent"], stdin: Data("ignored".utf8))
        #expect(closed.stdout == "stdin: 0 bytes\n")
        let passed = try p.mpmRun(["probe-agent", "--stdin"], stdin: Data("hello".utf8))
        #expect(passed.stdout == "stdin: 5 bytes\n")
    }

    @Test(arguments: Supervisor.available)
    func argumentsAfterTheTerminatorReachTheAgent(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        try p.agent("echo", ["echo"])
        let r = try p.mpmRun(["echo", "--", "hello from the command line"])
        #expect(r.stdout == "hello from the command line\n")
    }

    @Test(arguments: Supervisor.available)
    func inputsAreCopiedWithTheInstructions(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"])
        try p.project.write("docs/guide.md", "a guide\n")
        try p.agent("lister", ["-c", "cd input && for f in *; do echo $f; done"], command: "/bin/sh")
        let r = try p.mpmRun(["lister", "--input", "docs"])
        #expect(r.stdout == "INSTRUCTIONS.md\ndocs\n", "\(r.stderr)")
        try p.agent("reader", ["read", "input/docs/guide.md"])
        #expect(try p.mpmRun(["reader", "--input", "docs"]).stdout == "read: ok\n")
    }

    @Test(arguments: Supervisor.available)
    func anInputOutsideTheProjectIsRefusedBeforeLaunch(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"])
        try p.agent("probe-agent", ["echo", "launched"])
        let r = try p.mpmRun(["probe-agent", "--input", "/etc/hostname"])
        #expect(r.status == 125)
        #expect(r.stdout.isEmpty, "the agent must not start")
        #expect(r.stderr.hasPrefix("mpm-run: input /etc/hostname: "), "\(r.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func anInputReachedThroughASymlinkThatLeavesTheProjectIsRefused(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"])
        try FileManager.default.createSymbolicLink(atPath: p.root + "/passwd", withDestinationPath: "/etc/passwd")
        try p.agent("probe-agent", ["echo", "launched"])
        let r = try p.mpmRun(["probe-agent", "--input", "passwd"])
        #expect(r.status == 125)
        #expect(r.stdout.isEmpty)
    }

    @Test(arguments: Supervisor.available)
    func outputIsCollectedIntoMPMOutputByDefaultAndTheSandboxRemoved(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["write_files"])
        try p.agent("writer", ["-c", "echo done > output/report.txt; echo $MPM_RUN_ID"], command: "/bin/sh")
        let r = try p.mpmRun(["writer"])
        let runID = r.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(!runID.isEmpty)
        let report = try String(contentsOfFile: "\(p.root)/mpm-output/\(runID)/report.txt", encoding: .utf8)
        #expect(report == "done\n")
        #expect(!FileManager.default.fileExists(atPath: "/tmp/mpm-run/\(runID)"), "the sandbox must be removed")
    }

    @Test func theTimeoutOptionCanOnlyShortenTheProfiles() throws {
        let p = try SandboxProject(.root, permissions: [], limits: ["timeout_seconds": 1])
        try p.agent("probe-agent", ["sleep", "5"])
        let start = Date()
        let r = try p.mpmRun(["probe-agent", "--timeout", "30"])
        #expect(r.status == 124)
        #expect(Date().timeIntervalSince(start) < 4)
    }

    @Test func theInstructionsPlaceholderIsTheInstructionsFile() throws {
        let p = try SandboxProject(.root, permissions: [])
        try p.agent("probe-agent", ["read", "{instructions}"])
        #expect(try p.mpmRun(["probe-agent"]).stdout == "read: ok\n")
    }
}

/// Another supervisor's sweep of stale run cgroups must not take a live run's cgroup in the
/// moment between its creation and its init joining it (the run then failed with "joining
/// the run's cgroups: No such device"), even when that run's sandbox is under another TMPDIR.
@Suite struct StaleCgroupSweepTests {
    @Test func aFreshEmptyRunCgroupSurvivesAnotherMPMRunStarting() throws {
        try #require(getuid() == 0, "run cgroups exist only on the root path")
        let own = try String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8)
        let folders: [String] = own.split(separator: "\n").flatMap { line -> [String] in
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3, parts[0] != "0" else { return [] }
            let path = parts[2] == "/" ? "" : String(parts[2])
            return parts[1].split(separator: ",").filter { $0 == "memory" || $0 == "pids" }.map { "/sys/fs/cgroup/\($0)\(path)" }
        }
        try #require(!folders.isEmpty, "no v1 memory or pids cgroup here")
        let name = "mpm-run-r0test-\(UInt32.random(in: 0...UInt32.max))"
        for folder in folders { #expect(mkdir(folder + "/" + name, 0o700) == 0, "\(folder)") }
        defer { for folder in folders { rmdir(folder + "/" + name) } }
        let p = try SandboxProject(.root, permissions: [])
        try p.agent("quick", ["exit", "0"])
        #expect(try p.mpmRun(["quick"]).status == 0)
        for folder in folders {
            #expect(access(folder + "/" + name, F_OK) == 0, "the sweep removed a fresh run cgroup in \(folder)")
        }
    }
}
