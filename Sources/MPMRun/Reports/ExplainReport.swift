/// `mpm-run explain`: the effective policy, for an administrator to read.
extension EffectivePolicy {
    public func renderText() -> String {
        var out: [String] = []
        func section(_ title: String) { out.append(""); out.append(title) }
        func row(_ label: String, _ value: String) {
            out.append("  " + label.padding(toLength: 18) + value)
        }
        let a = agent
        // The name and version come from the file: escaped, so they cannot add lines of their own.
        out.append(Diagnostic.oneLine("agent \(a.id) \(a.version): \(a.name)"))
        row("file", "\(a.file) (\(a.format.rawValue))")
        row("type", a.type ?? "(none)")
        if let profile, let profileFile {
            row("profile", "\(profile) (\(profileFile))")
        } else {
            row("profile", "(none: the empty permission set)")
        }

        section("permissions")
        for p in Permission.allCases {
            let held = permissions.contains(p)
            row(p.rawValue, (held ? "yes  " : "no   ") + (held ? p.grantedMeaning : p.deniedMeaning))
        }

        section("limits")
        for k in LimitKey.allCases { row(k.rawValue, String(limits[k])) }

        section("files")
        row("read_paths", readPaths.isEmpty ? "(none)" : readPaths.joined(separator: ", "))
        row("write_paths", writePaths.isEmpty ? "(none)" : writePaths.joined(separator: ", "))

        section("command")
        row("argv", argv.map(Self.quoted).joined(separator: " "))
        row("executable", executable ?? "(not found here)")

        section("environment")
        row("set", environment.set.isEmpty ? "(none)" : environment.set.map { "\($0.name)=\($0.value)" }.joined(separator: " "))
        row("passed if set", environment.passThrough.isEmpty ? "(none)" : environment.passThrough.joined(separator: " "))
        row("secrets", environment.secrets.isEmpty ? "(none)" : environment.secrets.joined(separator: " "))
        row("always", "HOME TMPDIR MPM_RUN_ID MPM_AGENT_ID MPM_INPUT_DIR MPM_OUTPUT_DIR")
        row("capabilities", capabilities.isEmpty ? "(all dropped)" : capabilities.joined(separator: " "))

        section("always")
        for p in Baseline.protections { out.append("  " + p) }

        if !decisions.isEmpty {
            section("decisions")
            for d in decisions {
                var line = "  \(d.field): "
                if let r = d.requested { line += "asked \(r), " }
                line += "granted \(d.granted): \(d.reason)"
                if let at = d.at { line += " (\(at))" }
                out.append(line)
            }
        }
        if !warnings.isEmpty {
            section("warnings")
            for w in warnings { out.append("  " + w.description) }
        }
        return out.joined(separator: "\n")
    }

    /// Shell quoting, so an administrator can paste the argv; control characters use
    /// bash's $'...' form so that a multi-line script stays on one line.
    static func quoted(_ s: String) -> String {
        let safe = !s.isEmpty && s.allSatisfy { $0.isLetter || $0.isNumber || "-_./:={}@%+,".contains($0) }
        if safe { return s }
        if !s.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) {
            return "'" + s.replacingAll("'", with: "'\\''") + "'"
        }
        var out = "$'"
        for u in s.unicodeScalars {
            switch u {
            case "\n": out += "\\n"
            case "\t": out += "\\t"
            case "\\": out += "\\\\"
            case "'": out += "\\'"
            default:
                if u.value < 0x20 || u.value == 0x7F {
                    out += "\\x" + (u.value < 0x10 ? "0" : "") + String(u.value, radix: 16)
                } else {
                    out.unicodeScalars.append(u)
                }
            }
        }
        return out + "'"
    }
}

extension String {
    func padding(toLength n: Int) -> String {
        count >= n ? self + " " : self + String(repeating: " ", count: n - count)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
