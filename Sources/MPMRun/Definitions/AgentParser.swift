/// Reads agent files in all three formats. The format follows from the file name:
/// `.yaml`/`.yml` native (strict), `.md` Claude MPM or Claude Code Markdown, `.json`
/// Claude MPM JSON templates (lenient). JSON is read by the same libyaml reader as YAML
/// (JSON is YAML's flow syntax), so one parser gives every format its line and column.
public enum AgentParser {
    public struct Result: Sendable {
        public var definition: AgentDefinition?
        /// The id, if it could be read, also for an invalid file (to report duplicates).
        public var id: String?
        public var diagnostics: [Diagnostic]
        /// Where the id stands, for the message about a second file with the same id.
        public var idLocation: SourceLocation? = nil
    }

    public static let extensions = ["yaml", "yml", "md", "json"]

    public static func parse(_ source: SourceFile) -> Result {
        let ext = source.displayName.split(separator: ".").last.map { $0.lowercased() } ?? ""
        do throws(Diagnostic) {
            switch ext {
            case "md":
                let (front, body, bodyLine) = try FrontMatter.split(source.bytes, file: source.displayName)
                let root = try StrictYAML.load(front, file: source.displayName, firstLine: 2)
                return ClaudeMPMFields.parse(root, body: body, bodyLine: bodyLine, json: false, file: source.displayName)
            case "json":
                if let problem = TextChecks.validate(source.bytes[...], file: source.displayName) { throw problem }
                let first = source.bytes.first(where: { ![0x20, 0x09, 0x0A, 0x0D].contains($0) })
                guard first == UInt8(ascii: "{") else {
                    throw Diagnostic(.error, file: source.displayName, line: 1, column: 1, "a JSON agent must be a JSON object")
                }
                let root = try StrictYAML.load(source)
                return ClaudeMPMFields.parse(root, body: nil, bodyLine: 0, json: true, file: source.displayName)
            default:
                return NativeAgentFields.parse(try StrictYAML.load(source), file: source.displayName)
            }
        } catch {
            return Result(definition: nil, id: nil, diagnostics: [error])
        }
    }
}

/// Splits a Markdown agent into its YAML front matter and its body.
enum FrontMatter {
    /// The front matter's bytes, the body, and the body's first line number.
    static func split(_ bytes: [UInt8], file: String) throws(Diagnostic) -> (ArraySlice<UInt8>, String, Int) {
        if let problem = TextChecks.validate(bytes[...], file: file) { throw problem }
        var start = 0
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { start = 3 }
        let text = bytes[start...]
        // Lines with their byte ranges; a line ends at \n, and a trailing \r is not part of it.
        var lines: [Range<Int>] = []
        var lineStart = text.startIndex
        for i in text.indices where text[i] == UInt8(ascii: "\n") {
            lines.append(lineStart..<i)
            lineStart = i + 1
        }
        lines.append(lineStart..<text.endIndex)
        func isFence(_ r: Range<Int>) -> Bool {
            var line = bytes[r]
            while let last = line.last, last == UInt8(ascii: "\r") || last == UInt8(ascii: " ") || last == UInt8(ascii: "\t") {
                line = line.dropLast()
            }
            return line.elementsEqual("---".utf8)
        }
        guard let first = lines.first, isFence(first) else {
            throw Diagnostic(.error, file: file, line: 1, column: 1, "a Markdown agent must start with '---' and YAML front matter")
        }
        guard let close = lines.dropFirst().firstIndex(where: isFence) else {
            throw Diagnostic(.error, file: file, line: 1, column: 1, "the front matter has no closing '---' line")
        }
        let front = bytes[(first.upperBound + 1)..<lines[close].lowerBound]
        let bodyStart = close + 1 < lines.count ? lines[close + 1].lowerBound : bytes.endIndex
        let body = String(decoding: bytes[bodyStart...], as: UTF8.self)
        return (front, body, close + 2)
    }
}

/// The strict native format of CONTRACT.md section 3.1.
enum NativeAgentFields {
    static let topKeys = ["agent_id", "version", "type", "metadata", "instructions", "command", "limits",
                          "file_access", "network_access", "env"]
    static let metadataKeys = ["name", "description", "nickname", "specializations", "authority"]

