import Foundation
import Testing

/// Each of the five permissions, granted and not granted, enforced by the kernel on a real
/// agent: the same operation succeeds with the permission and fails without it.
@Suite struct PermissionEnforcementTests {
    @Test(arguments: Supervisor.available)
    func readFilesGrantsReadingTheProject(_ s: Supervisor) throws {
        let granted = try SandboxProject(s, permissions: ["read_files"])
        try granted.project.write("data.txt", "project data\n")
        let ok = try granted.probe("read", granted.root + "/data.txt")
        #expect(ok.stdout == "read: ok\n", "\(ok.stderr)")
        #expect(ok.status == 0)

        let denied = try SandboxProject(s, permissions: [])
        try denied.project.write("data.txt", "project data\n")
        let no = try denied.probe("read", denied.root + "/data.txt")
        #expect(no.stdout == "read: denied EACCES\n", "\(no.stderr)")
        #expect(no.status == 1)
    }

    @Test(arguments: Supervisor.available)
    func readingOutsideTheReadPathsFailsEvenWithReadFiles(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files"])
        // Readable by everyone on disk: only Landlock stands in the way.
        let outside = "/tmp/mpm-test-outside-\(UUID().uuidString)"
        try "outside\n".write(toFile: outside, atomically: true, encoding: .utf8)
        chmod(outside, 0o644)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        let r = try p.probe("read", outside)
        #expect(r.stdout == "read: denied EACCES\n")
    }

    @Test(arguments: Supervisor.available)
    func writeFilesGrantsTheWritePathsAndNothingElse(_ s: Supervisor) throws {
        let granted = try SandboxProject(s, permissions: ["read_files", "write_files"], writePaths: ["out"])
        try granted.openFolder("out")
        try granted.openFolder("elsewhere")
        let ok = try granted.probe("write", granted.root + "/out/new.txt")
        #expect(ok.stdout == "write: ok\n", "\(ok.stderr)")
        #expect(FileManager.default.fileExists(atPath: granted.root + "/out/new.txt"))
        let other = try granted.probe("write", granted.root + "/elsewhere/new.txt")
        #expect(other.stdout == "write: denied EACCES\n")
        #expect(!FileManager.default.fileExists(atPath: granted.root + "/elsewhere/new.txt"))

        let denied = try SandboxProject(s, permissions: ["read_files"], writePaths: [])
        try denied.openFolder("out")
        let no = try denied.probe("write", denied.root + "/out/new.txt")
        #expect(no.stdout == "write: denied EACCES\n")
        #expect(!FileManager.default.fileExists(atPath: denied.root + "/out/new.txt"))
    }

    @Test(arguments: Supervisor.available)
    func writeFilesGrantsOutputWhichIsCollected(_ s: Supervisor) throws {
        let granted = try SandboxProject(s, permissions: ["write_files"])
        try granted.agent("probe-agent", ["write", "output/result.txt"])
        let out = granted.root + "/collected"
        let ok = try granted.mpmRun(["probe-agent", "--output", out])
        #expect(ok.stdout == "write: ok\n", "\(ok.stderr)")
        let collected = try String(contentsOfFile: out + "/result.txt", encoding: .utf8)
        #expect(collected == "written by mpm-probe\n")

        let denied = try SandboxProject(s, permissions: [])
        let no = try denied.probe("write", "output/result.txt")
        #expect(no.stdout == "write: denied EACCES\n")
    }

