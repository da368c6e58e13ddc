/// The rules for agent and profile ids: `^[a-z][a-z0-9_-]*$`, 1 to 50 characters, not
/// reserved. Reserved ids are the ones that would be ambiguous on the command line
/// (`mpm-run check` must never run an agent called check) or would impersonate the system.
public enum Identifier {
    public static let reserved: Set<String> = [
        "system", "admin", "root", "config",
        "run", "serve", "check", "explain", "doctor", "audit", "help", "version",
    ]

    /// nil when `id` is valid, otherwise what is wrong with it.
    public static func problem(with id: String) -> String? {
        if id.isEmpty || id.count > 50 { return "must be 1 to 50 characters (has \(id.count))" }
        if id.containsBytes("..") || id.containsBytes("/") || id.containsBytes("\\") {
            return "'\(id)' must not contain '..', '/' or '\\'"
        }
        let bytes = Array(id.utf8)
        let first = bytes[0]
        let pattern = (first >= UInt8(ascii: "a") && first <= UInt8(ascii: "z"))
            && bytes.allSatisfy { b in
                (b >= UInt8(ascii: "a") && b <= UInt8(ascii: "z")) || (b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9"))
                    || b == UInt8(ascii: "_") || b == UInt8(ascii: "-")
            }
        if !pattern { return "'\(id)' must match ^[a-z][a-z0-9_-]*$" }
        if reserved.contains(id) { return "'\(id)' is reserved" }
        return nil
    }

    /// `^\d+\.\d+\.\d+$`.
    public static func isSemanticVersion(_ v: String) -> Bool {
        let parts = v.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 3 && parts.allSatisfy { !$0.isEmpty && $0.allSatisfy { $0.isASCII && $0.isNumber } }
    }

    /// Environment variable names: `^[A-Za-z_][A-Za-z0-9_]*$`.
    public static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first else { return false }
        let isLetter = { (b: UInt8) in (b | 0x20) >= UInt8(ascii: "a") && (b | 0x20) <= UInt8(ascii: "z") }
        let isDigit = { (b: UInt8) in b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }
        return (isLetter(first) || first == UInt8(ascii: "_"))
            && name.utf8.allSatisfy { isLetter($0) || isDigit($0) || $0 == UInt8(ascii: "_") }
    }
}
