import Foundation
import Testing

/// A real `mpm-run serve` driven through pipes: requests written as lines, every stdout line
/// parsed (a line that is not one JSON object is recorded as a framing failure).
final class ServeSession: @unchecked Sendable {
    let process = Process()
    private let input = Pipe()
    private let output = Pipe()
    private let errors = Pipe()
    private let condition = NSCondition()
    private var lines: [[String: Any]] = []
    /// Array lines (batch answers), kept apart.
    private var batches: [[Any]] = []
    private(set) var badLines: [String] = []
    private(set) var stdoutBytes = 0
    private var paused = false
    private var eof = false
    private var stderrData = Data()
    private var stderrDone = false
    private var nextID = 1

    /// Starts serve in `project` as `supervisor`, with `extra` options (and `environment`
    /// added to its own).
    init(_ project: SandboxProject, _ extra: [String] = [], environment: [String: String] = [:]) throws {
        let asNobody = Supervisor.isRoot && project.supervisor == .nobody
        process.executableURL = URL(fileURLWithPath: asNobody ? "/usr/bin/setpriv" : MPMRun.binary)
        process.arguments = (asNobody ? ["--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all", "--", MPMRun.binary] : [])
            + ["serve"] + extra
        process.currentDirectoryURL = URL(fileURLWithPath: project.root)
        process.environment = ["PATH": "/usr/bin:/bin", "MPM_AUDIT_LOG": project.auditLog].merging(environment) { $1 }
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        let reader = output.fileHandleForReading
        Thread.detachNewThread { [self] in readLoop(reader) }
        let errReader = errors.fileHandleForReading
        Thread.detachNewThread { [self] in
            let data = errReader.readDataToEndOfFile()
            condition.lock(); stderrData = data; stderrDone = true; condition.broadcast(); condition.unlock()
        }
    }

    deinit {
        if process.isRunning { process.terminate() }
    }

    private func readLoop(_ handle: FileHandle) {
        var pending = Data()
        while true {
            condition.lock()
            while paused { condition.wait() }
            condition.unlock()
            let chunk = handle.availableData
            if chunk.isEmpty { break }
            pending.append(chunk)
            var parsed: [[String: Any]] = []
            var parsedBatches: [[Any]] = []
            var bad: [String] = []
            while let nl = pending.firstIndex(of: 0x0A) {
                let line = pending[pending.startIndex..<nl]
                pending = Data(pending[(nl + 1)...])
                let object = try? JSONSerialization.jsonObject(with: line)
                if let o = object as? [String: Any] { parsed.append(o) }
                else if let a = object as? [Any] { parsedBatches.append(a) }
                else { bad.append(String(decoding: line.prefix(200), as: UTF8.self)) }
            }
            condition.lock()
            stdoutBytes += chunk.count
            lines += parsed
            batches += parsedBatches
            badLines += bad
            condition.broadcast()
            condition.unlock()
        }
        condition.lock()
        if !pending.isEmpty { badLines.append("unterminated: " + String(decoding: pending.prefix(200), as: UTF8.self)) }
        eof = true
        condition.broadcast()
        condition.unlock()
    }

    /// Stops reading stdout (the pipe fills, serve must hold its agents back) until `resume`.
    func pause() { condition.lock(); paused = true; condition.unlock() }
    func resume() { condition.lock(); paused = false; condition.broadcast(); condition.unlock() }

    func send(raw: String) {
        input.fileHandleForWriting.write(Data((raw + "\n").utf8))
    }

    func send(_ object: [String: Any]) {
        send(raw: String(decoding: try! JSONSerialization.data(withJSONObject: object), as: UTF8.self))
    }

    /// Sends a request and returns its id.
    @discardableResult
    func request(_ method: String, _ params: [String: Any] = [:]) -> Int {
        condition.lock()
        let id = nextID
        nextID += 1
        condition.unlock()
        send(["jsonrpc": "2.0", "id": id, "method": method, "params": params])
        return id
    }

