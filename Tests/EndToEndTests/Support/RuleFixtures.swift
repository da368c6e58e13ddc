import Foundation
import Testing

/// What `mpm-run check` printed: its error lines, its warning lines and the summary.
struct CheckResult {
    var status: Int32
    var errors: [String]
    var warnings: [String]
    var summary: String
    var output: MPMRun.Output

    init(_ output: MPMRun.Output) {
        self.output = output
        status = output.status
        let lines = output.stdoutLines
        summary = lines.last(where: { $0.hasPrefix("checked ") }) ?? ""
        let problems = lines.filter { !$0.hasPrefix("checked ") }
        warnings = problems.filter { $0.contains(": warning: ") }
        errors = problems.filter { !$0.contains(": warning: ") }
    }
}

extension Project {
    /// `mpm-run check` run in the project with relative folders, so that every message
    /// names a short, stable file such as `agents/x.yaml`.
    func check(json: Bool = false) throws -> CheckResult {
        CheckResult(try mpmRun(["check", "--agents-dir", "agents", "--profiles-dir", "profiles", "--project", "."]
                               + (json ? ["--json"] : [])))
    }

    /// `mpm-run explain ID` with the same folders.
    func explain(_ id: String, json: Bool = false) throws -> MPMRun.Output {
        try mpmRun(["explain", id, "--agents-dir", "agents", "--profiles-dir", "profiles", "--project", "."]
                   + (json ? ["--json"] : []))
    }

    /// `explain --json`, decoded.
    func explainJSON(_ id: String) throws -> [String: Any] {
        let r = try explain(id, json: true)
        #expect(r.status == 0, "explain \(id): \(r.stderr)")
        return try JSONSerialization.jsonObject(with: r.stdoutBytes) as? [String: Any] ?? [:]
    }
}

/// Fixtures that are valid as written; each test changes exactly one thing.
enum Fixture {
    /// How many profiles the repository ships (what `Project(copyShippedProfiles: true)` copies).
    static let shippedProfiles: Int = {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: Repository.root + "/profiles")) ?? []
        return names.filter { !$0.hasPrefix(".") && ($0.hasSuffix(".yaml") || $0.hasSuffix(".yml")) }.count
    }()

    /// A valid native agent for the shipped `documentation` profile. Every field stands on
    /// a fixed line, so a test knows where its message must point:
    ///
    ///     1 agent_id: (value at column 11)      5   name: (column 9)
    ///     2 version: (column 10)                6   description: (column 16)
    ///     3 type: (column 7)                    7 instructions: (column 15)
    ///     4 metadata:                           8 command: (column 10)
    ///
    /// `extra` lines follow from line 9.
    static func agent(id: String = "sample", version: String = "1.0.0", type: String = "documentation",
                      name: String = "Sample", description: String = "A sample agent.",
                      instructions: String = "Read the inputs and summarize them.",
                      command: String = "[/bin/true]", extra: [String] = []) -> String {
        ([
            "agent_id: \(id)",
            "version: \(version)",
            "type: \(type)",
            "metadata:",
            "  name: \(name)",
            "  description: \(description)",
            "instructions: \(instructions)",
            "command: \(command)",
        ] + extra).joined(separator: "\n") + "\n"
    }

    /// A valid profile `custom` claiming type `custom`, one field a line:
    ///
    ///     1 profile: (value at column 10)       5 limits:
    ///     2 description: (column 14)            6   memory_mb: (column 14)
    ///     3 applies_to: (column 13)             7   cpu_seconds: ... 12 max_output_bytes
    ///     4 permissions: (column 14)
    ///
    /// `extra` lines follow from line 13.
    static func profile(name: String = "custom", appliesTo: String = "[custom]",
                        permissions: String = "[read_files]", memoryMB: String = "512",
                        extra: [String] = []) -> String {
        ([
            "profile: \(name)",
            "description: A profile for tests.",
            "applies_to: \(appliesTo)",
            "permissions: \(permissions)",
            "limits:",
            "  memory_mb: \(memoryMB)",
            "  cpu_seconds: 60",
            "  timeout_seconds: 300",
            "  max_processes: 16",
            "  max_open_files: 128",
            "  max_file_size_mb: 16",
            "  max_output_bytes: 1048576",
        ] + extra).joined(separator: "\n") + "\n"
    }

    /// A native agent of type `custom` (for `profile()`), otherwise like `agent()`.
    static func customAgent(id: String = "sample", extra: [String] = []) -> String {
        agent(id: id, type: "custom", extra: extra)
    }
}

/// Writes `text` as the only agent file of a project with the shipped profiles, runs
/// `check`, and expects exactly one error, `expected`, and exit status 1.
func expectOnlyError(agentFile: String = "x.yaml", _ text: String, _ expected: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    let project = try Project(copyShippedProfiles: true)
    try project.write("agents/" + agentFile, text)
    let r = try project.check()
    #expect(r.errors == [expected], "\(r.output.stdout)\(r.output.stderr)", sourceLocation: sourceLocation)
    #expect(r.status == 1, sourceLocation: sourceLocation)
}

/// The same with raw bytes.
func expectOnlyError(agentFile: String = "x.yaml", bytes: [UInt8], _ expected: String,
                     sourceLocation: SourceLocation = #_sourceLocation) throws {
    let project = try Project(copyShippedProfiles: true)
    try project.write("agents/" + agentFile, Data(bytes))
    let r = try project.check()
    #expect(r.errors == [expected], "\(r.output.stdout)\(r.output.stderr)", sourceLocation: sourceLocation)
    #expect(r.status == 1, sourceLocation: sourceLocation)
}
