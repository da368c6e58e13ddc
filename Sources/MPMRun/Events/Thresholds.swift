#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Section 5's thresholds across runs, read from the audit log so that they hold across
/// separate mpm-run invocations: more than `max_launches_per_minute` launches of one agent in
/// 60 s are refused (`rate_limit`); `quarantine_after_incidents` runs ending in an incident
/// within `quarantine_window_seconds` quarantine the agent for `quarantine_seconds`. A
/// quarantine ends with a `released` record: written by the first launch that passes these
/// checks after it has expired (`by: "expiry"`), or by `mpm-run audit release` (`by:
/// "administrator"`). Incidents before a release no longer count towards the next quarantine.
enum Thresholds {
    /// The refusal for a launch now, or nil. A log that cannot be read refuses too: without
    /// it, a quarantine could not be seen. When the launch may go ahead and the agent's
    /// quarantine has expired since it last ran, the `released` record is written here, before
    /// the run's `run_started`; a log that cannot take it refuses the launch.
    static func refusal(agent: String, thresholds t: IncidentThresholds, store: EventStore,
                        runID: String) -> Runner.Refusal? {
        let activity: AuditActivity
        do {
            // Far enough back to see a quarantine that is still in force (it lasts quarantine_seconds).
            activity = try store.activity(of: agent, within: max(60, t.quarantineWindowSeconds, t.quarantineSeconds))
        } catch {
            return Runner.Refusal(description: "cannot read the audit log to check \(agent)'s rate limit and quarantine: \(error)")
        }
        let now = AuditTime.now()
        if let until = activity.quarantinedUntil, until > now {
            let detail = "\(agent) is quarantined until \(AuditTime.format(until)) after repeated incidents"
            return Runner.Refusal(description: detail, event: .incident(runID: runID, agentID: agent, kind: "quarantined",
                                                                     detail: detail, action: "refused"))
        }
        let recent = activity.launches(within: 60, now: now)
        if recent >= t.maxLaunchesPerMinute {
            let detail = "\(agent) was launched \(recent) times in the last 60 s (at most \(t.maxLaunchesPerMinute))"
            return Runner.Refusal(description: detail, event: .incident(runID: runID, agentID: agent, kind: "rate_limit",
                                                                     detail: detail, action: "refused"))
        }
        // A quarantine that ended between the read and now is ended too (its release is due now:
        // this launch's run_started will be after its until).
        if let until = activity.endedQuarantine ?? activity.quarantinedUntil {
            do {
                _ = try store.append(released(agent: agent, runID: runID, until: until, by: .expiry))
            } catch {
                return Runner.Refusal(description: "cannot record the end of \(agent)'s quarantine: the audit log could not be written: \(error)")
            }
        }
        return nil
    }

    /// Who ended a quarantine.
    enum Releaser {
        /// It expired; recorded by the next launch.
        case expiry
        /// `mpm-run audit release`, by the user with this uid.
        case administrator(uid: UInt32)
    }

    /// The `released` record of a quarantine that was to last `until`.
    static func released(agent: String, runID: String?, until: Date, by releaser: Releaser) -> Event {
        let end = AuditTime.format(until)
        var fields: [String: JSONValue] = ["until": .string(end)]
        switch releaser {
        case .expiry:
            fields["by"] = "expiry"
            fields["detail"] = .string("\(agent)'s quarantine ended at \(end)")
        case .administrator(let uid):
            fields["by"] = "administrator"
            fields["uid"] = .int(Int(uid))
            fields["detail"] = .string("\(agent)'s quarantine until \(end) lifted by an administrator (uid \(uid))")
        }
        return Event(.released, runID: runID, agentID: agent, fields)
    }

    /// After a run that ended in an incident: the quarantine it brings the agent to, or nil.
    static func quarantine(agent: String, runID: String, thresholds t: IncidentThresholds, store: EventStore) -> Event? {
        guard let activity = try? store.activity(of: agent, within: t.quarantineWindowSeconds) else { return nil }
        let now = AuditTime.now()
        let runs = activity.runsEndingInIncident(within: t.quarantineWindowSeconds, now: now)
        guard runs >= t.quarantineAfterIncidents, t.quarantineSeconds > 0 else { return nil }
        let until = now.addingTimeInterval(Double(t.quarantineSeconds))
        var event = Event.incident(
            runID: runID, agentID: agent, kind: "quarantined",
            detail: "\(runs) runs ended in an incident within \(t.quarantineWindowSeconds) s; launches refused until \(AuditTime.format(until))",
            action: "quarantined")
        event.fields["until"] = .string(AuditTime.format(until))
        return event
    }
}

extension AuditLog {
    /// `mpm-run audit release <agent>`: lifts the agent's quarantine before it expires by
    /// appending a `released` record (`by: "administrator"`, `uid`). Returns when the
    /// quarantine would have ended, or nil (and writes nothing) when the agent is not
    /// quarantined. A missing log throws (`no audit log at ...`): a mistyped path is not
    /// taken for an agent that is free to run.
    public static func releaseQuarantine(path: String, agent: String, uid: UInt32) throws(AuditError) -> Date? {
        guard let until = try quarantinedUntil(path: path, agent: agent, now: AuditTime.now()) else { return nil }
        try AuditLog(path: path).append(Thresholds.released(agent: agent, runID: nil, until: until, by: .administrator(uid: uid)))
        return until
    }
}
