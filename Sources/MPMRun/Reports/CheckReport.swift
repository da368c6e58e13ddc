#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// `mpm-run check`: every problem of every agent and profile, including the ones that only
/// show when an agent meets its profile, and the security scanner's findings (files others
/// can write, secret-shaped contents).
public struct CheckReport: Sendable, Encodable {
    public var agents: Int
    public var profiles: Int
    public var errors: [Diagnostic]
    public var warnings: [Diagnostic]
    public var ok: Bool { errors.isEmpty }

    enum CodingKeys: String, CodingKey { case ok, agents, profiles, errors, warnings }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(ok, forKey: .ok)
        try c.encode(agents, forKey: .agents)
        try c.encode(profiles, forKey: .profiles)
        try c.encode(errors, forKey: .errors)
        try c.encode(warnings, forKey: .warnings)
    }

    public init(catalog: Catalog, projectRoot: String) {
        var all = catalog.diagnostics
        for id in catalog.agents.keys.sorted() {
            let def = catalog.agents[id]!
            switch PolicyResolver.resolve(def, profiles: catalog.profiles, projectRoot: projectRoot) {
            case .success(let policy):
                // The definition's own warnings are already listed; add what resolution found.
                all.append(contentsOf: policy.resolutionWarnings)
            case .failure(let refusal):
                all.append(contentsOf: refusal.errors)
            }
        }
        for source in catalog.sources {
            all.append(contentsOf: Self.scan(source))
        }
        agents = catalog.filesByID.count
        profiles = catalog.profiles.entries.count
        errors = all.filter(\.isError)
        warnings = all.filter { !$0.isError }
    }

    /// The security scanner's findings for one file. A secret is named by kind, never shown.
    static func scan(_ source: SourceFile) -> [Diagnostic] {
        var out: [Diagnostic] = []
        if source.mode & 0o022 != 0 {
            let mode = String(source.mode & 0o777, radix: 8)
            out.append(Diagnostic(.warning, file: source.displayName,
                                  "anyone but its owner can write this file (mode \(mode)): chmod go-w"))
        }
        for m in SecretScanner.scan(source.bytes) {
            var line = 1, column = 1
            for b in source.bytes[..<m.range.lowerBound] {
                if b == UInt8(ascii: "\n") { line += 1; column = 1 } else if b & 0xC0 != 0x80 { column += 1 }
            }
            out.append(Diagnostic(.warning, file: source.displayName, line: line, column: column,
                                  "contains something shaped like a secret (\(m.kind.rawValue)); keep secrets out of definition files"))
        }
        return out
    }

    public func render() -> String {
        var lines = (errors + warnings).map(\.description)
        let e = errors.count, w = warnings.count
        lines.append("checked \(agents) agent\(agents == 1 ? "" : "s") and \(profiles) profile\(profiles == 1 ? "" : "s"): "
                     + "\(e) error\(e == 1 ? "" : "s"), \(w) warning\(w == 1 ? "" : "s")")
        return lines.joined(separator: "\n")
    }
}

/// JSON as mpm-run prints it: keys sorted, so output is stable and diffable.
public enum JSONOutput {
    public static func encode<T: Encodable>(_ value: T, pretty: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes] : [.sortedKeys, .withoutEscapingSlashes]
        guard let data = try? encoder.encode(value) else { return "{}" }
        return String(decoding: data, as: UTF8.self)
    }
}
