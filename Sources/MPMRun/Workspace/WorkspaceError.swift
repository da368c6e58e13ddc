import Glibc

/// Why a sandbox could not be made, filled, collected or removed. Rendered once, as one
/// line that names the path the user gave: `input ../secret.txt: outside the project root /x`.
public struct WorkspaceError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// An input outside the project root or the read paths, or reached through a
        /// symlink that leaves them. `path` is the input as the user spelled it.
        case inputOutsideAllowed(path: String, reason: String)
        case inputMissing(path: String)
        /// Two inputs (or an input and INSTRUCTIONS.md) would get the same name in input/.
        case duplicateInputName(name: String, first: String, second: String)
        /// An input that is not a file or folder (a FIFO, a socket, a device).
        case inputNotCopyable(path: String, what: String)
        /// An input folder with more entries or deeper nesting than we copy.
        case inputTooLarge(path: String, reason: String)
        /// The run id is not a plain file name.
        case badRunID(String)
        /// `<tmp>/mpm-run` is not safe to use (a symlink, someone else's, writable by all
        /// without the sticky bit).
        case unsafeSandboxRoot(path: String, reason: String)
        /// A system call failed: `step` is what we were doing (`create`, `open`, `copy`…).
        case io(step: String, path: String, errno: Int32)
    }

    public var kind: Kind

    public init(_ kind: Kind) { self.kind = kind }

    /// One line: paths may hold names an agent chose (line breaks, terminal escapes).
    public var description: String { Diagnostic.oneLine(text) }

    private var text: String {
        switch kind {
        case .inputOutsideAllowed(let path, let reason):
            return "input \(path): \(reason)"
        case .inputMissing(let path):
            return "input \(path): no such file or folder"
        case .duplicateInputName(let name, let first, let second):
            return "input \(second): its name '\(name)' is already taken in input/ by \(first)"
        case .inputNotCopyable(let path, let what):
            return "input \(path): \(what) cannot be an input (only files and folders)"
        case .inputTooLarge(let path, let reason):
            return "input \(path): \(reason)"
        case .badRunID(let id):
            return "run id '\(id)': must be 1 to 128 letters, digits, '.', '_' or '-' (and not '.' or '..')"
        case .unsafeSandboxRoot(let path, let reason):
            return "sandbox folder \(path): \(reason)"
        case .io(let step, let path, let code):
            return "cannot \(step) \(path): \(errnoText(code))"
        }
    }

    static func io(_ step: String, _ path: String, _ code: Int32 = errno) -> WorkspaceError {
        WorkspaceError(.io(step: step, path: path, errno: code))
    }
}

/// An entry that was deliberately not copied, and why: nothing is left out silently.
public struct SkippedEntry: Sendable, Equatable, CustomStringConvertible {
    /// Relative to the input as given, or to output/.
    public var path: String
    public var reason: String

    /// One line: the name may be an agent's choice (line breaks, terminal escapes).
    public var description: String { Diagnostic.oneLine("\(path): \(reason)") }
}
