import Foundation
import Testing

/// Runs the real `mpm-run` binary, as a user would, and captures what it prints.
struct MPMRun {
    struct Output {
        var status: Int32
        var stdout: String
        var stderr: String
        var stdoutBytes: Data
        var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }
        var stdoutLines: [String] { stdout.split(separator: "\n").map(String.init) }
    }

    /// The binary SwiftPM built next to the test bundle, or $MPM_RUN_BINARY.
    static let binary: String = {
        if let b = ProcessInfo.processInfo.environment["MPM_RUN_BINARY"] { return b }
        let bundle = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        return bundle.appendingPathComponent("mpm-run").path
    }()

    /// Runs `mpm-run args` in `cwd` with exactly `environment` (plus PATH), stdin from `stdin`.
    @discardableResult
    static func run(_ args: [String], cwd: String? = nil, environment: [String: String] = [:],
                    stdin: Data? = nil, timeout: TimeInterval = 120, asNobody: Bool = false) throws -> Output {
        let p = Process()
        if asNobody {
            // The unprivileged path: mpm-run itself as uid 65534, no groups, no capabilities.
            p.executableURL = URL(fileURLWithPath: "/usr/bin/setpriv")
            p.arguments = ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", binary] + args
        } else {
            p.executableURL = URL(fileURLWithPath: binary)
            p.arguments = args
        }
        if let cwd { p.currentDirectoryURL = URL(fileURLWithPath: cwd) }
        var env = ["PATH": "/usr/local/bin:/usr/bin:/bin"]
        for (k, v) in environment { env[k] = v }
        p.environment = env
        let out = Pipe(), err = Pipe(), input = Pipe()
        p.standardOutput = out
        p.standardError = err
        p.standardInput = input
        try p.run()
        if let stdin { input.fileHandleForWriting.write(stdin) }
        try input.fileHandleForWriting.close()
        // Read both pipes concurrently so neither can fill and block the child.
        nonisolated(unsafe) var errData = Data()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async {
            errData = err.fileHandleForReading.readDataToEndOfFile()
            group.leave()
        }
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        if group.wait(timeout: .now() + timeout) == .timedOut {
            p.terminate()
            Issue.record("mpm-run \(args) did not finish in \(timeout) s")
        }
        p.waitUntilExit()
        return Output(status: p.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                      stderr: String(decoding: errData, as: UTF8.self), stdoutBytes: outData)
    }
}

/// A temporary project folder with `agents/` and `profiles/`, removed at deinit.
final class Project {
    let root: String
    var agents: String { root + "/agents" }
    var profiles: String { root + "/profiles" }

    init(copyShippedProfiles: Bool = false) throws {
        let base = FileManager.default.temporaryDirectory.appendingPathComponent("mpm-test-\(UUID().uuidString)")
        root = base.path
        try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: root + "/profiles", withIntermediateDirectories: true)
        if copyShippedProfiles {
            for name in try FileManager.default.contentsOfDirectory(atPath: Repository.root + "/profiles") {
                try FileManager.default.copyItem(atPath: Repository.root + "/profiles/" + name, toPath: profiles + "/" + name)
            }
        }
    }

    deinit {
        try? FileManager.default.removeItem(atPath: root)
        try? FileManager.default.removeItem(atPath: root + ".tmp")  // SandboxProject.privateTMPDIR
    }

    /// Writes `text` to `relativePath` under the project root (folders created), mode 0644.
    @discardableResult
    func write(_ relativePath: String, _ text: String) throws -> String {
        try write(relativePath, Data(text.utf8))
    }

    @discardableResult
    func write(_ relativePath: String, _ data: Data) throws -> String {
        let path = root + "/" + relativePath
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try data.write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        return path
    }

    /// Runs mpm-run with this project's folders and the project as the working directory.
    @discardableResult
    func mpmRun(_ args: [String], environment: [String: String] = [:], stdin: Data? = nil) throws -> MPMRun.Output {
        try MPMRun.run(args, cwd: root, environment: environment, stdin: stdin)
    }
}

enum Repository {
    /// The package root: two levels above this file's folder.
    static let root: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<4 { url.deleteLastPathComponent() }
        return url.path
    }()
}
