/// Reads typed fields out of a YAML mapping, collecting every problem instead of stopping
/// at the first, so that `check` can list them all. Strict readers (the native agent format
/// and profiles) report unknown keys as errors; lenient readers (Claude MPM's formats) ignore
/// unknown keys and turn out-of-range values into warnings.
struct SchemaReader {
    var diagnostics = Diagnostics()
    let strict: Bool

    init(strict: Bool) { self.strict = strict }

    /// A problem with a value: an error in strict files, a warning in lenient ones.
    mutating func invalid(_ at: SourceLocation, _ field: String, _ message: String) {
        if strict { diagnostics.error(at, field, message) } else { diagnostics.warning(at, field, message) }
    }

    /// The pairs of a mapping; with `allowed`, a strict reader reports every other key.
    mutating func mapping(_ node: YAMLNode, field: String?, allowed: [String]? = nil) -> Fields? {
        guard let pairs = node.pairs else {
            invalid(node.location, field ?? "document", "must be a mapping, not \(node.kindName)")
            return nil
        }
        if strict, let allowed {
            for pair in pairs where !allowed.contains(pair.key) {
                let path = field.map { "\($0).\(pair.key)" } ?? pair.key
                diagnostics.error(pair.keyLocation, path, "unknown key")
            }
        }
        return Fields(node: node, pairs: pairs, prefix: field)
    }

    mutating func require(_ fields: Fields, _ key: String) -> YAMLNode? {
        if let v = fields[key] { return v }
        diagnostics.error(fields.node.location, fields.path(key), "required")
        return nil
    }

    /// A string scalar, optionally with its length in characters bounded.
    mutating func string(_ node: YAMLNode, _ field: String, length: ClosedRange<Int>? = nil) -> String? {
        guard let s = node.string else {
            invalid(node.location, field, "must be a string, not \(node.kindName)")
            return nil
        }
        if let length, !length.contains(s.count) {
            invalid(node.location, field, "must be \(length.lowerBound) to \(length.upperBound) characters (has \(s.count))")
            if strict { return nil }
        }
        return s
    }

    mutating func integer(_ node: YAMLNode, _ field: String, range: ClosedRange<Int>) -> Int? {
        guard let v = node.integer else {
            invalid(node.location, field, "must be a whole number, not \(describe(node))")
            return nil
        }
        guard range.contains(v) else {
            invalid(node.location, field, "must be from \(range.lowerBound) to \(range.upperBound) (is \(v))")
            return nil
        }
        return v
    }

    mutating func bool(_ node: YAMLNode, _ field: String) -> Bool? {
        guard let v = node.bool else {
            invalid(node.location, field, "must be true or false, not \(describe(node))")
            return nil
        }
        return v
    }

    /// A list of strings; each element is located for later messages.
    mutating func stringList(_ node: YAMLNode, _ field: String) -> [Located<String>]? {
        guard let items = node.items else {
            invalid(node.location, field, "must be a list, not \(node.kindName)")
            return nil
        }
        var out: [Located<String>] = []
        for (i, item) in items.enumerated() {
            if let s = string(item, "\(field)[\(i)]") { out.append(Located(s, item.location)) }
        }
        return out
    }

    /// A mapping of names to strings, in file order.
    mutating func stringMap(_ node: YAMLNode, _ field: String) -> [(key: Located<String>, value: String)]? {
        guard let fields = mapping(node, field: field) else { return nil }
        var out: [(key: Located<String>, value: String)] = []
        for pair in fields.pairs {
            if let v = string(pair.value, fields.path(pair.key)) {
                out.append((Located(pair.key, pair.keyLocation), v))
            }
        }
        return out
    }

    private func describe(_ node: YAMLNode) -> String {
        if let s = node.string { return "'\(s.count > 40 ? String(s.prefix(40)) + "…" : s)'" }
        return node.kindName
    }
}

/// A mapping being read, with the dotted path of its fields.
struct Fields {
    let node: YAMLNode
    let pairs: [YAMLPair]
    let prefix: String?

    subscript(key: String) -> YAMLNode? {
        pairs.first(where: { $0.key == key })?.value
    }

    func path(_ key: String) -> String {
        prefix.map { "\($0).\(key)" } ?? key
    }

    func keyLocation(_ key: String) -> SourceLocation? {
        pairs.first(where: { $0.key == key })?.keyLocation
    }
}

/// A value and the place in a file it came from.
public struct Located<Value: Sendable>: Sendable {
    public var value: Value
    public var location: SourceLocation
    public init(_ value: Value, _ location: SourceLocation) {
        self.value = value
        self.location = location
    }
}
extension Located: Equatable where Value: Equatable {}
extension Located: Hashable where Value: Hashable {}