    static func parse(_ root: YAMLNode, file: String) -> AgentParser.Result {
        var r = SchemaReader(strict: true)
        guard let top = r.mapping(root, field: nil, allowed: topKeys) else {
            return .init(definition: nil, id: nil, diagnostics: r.diagnostics.items)
        }
        var id: String?
        var idLocation: SourceLocation?
        if let n = r.require(top, "agent_id"), let s = r.string(n, "agent_id") {
            if let p = Identifier.problem(with: s) { r.diagnostics.error(n.location, "agent_id", p) } else { id = s; idLocation = n.location }
        }
        var version = ""
        if let n = r.require(top, "version"), let s = r.string(n, "version") {
            if Identifier.isSemanticVersion(s) { version = s } else {
                r.diagnostics.error(n.location, "version", "'\(s)' must be a version like 1.2.0")
            }
        }
        var type = ""
        let typeNode = r.require(top, "type")
        if let n = typeNode, let s = r.string(n, "type", length: 1...50) { type = s }

        var name = "", description = "", nickname: String?, authority: String?
        var specializations: [String] = []
        if let n = r.require(top, "metadata"), let meta = r.mapping(n, field: "metadata", allowed: metadataKeys) {
            if let v = r.require(meta, "name"), let s = r.string(v, "metadata.name", length: 1...100) { name = s }
            if let v = r.require(meta, "description"), let s = r.string(v, "metadata.description", length: 1...500) { description = s }
            if let v = meta["nickname"] { nickname = r.string(v, "metadata.nickname", length: 1...20) }
            if let v = meta["specializations"], let list = r.stringList(v, "metadata.specializations") {
                specializations = list.map(\.value)
            }
            if let v = meta["authority"] { authority = r.string(v, "metadata.authority", length: 1...100) }
        }

        var instructions = ""
        if let n = r.require(top, "instructions"), let s = r.string(n, "instructions", length: 10...50_000) {
            instructions = s
            for p in DangerousPatterns.matches(in: s) {
                r.diagnostics.warning(n.location, "instructions", "contains the dangerous pattern '\(p)'")
            }
        }

        var command: [Located<String>]?
        if let n = top["command"], let list = r.stringList(n, "command") {
            if list.isEmpty {
                r.diagnostics.error(n.location, "command", "must not be empty")
            } else if let p = Command.argv0Problem(list[0].value) {
                r.diagnostics.error(list[0].location, "command[0]", p)
            } else {
                command = list
            }
        }

        var requests = AgentDefinition.Requests()
        if let n = top["limits"], let values = ProfileParser.readLimits(&r, n, "limits", requireAll: false) {
            requests.limits = values
        }
        if let n = top["file_access"], let fa = r.mapping(n, field: "file_access", allowed: ["read_paths", "write_paths"]) {
            requests.readPaths = fa["read_paths"].flatMap { paths(&r, $0, "file_access.read_paths") }
            requests.writePaths = fa["write_paths"].flatMap { paths(&r, $0, "file_access.write_paths") }
        }
        if let n = top["network_access"], let b = r.bool(n, "network_access") {
            requests.networkAccess = Located(b, n.location)
        }
        if let n = top["env"], let list = r.stringList(n, "env") {
            for (i, name) in list.enumerated() where !Identifier.isEnvironmentName(name.value) {
                r.diagnostics.error(name.location, "env[\(i)]", "'\(name.value)' is not a valid environment variable name")
            }
            requests.env = list.filter { Identifier.isEnvironmentName($0.value) }
        }

        guard !r.diagnostics.hasErrors, let id else {
            return .init(definition: nil, id: id, diagnostics: r.diagnostics.items, idLocation: idLocation)
        }
        let def = AgentDefinition(
            id: id, file: file, format: .native, version: version, type: type,
            typeLocation: typeNode?.location ?? root.location, name: name, description: description,
            nickname: nickname, specializations: specializations, authority: authority,
            instructions: instructions, command: command, requests: requests, warnings: r.diagnostics.items)
        return .init(definition: def, id: id, diagnostics: r.diagnostics.items, idLocation: idLocation)
    }

    static func paths(_ r: inout SchemaReader, _ node: YAMLNode, _ field: String) -> [Located<String>]? {
        guard let list = r.stringList(node, field) else { return nil }
        var out: [Located<String>] = []
        for (i, p) in list.enumerated() {
            if let problem = ProjectPath.problem(with: p.value) {
                r.invalid(p.location, "\(field)[\(i)]", problem)
            } else {
                out.append(p)
            }
        }
        return out
    }
}
