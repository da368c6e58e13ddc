/// Why the audit log could not be opened, written or read. Rendered once, as one line that
/// names the log's path and, where the user can act, the fix. A run is refused when its audit
/// log cannot be written (no unaudited run), so these lines are what stands between a user
/// and their agent: they must say what to change.
public struct AuditError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// A folder on the way to the log could not be created.
        case createFolder(path: String, folder: String, errno: Int32)
        /// The log could not be opened (or created) for appending.
        case open(path: String, errno: Int32)
        /// The log's path is a symlink: never followed, so that whoever can write the folder
        /// cannot point our records at another file.
        case symlink(path: String)
        /// The path names a folder, a FIFO, a device...: `what` is "a folder", "a FIFO"...
        case notAFile(path: String, what: String)
        /// Reading a log that does not exist.
        case missing(path: String)
        /// A system call on the open log failed: `step` is "lock", "read", "write", "sync"...
        case io(step: String, path: String, errno: Int32)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// The log this error is about.
    public var path: String {
        switch kind {
        case .createFolder(let path, _, _), .open(let path, _), .symlink(let path), .notAFile(let path, _),
             .missing(let path), .io(_, let path, _):
            return path
        }
    }

    static let fix = "make it writable, or choose another file with --audit-log FILE or MPM_AUDIT_LOG"

    public var description: String {
        switch kind {
        case .createFolder(let path, let folder, let code):
            return "audit log \(path): cannot create the folder \(folder): \(errnoText(code)) (\(Self.fix))"
        case .open(let path, let code):
            return "audit log \(path): cannot open it for appending: \(errnoText(code)) (\(Self.fix))"
        case .symlink(let path):
            return "audit log \(path): is a symlink, which is never followed (replace it with a regular file, or choose another file with --audit-log FILE or MPM_AUDIT_LOG)"
        case .notAFile(let path, let what):
            return "audit log \(path): is \(what), not a regular file (choose another file with --audit-log FILE or MPM_AUDIT_LOG)"
        case .missing(let path):
            return "no audit log at \(path)"
        case .io(let step, let path, let code):
            return "audit log \(path): cannot \(step): \(errnoText(code))"
        }
    }
}
