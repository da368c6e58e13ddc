import Foundation
import Testing

/// A real `mpm-run` started in the background, as a fault-injection or load test needs it:
/// its pid to signal, its stdin to write, its stdout and stderr collected as they come.
final class Spawned: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let condition = NSCondition()
    private var out = Data()
    private var err = Data()
    private var open = 2
    /// Set by `closeStdout`: the stdout reader closes its end and stops.
    private var stdoutClosing = false
    /// The stdout reader has stopped (EOF, or closed on purpose).
    private var stdoutClosed = false

    /// Starts `mpm-run args` in `project` as its supervisor. `prefix` runs first (for example
    /// `prlimit --nofile=8:8 --`); `environment` adds to PATH and the project's audit log.
    init(_ project: SandboxProject, _ args: [String], environment: [String: String] = [:], prefix: [String] = []) throws {
        let asNobody = Supervisor.isRoot && project.supervisor == .nobody
        var argv = prefix
        if asNobody { argv += ["/usr/bin/setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--"] }
        argv += [MPMRun.binary] + args
        process.executableURL = URL(fileURLWithPath: argv[0])
        process.arguments = Array(argv.dropFirst())
        process.currentDirectoryURL = URL(fileURLWithPath: project.root)
        process.environment = ["PATH": "/usr/local/bin:/usr/bin:/bin", "MPM_AUDIT_LOG": project.auditLog]
            .merging(environment) { $1 }
        // Raw pipes read with read(2): FileHandle.availableData traps on EINTR, and a read
        // end must really close (no thread blocked in read on it) for the writer to get EPIPE.
        var o: [Int32] = [-1, -1], e: [Int32] = [-1, -1]
        guard pipe(&o) == 0, pipe(&e) == 0 else { throw POSIXError(.EMFILE) }
        for fd in o + e { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        process.standardInput = input
        process.standardOutput = FileHandle(fileDescriptor: o[1], closeOnDealloc: false)
        process.standardError = FileHandle(fileDescriptor: e[1], closeOnDealloc: false)
        do { try process.run() } catch {
            for fd in o + e { close(fd) }
            throw error
        }
        close(o[1])
        close(e[1])
        for (fd, isOut) in [(o[0], true), (e[0], false)] {
            Thread.detachNewThread { [self] in readLoop(fd, isOut) }
        }
    }

    private func readLoop(_ fd: Int32, _ isOut: Bool) {
        var buffer = [UInt8](repeating: 0, count: 65536)
        while true {
            if isOut {
                condition.lock()
                let closing = stdoutClosing
                condition.unlock()
                if closing {
                    close(fd)
                    condition.lock(); stdoutClosed = true; open -= 1; condition.broadcast(); condition.unlock()
                    return
                }
            }
            var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if Glibc.poll(&p, 1, 50) == 0 { continue }
            let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if n < 0 && (errno == EINTR || errno == EAGAIN) { continue }
            condition.lock()
            if n <= 0 {
                close(fd)
                open -= 1
                if isOut { stdoutClosed = true }
                condition.broadcast()
                condition.unlock()
                return
            }
            if isOut { out.append(contentsOf: buffer[..<n]) } else { err.append(contentsOf: buffer[..<n]) }
            condition.broadcast()
            condition.unlock()
        }
    }

    deinit {
        if process.isRunning { kill(process.processIdentifier, SIGKILL) }
    }

    var pid: Int32 { process.processIdentifier }

    func send(_ line: String) {
        try? input.fileHandleForWriting.write(contentsOf: Data((line + "\n").utf8))
    }

    func closeInput() { try? input.fileHandleForWriting.close() }

    /// Closes the reading end of mpm-run's stdout (returns once it is closed): mpm-run's next
    /// write fails with EPIPE.
    func closeStdout() {
        condition.lock()
        stdoutClosing = true
        while !stdoutClosed && open > 0 { condition.wait() }
        condition.unlock()
    }

    var stdout: Data { condition.lock(); defer { condition.unlock() }; return out }
    var stdoutText: String { String(decoding: stdout, as: UTF8.self) }
    var stderr: String { condition.lock(); defer { condition.unlock() }; return String(decoding: err, as: UTF8.self) }
    var stderrLines: [String] { stderr.split(separator: "\n").map(String.init) }

    /// Waits until `predicate` holds for what stdout has so far.
    @discardableResult
    func waitForStdout(timeout: TimeInterval = 30, _ predicate: (String) -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while !predicate(String(decoding: out, as: UTF8.self)) {
            if open == 0 || stdoutClosed || !condition.wait(until: deadline) {
                return predicate(String(decoding: out, as: UTF8.self))
            }
        }
        return true
    }

    /// Waits for mpm-run to exit (and for its pipes to close); nil when it did not in time,
    /// -N when it died of signal N.
    func wait(timeout: TimeInterval = 60) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        guard !process.isRunning else { return nil }
        condition.lock()
        let end = Date().addingTimeInterval(5)
        while open > 0 && condition.wait(until: end) {}
        condition.unlock()
        return process.terminationReason == .uncaughtSignal ? -process.terminationStatus : process.terminationStatus
    }

    /// Runs to the end and returns (status, stdout, stderr); status is -N when mpm-run itself
    /// died of signal N (a crash, unless the test sent it).
    func finish(timeout: TimeInterval = 60) -> (status: Int32, stdout: String, stderr: String) {
        let status = wait(timeout: timeout) ?? -999
        return (status, stdoutText, stderr)
    }
}

