/// A YAML document as the strict loader hands it on: scalars, sequences and mappings,
/// each remembering where it stood so that every later error can name a line and column.
/// Mappings keep their keys in file order; duplicates never get this far.
public struct YAMLNode: Sendable {
    public enum Content: Sendable {
        /// `plain` is false for quoted and block scalars: only a plain scalar can mean null,
        /// a boolean or a number.
        case scalar(String, plain: Bool)
        case sequence([YAMLNode])
        case mapping([YAMLPair])
    }

    public var content: Content
    public var location: SourceLocation

    public init(_ content: Content, at location: SourceLocation) {
        self.content = content
        self.location = location
    }

    /// What a person would call this node's kind, for messages like "must be a list, not a mapping".
    public var kindName: String {
        switch content {
        case .scalar: return isNull ? "null" : "a scalar"
        case .sequence: return "a list"
        case .mapping: return "a mapping"
        }
    }

    public var isNull: Bool {
        if case .scalar(let s, let plain) = content, plain {
            return s.isEmpty || s == "~" || s == "null" || s == "Null" || s == "NULL"
        }
        return false
    }

    /// The text of a scalar that is not null.
    public var string: String? {
        if case .scalar(let s, _) = content, !isNull { return s }
        return nil
    }

    public var pairs: [YAMLPair]? {
        if case .mapping(let p) = content { return p }
        return nil
    }

    public var items: [YAMLNode]? {
        if case .sequence(let i) = content { return i }
        return nil
    }

    /// A plain `true` or `false`. YAML 1.1's yes/no/on/off are refused on purpose: a strict
    /// format accepts one spelling, so `network_access: no` cannot be misread.
    public var bool: Bool? {
        guard case .scalar(let s, let plain) = content, plain else { return nil }
        switch s {
        case "true", "True", "TRUE": return true
        case "false", "False", "FALSE": return false
        default: return nil
        }
    }

    /// A plain decimal integer (no sign, no leading `+`, no underscores, no octal or hex).
    public var integer: Int? {
        guard case .scalar(let s, let plain) = content, plain else { return nil }
        return Self.parseInteger(s)
    }

    static func parseInteger(_ s: String) -> Int? {
        var text = Substring(s)
        var negative = false
        if text.first == "-" { negative = true; text = text.dropFirst() }
        guard !text.isEmpty, text.allSatisfy({ $0.isASCII && $0.isNumber }) else { return nil }
        guard let v = Int(text) else { return nil }
        return negative ? -v : v
    }

    /// A plain number, integer or decimal (for fields such as Claude MPM's `cpu_limit: 50.0`).
    public var number: Double? {
        guard case .scalar(let s, let plain) = content, plain else { return nil }
        if let i = Self.parseInteger(s) { return Double(i) }
        guard s.allSatisfy({ $0.isASCII && ($0.isNumber || $0 == "." || $0 == "-" || $0 == "e" || $0 == "E" || $0 == "+") }),
              let d = Double(s), d.isFinite else { return nil }
        return d
    }

    public subscript(key: String) -> YAMLNode? {
        pairs?.first(where: { $0.key == key })?.value
    }
}

public struct YAMLPair: Sendable {
    public var key: String
    public var keyLocation: SourceLocation
    public var value: YAMLNode
}
