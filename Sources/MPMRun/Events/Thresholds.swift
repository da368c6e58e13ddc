#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// Section 5's thresholds across runs, read from the audit log so that they hold across
/// separate mpm-run invocations: more than `max_launches_per_minute` launches of one agent in
/// 60 s are refused (`rate_limit`); `quarantine_after_incidents` runs ending in an incident
/// within `quarantine_window_seconds` quarantine the agent for `quarantine_seconds`.
enum Thresholds {
    /// The refusal for a launch now, or nil. A log that cannot be read refuses too: without
    /// it, a quarantine could not be seen.
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
        return nil
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