    @Test(arguments: Supervisor.available)
    func tempIsWritableWithoutAnyPermission(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: [])
        let r = try p.probe("write", "temp/scratch.txt")
        #expect(r.stdout == "write: ok\n", "\(r.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func inputsAreReadOnlyForTheAgent(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files", "write_files"])
        try p.project.write("doc.txt", "an input\n")
        try p.agent("probe-agent", ["write", "input/doc.txt"])
        let r = try p.mpmRun(["probe-agent", "--input", "doc.txt"])
        #expect(r.stdout == "write: denied EACCES\n", "\(r.stderr)")
    }

    @Test(arguments: Supervisor.available)
    func executeCommandsGrantsStartingPrograms(_ s: Supervisor) throws {
        let granted = try SandboxProject(s, permissions: ["execute_commands"])
        #expect(try granted.probe("spawn", "/bin/true").stdout == "spawn: ok\n")
        #expect(try granted.probe("exec", "/bin/true").status == 0)
        #expect(try granted.probe("fork").stdout == "fork: ok\n")

        let denied = try SandboxProject(s, permissions: [])
        #expect(try denied.probe("spawn", "/bin/true").stdout == "spawn: denied EPERM\n")
        #expect(try denied.probe("exec", "/bin/true").stdout == "exec: denied EPERM\n")
        #expect(try denied.probe("fork").stdout == "fork: denied EPERM\n")
        // A shell that runs another program fails; its builtins still work.
        try denied.agent("sh", ["-c", "echo builtin; /bin/true && echo started"], command: "/bin/sh")
        let sh = try denied.mpmRun(["sh"])
        #expect(sh.stdout.hasPrefix("builtin\n"))
        #expect(!sh.stdout.contains("started"))
        // Threads are not processes: they work without the permission.
        #expect(try denied.probe("thread").stdout == "thread: ok\n")
    }

    @Test(arguments: Supervisor.available)
    func networkAccessGrantsInternetSockets(_ s: Supervisor) throws {
        let granted = try SandboxProject(s, permissions: ["network_access"])
        try granted.agent("probe-agent", ["socket-inet"])
        // A native agent must ask for the network as well.
        try granted.project.write("agents/net.yaml", try String(contentsOfFile: granted.project.agents + "/probe-agent.yaml", encoding: .utf8)
            .replacingOccurrences(of: "agent_id: probe-agent", with: "agent_id: net") + "network_access: true\n")
        #expect(try granted.mpmRun(["net"]).stdout == "socket-inet: ok\n")
        try granted.project.write("agents/net-unix.yaml", try String(contentsOfFile: granted.project.agents + "/net.yaml", encoding: .utf8)
            .replacingOccurrences(of: "agent_id: net", with: "agent_id: net-unix").replacingOccurrences(of: "socket-inet", with: "socket-unix"))
        #expect(try granted.mpmRun(["net-unix"]).stdout == "socket-unix: ok\n")

        let denied = try SandboxProject(s, permissions: [])
        // Unix sockets too: Landlock cannot stop a connect() to the host's named sockets.
        for family in ["socket-inet", "socket-inet6", "socket-netlink", "socket-packet", "socket-unix"] {
            let r = try denied.probe(family)
            #expect(r.stdout == "\(family): denied EPERM\n")
        }
    }

    @Test(arguments: Supervisor.available)
    func withoutSystemConfigEveryCapabilityIsDropped(_ s: Supervisor) throws {
        let p = try SandboxProject(s, permissions: ["read_files", "write_files", "execute_commands", "network_access"])
        let r = try p.probe("status")
        for set in ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"] {
            #expect(r.stdout.contains("\(set):\t0000000000000000"), "\(set) in \(r.stdout)")
        }
    }

    @Test func systemConfigKeepsOnlyTheListedCapabilities() throws {
        try #require(Supervisor.isRoot, "keeping capabilities needs a root supervisor")
        let p = try SandboxProject(.root, permissions: ["system_config"], capabilities: ["cap_net_bind_service"])
        let r = try p.probe("status")
        // cap_net_bind_service is bit 10.
        #expect(r.stdout.contains("CapEff:\t0000000000000400"), "\(r.stdout)\(r.stderr)")
        #expect(r.stdout.contains("CapBnd:\t0000000000000400"))
        #expect(Supervisor.uids(inStatus: r.stdout).allSatisfy { Supervisor.root.isAgentUID($0) })
    }

    @Test func anUnprivilegedSupervisorRefusesToKeepCapabilities() throws {
        let p = try SandboxProject(.nobody, permissions: ["system_config"], capabilities: ["cap_net_bind_service"])
        try p.agent("probe-agent", ["status"])
        let r = try MPMRun.run(["probe-agent"], cwd: p.root, environment: ["MPM_AUDIT_LOG": p.auditLog],
                               asNobody: Supervisor.isRoot)
        #expect(r.status == 125)
        #expect(r.stderr.contains("only a root supervisor can hand on"))
    }
}
