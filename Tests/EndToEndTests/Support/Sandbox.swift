import Foundation
import Testing

/// Who runs mpm-run: the root path (mpm-run as root, the agent dropped to nobody) and the
/// unprivileged path (mpm-run itself as uid 65534). Tests that take a `Supervisor` run on both
/// when the suite runs as root, on the current user's path otherwise.
enum Supervisor: String, CaseIterable, CustomTestStringConvertible, Sendable {
    case root
    case nobody

    static let isRoot = getuid() == 0
    static var available: [Supervisor] { isRoot ? [.root, .nobody] : [.root] }
    var testDescription: String { self == .root && !Self.isRoot ? "current user" : rawValue }
    /// A uid that must not be able to reach the agent's files, nor the agent its: nobody's,
    /// which root's agents once shared, or the unprivileged supervisor's own.
    var agentUID: uid_t { Self.isRoot ? 65534 : getuid() }

    /// Whether `uid` is one this supervisor's agents run as: a run's own uid from the reserved
    /// range when root runs mpm-run, the invoking user's otherwise.
    func isAgentUID(_ uid: UInt32) -> Bool {
        self == .root && Self.isRoot ? (0x7FFE_0000...0x7FFE_FFFF).contains(uid) : uid == (self == .nobody && Self.isRoot ? 65534 : getuid())
    }

    /// The Uid line of /proc/self/status: real, effective, saved, filesystem.
    static func uids(inStatus text: String) -> [UInt32] {
        guard let line = text.split(separator: "\n").first(where: { $0.hasPrefix("Uid:") }) else { return [] }
        return line.split(whereSeparator: { $0 == "\t" || $0 == " " }).dropFirst().compactMap { UInt32($0) }
    }
}

/// The probe, compiled once per test run with the system C compiler, in a folder every
/// user can read (the agent may run as nobody).
enum Probe {
    static let path: String = {
        let dir = "/tmp/mpm-test-probe-\(getpid())"
        try? FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        chmod(dir, 0o755)
        let out = dir + "/mpm-probe"
        let source = Repository.root + "/Tests/Probe/mpm-probe.c"
        for cc in ["/usr/bin/cc", "/usr/bin/gcc", "/usr/bin/clang", "/opt/swift/usr/bin/clang"]
        where FileManager.default.isExecutableFile(atPath: cc) {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: cc)
            p.arguments = ["-O1", "-o", out, source, "-lpthread"]
            try? p.run()
            p.waitUntilExit()
            if p.terminationStatus == 0 { chmod(out, 0o755); return out }
        }
        fatalError("no C compiler could build \(source)")
    }()
}

/// A project with one profile (`probe`, for type `probe`) and agents made on demand that run
/// the probe. Everything is readable by nobody, so both supervisors can use it.
final class SandboxProject {
    let project: Project
    let supervisor: Supervisor
    var root: String { project.root }

    init(_ supervisor: Supervisor, permissions: [String], limits: [String: Int] = [:],
         writePaths: [String] = [], capabilities: [String] = [], envAllow: [String] = [],
         envSecrets: [String] = [], incidents: String? = nil) throws {
        project = try Project()
        self.supervisor = supervisor
        var l = ["memory_mb": 512, "cpu_seconds": 30, "timeout_seconds": 60, "max_processes": 64,
                 "max_open_files": 256, "max_file_size_mb": 64, "max_output_bytes": 16_777_216]
        for (k, v) in limits { l[k] = v }
        let limitText = l.sorted { $0.key < $1.key }.map { "\($0.key): \($0.value)" }.joined(separator: ", ")
        try project.write("profiles/probe.yaml", """
            profile: probe
            description: The profile the end-to-end tests attack.
            applies_to: [probe]
            permissions: [\(permissions.joined(separator: ", "))]
            limits: {\(limitText)}
            file_access: {read_paths: ["."], write_paths: [\(writePaths.map { "\"\($0)\"" }.joined(separator: ", "))]}
            env: {allow: [LANG\(envAllow.map { ", " + $0 }.joined())], set: {PATH: /usr/bin:/bin}, secrets: [\(envSecrets.joined(separator: ", "))]}
            capabilities: [\(capabilities.joined(separator: ", "))]
            \(incidents.map { "incidents: {\($0)}" } ?? "")
            """)
        // The run's output folder lands in the project; nobody must be able to write it.
        chmod(root, 0o777)
    }

    /// Defines agent `id` running `argv` (the probe when argv[0] is nil) and returns its id.
    @discardableResult
    func agent(_ id: String = "probe-agent", _ args: [String], command: String? = nil, env: [String] = []) throws -> String {
        let argv = [command ?? Probe.path] + args
        let quoted = argv.map { "'" + $0.replacingOccurrences(of: "'", with: "''") + "'" }.joined(separator: ", ")
        try project.write("agents/\(id).yaml", """
            agent_id: \(id)
            version: 1.0.0
            type: probe
            metadata: {name: Probe, description: Attacks the sandbox from inside.}
            instructions: Try the attack named in the command and report the result.
            command: [\(quoted)]
            \(env.isEmpty ? "" : "env: [\(env.joined(separator: ", "))]")
            """)
        return id
    }

    /// The project's own audit log (nobody has no home to keep one in).
    var auditLog: String { root + "/state/audit.jsonl" }

    /// Runs `mpm-run <args>` in the project as this test's supervisor.
    @discardableResult
    func mpmRun(_ args: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> MPMRun.Output {
        var env = environment
        if env["MPM_AUDIT_LOG"] == nil { env["MPM_AUDIT_LOG"] = auditLog }
        return try MPMRun.run(args, cwd: root, environment: env, stdin: stdin, asNobody: supervisor == .nobody && Supervisor.isRoot)
    }

    /// Starts `mpm-run <args>` as this test's supervisor, for a test that reads its stdout
    /// while it streams.
    func start(_ args: [String], stdout out: Pipe = Pipe()) throws -> (process: Process, stdout: FileHandle) {
        let process = Process()
        let asNobody = Supervisor.isRoot && supervisor == .nobody
        process.executableURL = URL(fileURLWithPath: asNobody ? "/usr/bin/setpriv" : MPMRun.binary)
        process.arguments = (asNobody ? ["--reuid=65534", "--regid=65534", "--clear-groups", "--", MPMRun.binary] : []) + args
        process.currentDirectoryURL = URL(fileURLWithPath: root)
        process.environment = ["PATH": "/usr/bin:/bin", "MPM_AUDIT_LOG": auditLog]
        process.standardOutput = out
        try process.run()
        return (process, out.fileHandleForReading)
    }

    /// The audit log's records, parsed.
    func auditRecords(_ log: String? = nil) throws -> [[String: Any]] {
        let text = (try? String(contentsOfFile: log ?? auditLog, encoding: .utf8)) ?? ""
        return try text.split(separator: "\n").map {
            try #require(try JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
    }

    /// The records of one type.
    func audit(_ type: String) throws -> [[String: Any]] {
        try auditRecords().filter { $0["type"] as? String == type }
    }

    /// Runs the probe `args` as agent `probe-agent` and returns what it printed.
    func probe(_ args: String..., environment: [String: String] = [:], extra: [String] = []) throws -> MPMRun.Output {
        try agent("probe-agent", args)
        return try mpmRun(["probe-agent"] + extra, environment: environment)
    }

    /// Makes `relativePath` a folder that every user may write, so a denial there is Landlock's.
    func openFolder(_ relativePath: String) throws {
        let path = root + "/" + relativePath
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        chmod(path, 0o777)
    }
}
