/// The lenient Claude MPM formats of CONTRACT.md section 3.2: Markdown agents (front matter
/// plus body), Claude Code's agents (`name` is the id, `tools` a comma string) and JSON
/// templates. Unknown keys are ignored; a value that is out of range or of the wrong kind is
/// a warning and is left out, so that the profile decides. Only a missing id or missing
/// instructions make such a file unusable.
enum ClaudeMPMFields {
    static func parse(_ root: YAMLNode, body: String?, bodyLine: Int, json: Bool, file: String) -> AgentParser.Result {
        var r = SchemaReader(strict: false)
        guard let top = r.mapping(root, field: nil) else {
            let what = json ? "a JSON agent must be an object" : "the front matter must be a YAML mapping"
            return .init(definition: nil, id: nil, diagnostics: [.error(at: root.location, what)])
        }
        let meta = top["metadata"].flatMap { r.mapping($0, field: "metadata") }
        let caps = top["capabilities"].flatMap { r.mapping($0, field: "capabilities") }

        // The id: `agent_id`, or for Claude Code's files the `name`, made into an id if needed.
        var format: AgentDefinition.Format = json ? .json : .markdown
        var id: String?
        var idLocation: SourceLocation?
        if let n = top["agent_id"], let s = r.string(n, "agent_id") {
            if let p = Identifier.problem(with: s) { r.diagnostics.error(n.location, "agent_id", p) } else { id = s; idLocation = n.location }
        } else if let n = top["name"], let s = r.string(n, "name") {
            if !json { format = .claudeCode }
            let derived = String(s.lowercased().map { $0 == " " ? "-" : $0 })
            if let p = Identifier.problem(with: derived) {
                r.diagnostics.error(n.location, "name", "cannot serve as the agent id: \(p)")
            } else {
                if derived != s { r.diagnostics.warning(n.location, "name", "used as the agent id '\(derived)'") }
                id = derived
                idLocation = n.location
            }
        } else {
            r.diagnostics.error(root.location, "agent_id", "required (or `name`, for Claude Code agents)")
        }

        var version = "0.0.0"
        if let n = top["version"] ?? top["agent_version"] {
            let field = top["version"] != nil ? "version" : "agent_version"
            if let s = r.string(n, field) {
                if Identifier.isSemanticVersion(s) { version = s } else {
                    r.diagnostics.warning(n.location, field, "'\(s)' is not a version like 1.2.0")
                    version = s
                }
            }
        }

        var type: String?
        var typeLocation = root.location
        if let n = top["agent_type"] {
            typeLocation = n.location
            type = r.string(n, "agent_type", length: 1...50)
        }

        var name = id ?? ""
        if let n = meta?["name"] ?? top["name"], let s = r.string(n, meta?["name"] != nil ? "metadata.name" : "name") {
            name = s
        }
        var description = ""
        let descNode = meta?["description"] ?? top["description"]
        if let n = descNode, let s = r.string(n, meta?["description"] != nil ? "metadata.description" : "description") {
            description = s
            if s.count > 500 {
                r.diagnostics.warning(n.location, "description", "longer than 500 characters (\(s.count)); shown shortened")
            }
        }

        // Instructions: the Markdown body, or the JSON template's `instructions` string.
        var instructions: String?
        var instructionsLocation = SourceLocation(file: file, line: bodyLine, column: 1)
        if let body {
            instructions = body
        } else if let n = top["instructions"] {
            instructionsLocation = n.location
            instructions = n.string
            // Not a warning, as other wrong kinds are: without instructions the file is unusable.
            if instructions == nil { r.diagnostics.error(n.location, "instructions", "must be a string, not \(n.kindName)") }
        }
        if let text = instructions {
            var trimmed = Substring(text).drop(while: { $0.isWhitespace })
            while let last = trimmed.last, last.isWhitespace { trimmed = trimmed.dropLast() }
            if trimmed.count < 10 {
                r.diagnostics.error(instructionsLocation, "instructions", "must be at least 10 characters (has \(trimmed.count))")
                instructions = nil
            } else if text.count > 50_000 {
                r.diagnostics.warning(instructionsLocation, "instructions", "longer than 50000 characters (\(text.count))")
            }
            for p in DangerousPatterns.matches(in: text) {
                r.diagnostics.warning(instructionsLocation, "instructions", "contains the dangerous pattern '\(p)'")
            }
        } else if body == nil && top["instructions"] == nil {
            r.diagnostics.error(root.location, "instructions", "required")
        }

        var requests = AgentDefinition.Requests()
        // `tools` and `resource_tier` stand at the top in Markdown agents, under capabilities in JSON.
        let toolsField = top["tools"] != nil ? "tools" : "capabilities.tools"
        if let n = top["tools"] ?? caps?["tools"] {
            requests.tools = tools(&r, n, toolsField)
        }
        let tierField = top["resource_tier"] != nil ? "resource_tier" : "capabilities.resource_tier"
        if let n = top["resource_tier"] ?? caps?["resource_tier"], let s = r.string(n, tierField) {
            requests.resourceTier = Located(s, n.location)
        }
        if let n = caps?["memory_limit"], let v = wholeNumber(&r, n, "capabilities.memory_limit") {
            requests.limits[.memoryMB] = Located(v, n.location)
        }
        if let n = caps?["cpu_limit"], let v = wholeNumber(&r, n, "capabilities.cpu_limit") {
            requests.cpuPercent = Located(v, n.location)
        }
        let timeoutField = caps?["timeout"] != nil ? "capabilities.timeout" : "timeout"
        if let n = caps?["timeout"] ?? top["timeout"], let v = wholeNumber(&r, n, timeoutField) {
            requests.limits[.timeoutSeconds] = Located(v, n.location)
            requests.limitFields[.timeoutSeconds] = timeoutField
        }
        if let n = caps?["network_access"], let b = r.bool(n, "capabilities.network_access") {
            requests.networkAccess = Located(b, n.location)
        }
        if let n = caps?["file_access"], let fa = r.mapping(n, field: "capabilities.file_access") {
            requests.readPaths = fa["read_paths"].flatMap { NativeAgentFields.paths(&r, $0, "capabilities.file_access.read_paths") }
            requests.writePaths = fa["write_paths"].flatMap { NativeAgentFields.paths(&r, $0, "capabilities.file_access.write_paths") }
        }

        guard !r.diagnostics.hasErrors, let id, let instructions else {
            return .init(definition: nil, id: id, diagnostics: r.diagnostics.items, idLocation: idLocation)
        }
        let def = AgentDefinition(
            id: id, file: file, format: format, version: version, type: type, typeLocation: typeLocation,
            name: name, description: description, nickname: nil, specializations: [], authority: nil,
            instructions: instructions, command: nil, requests: requests, warnings: r.diagnostics.items)
        return .init(definition: def, id: id, diagnostics: r.diagnostics.items, idLocation: idLocation)
    }

    /// A list of tool names, or Claude Code's comma-separated string of them.
    private static func tools(_ r: inout SchemaReader, _ node: YAMLNode, _ field: String) -> [Located<String>]? {
        if let s = node.string {
            return s.split(separator: ",").map { Located($0.trimmingCharacters(in: " \t"), node.location) }
                .filter { !$0.value.isEmpty }
        }
        return r.stringList(node, field)
    }

    /// A non-negative number, integer or decimal (rounded down), or a warning.
    private static func wholeNumber(_ r: inout SchemaReader, _ node: YAMLNode, _ field: String) -> Int? {
        guard let d = node.number, d >= 0, d < 1e15 else {
            r.invalid(node.location, field, "must be a non-negative number")
            return nil
        }
        return Int(d)
    }
}

extension Substring {
    func trimmingCharacters(in set: String) -> String {
        var s = self
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}
