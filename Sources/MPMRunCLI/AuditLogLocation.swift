import ArgumentParser
import Glibc
import MPMRun

/// `--audit-log FILE` (env MPM_AUDIT_LOG, default under $XDG_STATE_HOME or ~/.local/state),
/// for every command that reads or writes the audit log: include it with `@OptionGroup`.
struct AuditLogLocation: ParsableArguments {
    @Option(name: .customLong("audit-log"),
            help: ArgumentHelp("The audit log (env MPM_AUDIT_LOG; default $XDG_STATE_HOME/mpm-run/audit.jsonl, "
                               + "else ~/.local/state/mpm-run/audit.jsonl).", valueName: "file"))
    var auditLog: String?

    func validate() throws {
        if auditLog?.isEmpty == true { throw ValidationError("--audit-log: the path is empty") }
    }

    /// The log's path: the option, else section 2's environment fallbacks.
    var path: String {
        if let auditLog { return auditLog }
        var env: [String: String] = [:]
        for name in ["MPM_AUDIT_LOG", "XDG_STATE_HOME", "HOME"] {
            if let v = getenv(name) { env[name] = String(cString: v) }
        }
        return AuditLog.defaultPath(environment: env)
    }
}