/// Polls `body` every 10 ms until it returns a value or `timeout` passes.
func eventually<T>(timeout: TimeInterval = 10, _ body: () -> T?) -> T? {
    let deadline = Date().addingTimeInterval(timeout)
    while true {
        if let v = body() { return v }
        if Date() >= deadline { return nil }
        usleep(10_000)
    }
}

/// Processes whose command line contains `text` (zombies have none, so they do not count).
func pids(withCommandLineContaining text: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter { pid in
        guard let data = FileManager.default.contents(atPath: "/proc/\(pid)/cmdline") else { return false }
        return String(decoding: data, as: UTF8.self).contains(text)
    }
}

/// A name of at most 15 characters (a comm fits it whole) that no other test uses.
func uniqueMarker(_ prefix: String) -> String {
    prefix + String(UInt32.random(in: 0...UInt32.max) % 1_000_000_000)
}

extension SandboxProject {
    /// A sandbox folder (TMPDIR) of this test's own, writable by both supervisors: a killed
    /// run's sandbox is swept by the next mpm-run that starts, and other tests' mpm-runs
    /// running in parallel must not be the ones that do it.
    /// Beside the project, not in it: the profile's read_paths (".") must not hold the
    /// sandboxes' folder, or an unprivileged mpm-run refuses the run. Removed with the project.
    func privateTMPDIR() throws -> String {
        let tmp = root + ".tmp"
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
        chmod(tmp, 0o777)
        return tmp
    }

    /// The run folders in `tmp`/mpm-run.
    func sandboxes(in tmp: String) -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: tmp + "/mpm-run")) ?? []).sorted()
    }

    /// `mpm-run audit verify` on this project's log: (status, its one line).
    func verifyAudit(_ log: String? = nil) throws -> (status: Int32, text: String) {
        let r = try MPMRun.run(["audit", "verify", "--audit-log", log ?? auditLog], cwd: root)
        return (r.status, (r.stdout + r.stderr).trimmingCharacters(in: .whitespacesAndNewlines))
    }

    /// The records of run `runID`, in order.
    func records(ofRun runID: String) throws -> [[String: Any]] {
        try auditRecords().filter { $0["run_id"] as? String == runID }
    }

    /// The id of the run whose run_started argv contains `marker`.
    func runID(withArgument marker: String) throws -> String? {
        try audit("run_started").first { (($0["argv"] as? [String]) ?? []).contains(marker) }?["run_id"] as? String
    }
}

/// A crash: mpm-run died of a signal (status -N from `Spawned.wait`), or printed a Swift
/// runtime trap or a backtrace.
func looksLikeACrash(_ status: Int32, _ stderr: String) -> Bool {
    status < 0 || stderr.contains("Fatal error") || stderr.contains("Stack dump") || stderr.contains("backtrace")
        || stderr.contains("Current stack trace") || stderr.contains("💣")
}

/// Runs `mpm-run args` in `project` to its end (through `Spawned`, which tells a crash from
/// an exit status).
func runToEnd(_ project: SandboxProject, _ args: [String], environment: [String: String] = [:],
              prefix: [String] = [], timeout: TimeInterval = 60) throws -> (status: Int32, stdout: String, stderr: String) {
    let s = try Spawned(project, args, environment: environment, prefix: prefix)
    s.closeInput()
    return s.finish(timeout: timeout)
}

/// Runs `tool` with `args`, its output discarded; its exit status, or -1 if it did not start.
@discardableResult
func runTool(_ tool: String, _ args: [String]) -> Int32 {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: tool)
    p.arguments = args
    p.standardOutput = FileHandle.nullDevice
    p.standardError = FileHandle.nullDevice
    guard (try? p.run()) != nil else { return -1 }
    p.waitUntilExit()
    return p.terminationStatus
}
