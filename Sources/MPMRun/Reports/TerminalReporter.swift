/// `mpm-run <agent>`: the agent's output on mpm-run's stdout and stderr as it arrives, and
/// each denial and incident as one line on stderr when it happens.
public final class TerminalReporter: RunReporter {
    let terminal = TerminalSink()

    public init() {}

    public func deliver(_ stream: OutputStreamKind, _ bytes: UnsafeRawBufferPointer) {
        terminal.deliver(stream, bytes)
    }

    public func finish() { terminal.finish() }

    public func started(runID: String, agent: String, pid: Int32) {}

    public func event(_ record: JSONValue) {
        switch record["type"]?.stringValue {
        case Event.Kind.permissionDenied.rawValue:
            guard record["plane"]?.stringValue != "launch" else { return }  // launch denials are the refusal's line
            let pid = record["pid"]?.intValue.map { " (pid \($0))" } ?? ""
            Console.err("mpm-run: denied: \(record["reason"]?.stringValue ?? "")\(pid)")
        case Event.Kind.incident.rawValue:
            let kind = record["kind"]?.stringValue ?? "incident"
            Console.err("mpm-run: \(kind): \(record["detail"]?.stringValue ?? ""); \(record["action"]?.stringValue ?? "")")
        default:
            break
        }
    }

    public func exited(runID: String, outcome: RunOutcome, outputDir: String?) {}
}
