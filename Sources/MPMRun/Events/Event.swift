/// Something that happened to a run, as CONTRACT.md section 5 names it. Each event is written
/// to the audit log before anyone is told of it (the CLI's --json stream, serve's
/// notifications).
public struct Event: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable, CaseIterable {
        case runStarted = "run_started"
        case runExited = "run_exited"
        case permissionDenied = "permission_denied"
        case incident
        case policyRejected = "policy_rejected"
        case agentRejected = "agent_rejected"
        case released

        /// Whether the audit log fsyncs a record of this kind as it writes it: all but a
        /// run's routine start and exit, which a launch would otherwise wait on (AuditLog).
        var syncedAtOnce: Bool { self != .runStarted && self != .runExited }
    }

    public var kind: Kind
    public var runID: String?
    public var agentID: String?
    /// The event's own fields (section 5), e.g. permission, plane, syscall, pid, reason.
    public var fields: [String: JSONValue]

    public init(_ kind: Kind, runID: String?, agentID: String?, _ fields: [String: JSONValue] = [:]) {
        self.kind = kind
        self.runID = runID
        self.agentID = agentID
        self.fields = fields
    }

    /// permission_denied: `plane` is syscall, file, network or launch.
    public static func permissionDenied(runID: String?, agentID: String?, permission: String, plane: String,
                                        syscall: String? = nil, path: String? = nil, pid: Int? = nil,
                                        reason: String) -> Event {
        var f: [String: JSONValue] = ["permission": .string(permission), "plane": .string(plane), "reason": .string(reason)]
        f["syscall"] = syscall.map(JSONValue.string) ?? .null
        f["path"] = path.map(JSONValue.string) ?? .null
        f["pid"] = pid.map(JSONValue.int) ?? .null
        return Event(.permissionDenied, runID: runID, agentID: agentID, f)
    }

    /// incident: kind is one of section 5's (timeout, memory_limit, ...); action killed,
    /// refused, redacted or quarantined.
    public static func incident(runID: String?, agentID: String?, kind: String, detail: String, action: String) -> Event {
        Event(.incident, runID: runID, agentID: agentID,
              ["kind": .string(kind), "detail": .string(detail), "action": .string(action)])
    }
}