    /// Sends a request and waits for its answer.
    func call(_ method: String, _ params: [String: Any] = [:], timeout: TimeInterval = 30) throws -> [String: Any] {
        let id = request(method, params)
        return try #require(waitFor(timeout: timeout) { ($0["id"] as? Int) == id }, "no answer to \(method)")
    }

    /// Closes serve's stdin (EOF).
    func closeInput() { try? input.fileHandleForWriting.close() }

    /// The first line matching `predicate`, waiting up to `timeout`. The predicate runs under
    /// the session's lock: it must not call back into the session.
    func waitFor(timeout: TimeInterval = 30, _ predicate: ([String: Any]) -> Bool) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while true {
            if let line = lines.first(where: predicate) { return line }
            if eof || !condition.wait(until: deadline) { return lines.first(where: predicate) }
        }
    }

    /// The object line number `index` (from 0), waiting up to `timeout` for it.
    func line(at index: Int, timeout: TimeInterval = 30) -> [String: Any]? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while lines.count <= index {
            if eof || !condition.wait(until: deadline) { break }
        }
        return lines.count > index ? lines[index] : nil
    }

    /// Every line so far.
    var received: [[String: Any]] {
        condition.lock(); defer { condition.unlock() }
        return lines
    }

    var batchAnswers: [[Any]] {
        condition.lock(); defer { condition.unlock() }
        return batches
    }

    /// Notifications `method` of one run.
    func notifications(_ method: String, run runID: String) -> [[String: Any]] {
        received.filter { $0["method"] as? String == method && ($0["params"] as? [String: Any])?["run_id"] as? String == runID }
    }

    /// Waits for the run's `run/exited` and returns its params.
    func exited(_ runID: String, timeout: TimeInterval = 60) -> [String: Any]? {
        waitFor(timeout: timeout) {
            $0["method"] as? String == "run/exited" && ($0["params"] as? [String: Any])?["run_id"] as? String == runID
        }?["params"] as? [String: Any]
    }

    /// The run's stdout bytes, decoded from its run/output notifications.
    func stdout(of runID: String) -> Data {
        var data = Data()
        for n in notifications("run/output", run: runID) {
            let p = n["params"] as! [String: Any]
            guard p["stream"] as? String == "stdout", let text = p["data"] as? String else { continue }
            if p["encoding"] as? String == "base64" {
                data.append(Data(base64Encoded: text) ?? Data("<bad base64>".utf8))
            } else {
                data.append(Data(text.utf8))
            }
        }
        return data
    }

    /// Waits for serve to exit and returns its status and stderr.
    func waitForExit(timeout: TimeInterval = 60) -> (status: Int32, stderr: String)? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        guard !process.isRunning else { return nil }
        condition.lock()
        let end = Date().addingTimeInterval(5)
        // Both pipes to their end: stderr's reader may finish after stdout's.
        while !(eof && stderrDone) && condition.wait(until: end) {}
        defer { condition.unlock() }
        return (process.terminationStatus, String(decoding: stderrData, as: UTF8.self))
    }

    /// serve's resident memory (VmRSS), in KiB.
    var residentKB: Int {
        let status = (try? String(contentsOfFile: "/proc/\(process.processIdentifier)/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "") ?? 0
    }
}

/// The bytes `mpm-probe random-out <seed> <count>` prints.
func probeRandomBytes(seed: UInt64, count: Int) -> Data {
    var x = seed | 1
    var out = Data(capacity: count)
    var i = 0
    while i < count {
        x ^= x << 13; x ^= x >> 7; x ^= x << 17
        for k in 0..<8 where i + k < count { out.append(UInt8(truncatingIfNeeded: x >> (8 * UInt64(k)))) }
        i += 8
    }
    return out
}

/// Processes whose name (comm) is `name`.
func processes(named name: String) -> [Int32] {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap(Int32.init).filter {
        (try? String(contentsOfFile: "/proc/\($0)/comm", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines) == name
    }
}
