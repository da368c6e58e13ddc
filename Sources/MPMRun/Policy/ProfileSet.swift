/// Every profile in `profiles/`, and the one rule that maps an agent type to a profile.
///
/// Fail closed: a type claimed by a broken profile is refused with that profile's error,
/// never handed to the `"*"` fallback or the empty set; and while any profile file is
/// broken, no type may fall back at all, because that file might be the one that claims
/// it (its claims unreadable, or cut short by a rewrite in progress).
public struct ProfileSet: Sendable {
    public struct Entry: Sendable {
        public var file: String
        public var name: String?
        public var claims: [Located<String>]?
        public var profile: Profile?
        public var errors: [Diagnostic]
        public var nameLocation: SourceLocation? = nil
    }

    public enum Choice: Sendable {
        case profile(Profile, wildcard: Bool)
        /// No profile claims the type: the empty permission set.
        case unclaimed
        case refused(String)
    }

    public private(set) var entries: [Entry] = []
    /// Problems across files (duplicate names, a type claimed twice).
    public private(set) var crossFileErrors: [Diagnostic] = []

    public init(results: [(file: String, ProfileParser.Result)]) {
        entries = results.map { file, r in
            Entry(file: file, name: r.name, claims: r.claims, profile: r.profile, errors: r.diagnostics.filter(\.isError),
                  nameLocation: r.nameLocation)
        }
        var byName: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            guard let name = e.name else { continue }
            if let first = byName[name] {
                let message = "'\(name)' is also the name of \(entries[first].file)"
                let d = e.nameLocation.map { .error(at: $0, field: "profile", message) }
                    ?? Diagnostic(.error, file: e.file, field: "profile", message)
                crossFileErrors.append(d)
                // The first file is refused for the same reason; its agents are told why.
                entries[first].errors.append(d)
                entries[i].profile = nil
                entries[first].profile = nil
            } else {
                byName[name] = i
            }
        }
        var claimedBy: [String: Int] = [:]
        for (i, e) in entries.enumerated() {
            for t in e.claims ?? [] {
                if let first = claimedBy[t.value], first != i {
                    crossFileErrors.append(.error(at: t.location, field: "applies_to",
                                                  "type '\(t.value)' is also claimed by \(entries[first].file)"))
                } else {
                    claimedBy[t.value] = i
                }
            }
        }
    }

    public var profiles: [Profile] { entries.compactMap(\.profile) }

    /// The profile that governs agents of `type` (nil: the file names no type).
    public func choice(for type: String?) -> Choice {
        let key = type ?? ""
        let claimants = entries.filter { $0.claims?.contains(where: { $0.value == key }) ?? false }
        if claimants.count > 1 {
            return .refused("type '\(key)' is claimed by more than one profile (\(claimants.map(\.file).joined(separator: ", ")))")
        }
        if let e = claimants.first {
            if let p = e.profile { return .profile(p, wildcard: false) }
            return .refused(brokenReason(e))
        }
        // An invalid profile's claims cannot be trusted to be complete either (a file read
        // while it is rewritten in place may end inside its applies_to, `- pro` of `- probe`):
        // while any profile is invalid, no type falls back.
        let cutShort = entries.first { e in e.profile == nil && !(e.claims?.contains { $0.value == Profile.wildcard } ?? false) }
        if let broken = entries.first(where: { $0.claims == nil }) ?? cutShort {
            return .refused("\(broken.file) is invalid and may claim type '\(key)': \(firstError(broken))")
        }
        let wild = entries.filter { $0.claims?.contains(where: { $0.value == Profile.wildcard }) ?? false }
        if wild.count > 1 {
            return .refused("'*' is claimed by more than one profile")
        }
        if let e = wild.first {
            if let p = e.profile { return .profile(p, wildcard: true) }
            return .refused(brokenReason(e))
        }
        return .unclaimed
    }

    private func brokenReason(_ e: Entry) -> String {
        "profile \(e.name.map { "'\($0)' " } ?? "")is invalid: \(firstError(e))"
    }

    private func firstError(_ e: Entry) -> String {
        if let d = e.errors.first { return d.description }
        if let d = crossFileErrors.first(where: { $0.file == e.file }) { return d.description }
        return "\(e.file): invalid"
    }
}
