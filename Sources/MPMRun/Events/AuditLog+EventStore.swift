#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

extension AuditLog: EventStore {
    public func activity(of agent: String, within seconds: Int) throws -> AuditActivity {
        try AuditLog.recentActivity(path: path, agent: agent, within: seconds, now: AuditTime.now())
    }
}
