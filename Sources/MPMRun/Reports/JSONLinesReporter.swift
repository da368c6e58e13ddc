#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Where a run's JSON lines go: stdout for `--json`, serve's shared output for serve.
public protocol JSONLineOutput: AnyObject {
    /// One complete line, newline included.
    func write(line: [UInt8])
    /// See `OutputSink.backlogged`.
    var backlogged: Bool { get }
    var resumeFD: Int32 { get }
}

/// `mpm-run <agent> --json` and each run of `serve`: the notifications of CONTRACT.md
/// sections 6 and 7, one JSON-RPC notification per line.
public final class JSONLinesReporter: RunReporter {
    private var currentRun: String?
    /// Bytes of an unfinished UTF-8 sequence at the end of the last chunk, per stream: held
    /// back so that text stays text instead of turning into base64 at every chunk edge.
    private var carry: [OutputStreamKind: [UInt8]] = [:]
    let output: JSONLineOutput

    /// Lines to mpm-run's stdout.
    public convenience init() { self.init(output: StdoutLines()) }

    public init(output: JSONLineOutput) { self.output = output }

    public var backlogged: Bool { output.backlogged }
    public var resumeFD: Int32 { output.resumeFD }

    public func started(runID: String, agent: String, pid: Int32) {
        currentRun = runID
        emit("run/started", ["run_id": .string(runID), "agent": .string(agent), "pid": .int(Int(pid))])
    }

    public func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {
        var chunk = carry[stream] ?? []
        chunk.append(contentsOf: bytes)
        let cut = Self.completeUTF8Prefix(chunk)
        carry[stream] = cut < chunk.count ? Array(chunk[cut...]) : nil
        if cut > 0 { emitOutput(stream, chunk[..<cut]) }
    }

    public func finish() {
        for (stream, rest) in carry where !rest.isEmpty { emitOutput(stream, rest[...]) }
        carry = [:]
    }

    public func event(_ record: JSONValue) {
        emit("run/event", ["run_id": record["run_id"] ?? .null, "event": record])
    }

    /// Called once, just before the `run/exited` line is queued (serve frees the run's slot
    /// there, so that an orchestrator that starts a run on seeing one end is never told busy).
    public var beforeExited: (() -> Void)?

    private func willExit() {
        let hook = beforeExited
        beforeExited = nil
        hook?()
    }

    public func exited(runID: String, outcome: RunOutcome, outputDir: String?) {
        willExit()
        emit("run/exited", [
            "run_id": .string(runID),
            "exit_code": outcome.exitCode.map { .int(Int($0)) } ?? .null,
            "signal": outcome.signal.map { .int(Int($0)) } ?? .null,
            "reason": .string(outcome.reason.rawValue),
            "duration_ms": .int(outcome.durationMS),
            "output_dir": outputDir.map(JSONValue.string) ?? .null,
        ])
    }

    public func failedToStart(runID: String, status: Int32, error: String, durationMS: Int) {
        notStarted(runID: runID, reason: .denied, status: status, error: error, durationMS: durationMS)
    }

    /// serve's `run/exited` for a run that was accepted but never launched: the sandbox
    /// could not be made, its input was refused, or it was cancelled first.
    public func notStarted(runID: String, reason: RunOutcome.Reason, status: Int32, error: String, durationMS: Int) {
        willExit()
        emit("run/exited", [
            "run_id": .string(runID),
            "exit_code": reason == .cancelled ? .null : .int(Int(status)),
            "signal": .null,
            "reason": .string(reason.rawValue),
            "duration_ms": .int(durationMS),
            "output_dir": .null,
            "error": .string(error),
        ])
    }

    private func emitOutput(_ stream: OutputStreamKind, _ bytes: ArraySlice<UInt8>) {
        var params: [String: JSONValue] = ["run_id": currentRun.map(JSONValue.string) ?? .null, "stream": .string(stream.rawValue)]
        if let text = String(validating: bytes, as: UTF8.self) {
            params["data"] = .string(text)
        } else {
            params["data"] = .string(Data(bytes).base64EncodedString())
            params["encoding"] = "base64"
        }
        emit("run/output", params)
    }

    private func emit(_ method: String, _ params: [String: JSONValue]) {
        output.write(line: JSONRPC.line(JSONRPC.notification(method, params)))
    }

    /// The length of the longest prefix that does not end inside a UTF-8 sequence.
    static func completeUTF8Prefix(_ bytes: [UInt8]) -> Int {
        var i = bytes.count
        var back = 0
        while i > 0 && back < 4 {
            let b = bytes[i - 1]
            if b & 0xC0 != 0x80 {
                // A lead byte: is its sequence complete?
                let need = b >= 0xF0 ? 4 : b >= 0xE0 ? 3 : b >= 0xC0 ? 2 : 1
                return back + 1 >= need ? bytes.count : i - 1
            }
            i -= 1
            back += 1
        }
        return bytes.count
    }
}

/// `--json`'s lines: straight to stdout, blocking (a slow reader slows the agent).
final class StdoutLines: JSONLineOutput {
    let out = TerminalSink()
    func write(line: [UInt8]) { line.withUnsafeBytes { out.deliver(.stdout, $0) } }
    var backlogged: Bool { false }
    var resumeFD: Int32 { -1 }
}
