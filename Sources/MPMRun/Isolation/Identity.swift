import CLauncher
import Glibc

/// Who the agent runs as. Never root: as root, mpm-run drops the agent to an unprivileged
/// uid; as anyone else, the agent keeps that user's uid. Either way the agent starts in a
/// user namespace of its own, which is what makes RLIMIT_NPROC count only the run's
/// processes, and lets the launcher empty the bounding set even without root.
public struct Identity: Sendable {
    /// The uid and gid an agent gets when mpm-run runs as root: nobody/nogroup.
    public static let agentID: (uid: uid_t, gid: gid_t) = (65534, 65534)

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
            return Identity(mode: mode, uid: agentID.uid, gid: agentID.gid)
        }
        guard caps.isEmpty else {
            throw Refusal(description: "the profile keeps capabilities (\(caps.joined(separator: ", "))) "
                + "that only a root supervisor can hand on: run mpm-run as root, or empty the profile's capabilities")
        }
        return Identity(mode: MPM_IDENTITY_USERNS, uid: geteuid(), gid: getegid())
    }
}
