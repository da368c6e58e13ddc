#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mpm-run <agent> --json`: the same objects as serve's notifications (CONTRACT.md section 7),
/// one JSON-RPC notification per line on stdout and nothing else there.
public final class JSONLinesReporter: RunReporter {
    private var currentRun: String?
    /// Bytes of an unfinished UTF-8 sequence at the end of the last chunk, per stream: held
    /// back so that text stays text instead of turning into base64 at every chunk edge.
    private var carry: [OutputStreamKind: [UInt8]] = [:]
    let out = TerminalSink()

    public init() {}

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

    public func exited(runID: String, outcome: RunOutcome, outputDir: String?) {
        emit("run/exited", [
            "run_id": .string(runID),
            "exit_code": outcome.exitCode.map { .int(Int($0)) } ?? .null,
            "signal": outcome.signal.map { .int(Int($0)) } ?? .null,
            "reason": .string(outcome.reason.rawValue),
            "duration_ms": .int(outcome.durationMS),
            "output_dir": outputDir.map(JSONValue.string) ?? .null,
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
        let line = JSONValue.object(["jsonrpc": "2.0", "method": .string(method), "params": .object(params)]).compactText + "\n"
        var bytes = Array(line.utf8)
        bytes.withUnsafeMutableBytes { out.deliver(.stdout, UnsafeRawBufferPointer($0)) }
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
