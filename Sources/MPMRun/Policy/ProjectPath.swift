/// Paths in `read_paths` and `write_paths`: relative to the project root (or absolute), and
/// normalized lexically here so that policy can compare them. The kernel-level resolution,
/// which also refuses symlinks that leave the allowed tree, happens when a run starts.
public enum ProjectPath {
    public static func problem(with path: String) -> String? {
        if path.isEmpty { return "a path must not be empty" }
        if path.utf8.contains(0) { return "a path must not contain NUL" }
        if !path.hasPrefix("/"), normalizedComponents(path) == nil {
            return "'\(path)' leaves the project root"
        }
        return nil
    }

    /// The components of `path` with `.` and `..` applied; nil if `..` climbs above the start.
    static func normalizedComponents(_ path: String) -> [Substring]? {
        var out: [Substring] = []
        for c in path.split(separator: "/", omittingEmptySubsequences: true) {
            if c == "." { continue }
            if c == ".." {
                if out.isEmpty { return nil }
                out.removeLast()
            } else {
                out.append(c)
            }
        }
        return out
    }

    /// An absolute, normalized path: `path` taken relative to `root` unless it is absolute.
    public static func resolve(_ path: String, against root: String) -> String {
        let joined = path.hasPrefix("/") ? path : root + "/" + path
        // `..` above `/` stays at `/`, as the kernel does.
        var out: [Substring] = []
        for c in joined.split(separator: "/") {
            if c == "." { continue }
            if c == ".." { _ = out.popLast(); continue }
            out.append(c)
        }
        return "/" + out.joined(separator: "/")
    }

    /// Whether the normalized absolute `path` is `parent` or lies below it.
    public static func isWithin(_ path: String, _ parent: String) -> Bool {
        if parent == "/" { return true }
        return path == parent || path.hasPrefix(parent + "/")
    }
}

/// The argv an agent runs.
public enum Command {
    public static let instructionsPlaceholder = "{instructions}"
    public static let defaultPath = "/usr/local/bin:/usr/bin:/bin"

    /// argv[0] must be absolute or a bare name looked up on the profile's PATH: a relative
    /// path would depend on the sandbox's working directory.
    public static func argv0Problem(_ argv0: String) -> String? {
        if argv0.isEmpty { return "must not be empty" }
        if !argv0.hasPrefix("/") && argv0.contains("/") {
            return "'\(argv0)' must be an absolute path or a bare name found on PATH"
        }
        return nil
    }
}
