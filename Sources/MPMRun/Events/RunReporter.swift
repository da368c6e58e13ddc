/// Who hears about a run as it happens: the terminal, `--json` lines, or serve's
/// notifications. Every event reaches a reporter only after the audit log has it.
public protocol RunReporter: OutputSink {
    func started(runID: String, agent: String, pid: Int32)
    /// An audit record, as written to the log.
    func event(_ record: JSONValue)
    func exited(runID: String, outcome: RunOutcome, outputDir: String?)
    /// A run whose start was announced but whose agent never ran its program (its setup
    /// failed before execve): its end, with why. The terminal hears of it as an error line.
    func failedToStart(runID: String, status: Int32, error: String, durationMS: Int)
}

extension RunReporter {
    public func failedToStart(runID: String, status: Int32, error: String, durationMS: Int) {}
}

/// Where events are written before anyone is told: the audit log. It is also the memory
/// that rate limits and quarantines are read from, so they hold across separate invocations.
public protocol EventStore: AnyObject {
    /// Appends the event and returns the record as written (with seq, ts, prev).
    func append(_ event: Event) throws -> JSONValue
    /// The agent's launches and incidents in the last `seconds`, and any quarantine in force.
    func activity(of agent: String, within seconds: Int) throws -> AuditActivity
}

/// The one path an event takes: into the store, then to the reporter. A store that fails
/// ends the run (no unaudited run), so `record` says whether the run may go on.
public final class EventRecorder {
    let store: EventStore
    let reporter: RunReporter
    /// Exact secret values of the run, redacted from every event like the scanner's patterns.
    public var secretValues: [String] = []
    public private(set) var failure: String?
    /// Incidents recorded so far (a run that had one may bring its agent to quarantine).
    public private(set) var incidents = 0

    public init(store: EventStore, reporter: RunReporter) {
        self.store = store
        self.reporter = reporter
    }

    /// `announce` runs between writing and reporting the record: for run_started, so that
    /// run/started is the first thing a reader sees, yet only after the log has it.
    @discardableResult
    public func record(_ event: Event, announce: (() -> Void)? = nil) -> Bool {
        guard failure == nil else { return false }
        do {
            var event = event
            event.fields = event.fields.mapValues { Self.redacting($0, literals: secretValues) }
            let record = try store.append(event)
            if event.kind == .incident { incidents += 1 }
            announce?()
            reporter.event(record)
            return true
        } catch {
            failure = "the audit log could not be written: \(error)"
            return false
        }
    }
}

extension EventRecorder {
    /// `value` with every secret in its strings replaced by `[REDACTED:<kind>]`: the log
    /// keeps no secret an agent passed in its arguments or a path, for example.
    static func redacting(_ value: JSONValue, literals: [String]) -> JSONValue {
        switch value {
        case .string(let s):
            let redactor = OutputRedactor(literals: literals)
            var out: [UInt8] = []
            let bytes = Array(s.utf8)
            bytes.withUnsafeBytes { out.append(contentsOf: redactor.feed($0, now: 0)) }
            out.append(contentsOf: redactor.flush())
            return redactor.redactions == 0 ? value : .string(String(decoding: out, as: UTF8.self))
        case .array(let a): return .array(a.map { redacting($0, literals: literals) })
        case .object(let o): return .object(o.mapValues { redacting($0, literals: literals) })
        default: return value
        }
    }
}
