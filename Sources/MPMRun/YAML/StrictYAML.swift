import CYAML

/// The one YAML reader of mpm-run, on the system libyaml's event API.
///
/// It builds the tree itself from events, which is what makes it strict: an anchor, an
/// alias or an explicit tag is refused at the event that carries it (so a billion-laughs
/// file fails at its first `&`, long before anything could expand), duplicate keys and
/// nesting beyond `maxDepth` are refused as they are met, and a second document ends it.
public enum StrictYAML {
    public static let maxDepth = 32

    /// Parses one document. `firstLine` shifts every reported line, for YAML that starts
    /// inside a larger file (Markdown front matter).
    public static func load(_ bytes: ArraySlice<UInt8>, file: String, firstLine: Int = 1) throws(Diagnostic) -> YAMLNode {
        if bytes.count > SourceFile.maxBytes {
            throw Diagnostic(.error, file: file, "file is larger than 1 MiB")
        }
        if let problem = TextChecks.validate(bytes, file: file, firstLine: firstLine) {
            throw problem
        }
        let result: Result<YAMLNode, Diagnostic> = bytes.withUnsafeBufferPointer { buffer in
            var builder = TreeBuilder(file: file, lineOffset: firstLine - 1)
            return builder.run(buffer)
        }
        return try result.get()
    }

    public static func load(_ source: SourceFile) throws(Diagnostic) -> YAMLNode {
        try load(source.bytes[...], file: source.displayName)
    }
}

private struct TreeBuilder {
    let file: String
    let lineOffset: Int

    /// An open collection: its location, and what has been read into it so far. A class,
    /// so that adding to it appends in place: a value copied out of the stack and put back
    /// would copy its array at every item, and a 1 MiB list would take minutes.
    private final class Open {
        let location: SourceLocation
        let isSequence: Bool
        var items: [YAMLNode] = []
        var pairs: [YAMLPair] = []
        var seen: Set<String> = []
        /// A key whose value has not been read yet.
        var pendingKey: (String, SourceLocation)?

        init(_ location: SourceLocation, isSequence: Bool) {
            self.location = location
            self.isSequence = isSequence
        }
    }

    private var stack: [Open] = []
    private var root: YAMLNode?
    private var documents = 0

    init(file: String, lineOffset: Int) {
        self.file = file
        self.lineOffset = lineOffset
    }

    private func location(_ mark: yaml_mark_t) -> SourceLocation {
        SourceLocation(file: file, line: Int(mark.line) + 1 + lineOffset, column: Int(mark.column) + 1)
    }

    mutating func run(_ input: UnsafeBufferPointer<UInt8>) -> Result<YAMLNode, Diagnostic> {
        var parser = yaml_parser_t()
        guard yaml_parser_initialize(&parser) == 1 else {
            return .failure(Diagnostic(.error, file: file, "out of memory starting the YAML parser"))
        }
        defer { yaml_parser_delete(&parser) }
        if let base = input.baseAddress {
            yaml_parser_set_input_string(&parser, base, input.count)
        } else {
            let empty: [UInt8] = [0]
            // An empty buffer has no base address; libyaml still needs a valid pointer.
            empty.withUnsafeBufferPointer { yaml_parser_set_input_string(&parser, $0.baseAddress!, 0) }
        }

        var event = yaml_event_t()
        while true {
            guard yaml_parser_parse(&parser, &event) == 1 else {
                return .failure(parserError(parser))
            }
            defer { yaml_event_delete(&event) }
            if event.type == YAML_STREAM_END_EVENT { break }
            if let problem = handle(&event) { return .failure(problem) }
        }
        guard let root else {
            return .failure(Diagnostic(.error, file: file, line: 1 + lineOffset, column: 1, "document is empty"))
        }
        return .success(root)
    }

    private func parserError(_ parser: yaml_parser_t) -> Diagnostic {
        let problem = parser.problem.map { String(cString: $0) } ?? "invalid YAML"
        var message = problem
        if let context = parser.context.map({ String(cString: $0) }) {
            message = "\(problem) (\(context))"
        }
        let at = location(parser.problem_mark)
        return .error(at: at, message)
    }

    /// Returns a diagnostic to stop at, or nil to go on.
    private mutating func handle(_ event: inout yaml_event_t) -> Diagnostic? {
        let at = location(event.start_mark)
        switch event.type {
        case YAML_DOCUMENT_START_EVENT:
            documents += 1
            if documents > 1 {
                return .error(at: at, "more than one YAML document in the file")
            }
            return nil
        case YAML_ALIAS_EVENT:
            return .error(at: at, "aliases are not allowed")
        case YAML_SCALAR_EVENT:
            let s = event.data.scalar
            if s.anchor != nil { return .error(at: at, "anchors are not allowed") }
            if s.tag != nil, s.plain_implicit == 0, s.quoted_implicit == 0 {
                return .error(at: at, "tags are not allowed (\(String(cString: s.tag)))")
            }
            let text = String(decoding: UnsafeBufferPointer(start: s.value, count: Int(s.length)), as: UTF8.self)
            return add(YAMLNode(.scalar(text, plain: s.style == YAML_PLAIN_SCALAR_STYLE), at: at))
        case YAML_SEQUENCE_START_EVENT, YAML_MAPPING_START_EVENT:
            let isSequence = event.type == YAML_SEQUENCE_START_EVENT
            let anchor = isSequence ? event.data.sequence_start.anchor : event.data.mapping_start.anchor
            let tag = isSequence ? event.data.sequence_start.tag : event.data.mapping_start.tag
            let implicit = isSequence ? event.data.sequence_start.implicit : event.data.mapping_start.implicit
            if anchor != nil { return .error(at: at, "anchors are not allowed") }
            if let tag, implicit == 0 { return .error(at: at, "tags are not allowed (\(String(cString: tag)))") }
            if let top = stack.last, !top.isSequence, top.pendingKey == nil {
                return .error(at: at, "a mapping key must be a scalar")
            }
            if stack.count >= StrictYAML.maxDepth {
                return .error(at: at, "nesting deeper than \(StrictYAML.maxDepth) levels")
            }
            stack.append(Open(at, isSequence: isSequence))
            return nil
        case YAML_SEQUENCE_END_EVENT, YAML_MAPPING_END_EVENT:
            let open = stack.removeLast()
            return add(YAMLNode(open.isSequence ? .sequence(open.items) : .mapping(open.pairs), at: open.location))
        default:
            return nil
        }
    }

    /// Places a finished node into the collection that is open, or makes it the root.
    private mutating func add(_ node: YAMLNode) -> Diagnostic? {
        guard let top = stack.last else {
            root = node
            return nil
        }
        if top.isSequence {
            top.items.append(node)
        } else if let (key, keyLoc) = top.pendingKey {
            top.pairs.append(YAMLPair(key: key, keyLocation: keyLoc, value: node))
            top.pendingKey = nil
        } else {
            guard case .scalar(let key, _) = node.content else {
                return .error(at: node.location, "a mapping key must be a scalar")
            }
            if node.string == nil && node.isNull {
                return .error(at: node.location, "a mapping key must not be empty")
            }
            guard top.seen.insert(key).inserted else {
                return .error(at: node.location, "duplicate key '\(key)'")
            }
            top.pendingKey = (key, node.location)
        }
        return nil
    }
}
