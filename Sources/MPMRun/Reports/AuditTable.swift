/// `mpm-run audit`: records as a table a person can scan, one record a line.
///
///     TIME                      TYPE               RUN          AGENT  SUMMARY
///     2026-11-22T03:20:36.123Z  permission_denied  rkz1-0a1b…   coder  denied network_access socket pid 1234
///
/// Every cell is escaped to one line of plain text: paths and details come from agents.
public enum AuditTable {
    public static func render(_ records: [JSONValue]) -> String {
        let header = ["TIME", "TYPE", "RUN", "AGENT", "SUMMARY"]
        let rows = records.map { r in
            [text(r["ts"]), text(r["type"]), text(r["run_id"]), text(r["agent_id"]), summary(r)].map(Diagnostic.oneLine)
        }
        var widths = header.map(\.count)
        for row in rows {
            for (i, cell) in row.enumerated() where i < 4 { widths[i] = max(widths[i], cell.count) }
        }
        func line(_ cells: [String]) -> String {
            var s = ""
            for (i, cell) in cells.enumerated() {
                s += i < 4 ? cell + String(repeating: " ", count: widths[i] - cell.count + 2) : cell
            }
            return s
        }
        return ([line(header)] + rows.map(line)).joined(separator: "\n")
    }

    /// The record's own fields in a few words: `denied network_access socket pid 1234`,
    /// `incident timeout killed: ran longer than 30 s`, `exited 0 in 52 ms`.
    public static func summary(_ record: JSONValue) -> String {
        guard case .object(let o) = record else { return "" }
        func s(_ key: String) -> String? {
            guard let v = o[key], v != .null else { return nil }
            return text(v)
        }
        switch o["type"]?.stringValue {
        case Event.Kind.permissionDenied.rawValue:
            var parts = ["denied", s("permission") ?? "?"]
            if let syscall = s("syscall") { parts.append(syscall) }
            if let path = s("path") { parts.append(path) }
            if let pid = s("pid") { parts.append("pid \(pid)") }
            if let plane = s("plane"), plane != "syscall" { parts.append("(\(plane))") }
            return parts.joined(separator: " ")
        case Event.Kind.incident.rawValue:
            var out = ["incident", s("kind") ?? "?", s("action")].compactMap { $0 }.joined(separator: " ")
            if let detail = s("detail"), !detail.isEmpty { out += ": " + detail }
            return out
        case Event.Kind.runExited.rawValue:
            var out: String
            if let signal = s("signal") {
                out = "killed by signal \(signal)"
            } else {
                out = "exited \(s("exit_code") ?? "?")"
            }
            if let ms = s("duration_ms") { out += " in \(ms) ms" }
            if let reason = s("reason"), reason != "exited" { out += " (\(reason))" }
            return out
        default:
            let shown = o.keys.filter { !AuditRecord.reserved.contains($0) }.sorted()
            return shown.map { "\($0)=\(text(o[$0]))" }.joined(separator: " ")
        }
    }

    /// A value as plain text: strings as they are, anything else as compact JSON, absent as -.
    static func text(_ value: JSONValue?) -> String {
        switch value {
        case nil, .null?: return "-"
        case .string(let s)?: return s
        case .int(let i)?: return String(i)
        case let v?:
            return v.compactText
        }
    }
}
