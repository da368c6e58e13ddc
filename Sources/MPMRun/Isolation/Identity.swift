import CLauncher
import Glibc

/// Who the agent runs as. Never root: as root, mpm-run drops the agent to an unprivileged
/// uid of the run's own; as anyone else, the agent keeps that user's uid. Either way the agent starts in a
/// user namespace of its own, which is what makes RLIMIT_NPROC count only the run's
/// processes, and lets the launcher empty the bounding set even without root.
public struct Identity: Sendable {
    /// When mpm-run runs as root, each run gets a uid and gid of its own from this range:
    /// no other process of the host has it, so none can read the agent's /proc (its
    /// environment, secrets included) or ptrace it, and runs cannot reach each other's files.
    /// (A shared uid such as nobody's would let any nobody process do all of that.)
    public static let agentIDRange: ClosedRange<UInt32> = 0x7FFE_0000...0x7FFE_FFFF

    static func freshAgentID() -> uid_t {
        var r: UInt32 = 0
        withUnsafeMutableBytes(of: &r) { mpm_random($0.baseAddress, 4) }
        return agentIDRange.lowerBound + r % UInt32(agentIDRange.count)
    }

    var mode: mpm_identity
    public var uid: uid_t
    public var gid: gid_t
    var uidMap: String { "\(uid) \(uid) 1\n" }
    var gidMap: String { "\(gid) \(gid) 1\n" }

    public var isRootSupervisor: Bool { mode != MPM_IDENTITY_USERNS }
    /// Every mode but keeping capabilities enters a user namespace as an unprivileged uid.
    public var needsUserNamespace: Bool { mode != MPM_IDENTITY_ROOT_KEEP_CAPS }

    public struct Refusal: Error, CustomStringConvertible {
        public var description: String
    }

    public static func plan(keepingCapabilities caps: [String]) throws(Refusal) -> Identity {
        if geteuid() == 0 {
            let mode = caps.isEmpty ? MPM_IDENTITY_ROOT_THEN_USERNS : MPM_IDENTITY_ROOT_KEEP_CAPS
            let id = freshAgentID()
            return Identity(mode: mode, uid: id, gid: id)
        }
        guard caps.isEmpty else {
            throw Refusal(description: "the profile keeps capabilities (\(caps.joined(separator: ", "))) "
                + "that only a root supervisor can hand on: run mpm-run as root, or empty the profile's capabilities")
        }
        return Identity(mode: MPM_IDENTITY_USERNS, uid: geteuid(), gid: getegid())
    }
}
