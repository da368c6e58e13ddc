import Glibc

/// The agents and profiles of one invocation, read from their folders. Every file is read
/// and every problem kept, so `check` can list them all; a launch asks for one agent and
/// gets it only if its file and its profile are sound.
public struct Catalog: Sendable {
    public var agentsDir: String
    public var profilesDir: String
    public private(set) var agents: [String: AgentDefinition] = [:]
    /// id → the files that define it (more than one is an error).
    public private(set) var filesByID: [String: [String]] = [:]
    public private(set) var profiles: ProfileSet
    /// Every problem of every file, in file order, then the problems across files.
    public private(set) var diagnostics: [Diagnostic] = []
    /// Files as read, for `check`'s file-level scans (permissions, secrets).
    public private(set) var sources: [SourceFile] = []

    public enum LookupError: Error, Sendable, CustomStringConvertible {
        case unknown(String, agentsDir: String, brokenFiles: Int)
        case invalid(String, [Diagnostic])
        case duplicate(String, [String])

        public var description: String {
            switch self {
            case .unknown(let id, let dir, let broken):
                let hint = broken > 0 ? " (\(broken) file\(broken == 1 ? "" : "s") there could not be read: run mpm-run check)" : ""
                return "unknown agent '\(id)': no file in \(dir) defines it\(hint)"
            case .invalid(_, let ds):
                return ds.first(where: \.isError)?.description ?? "invalid agent"
            case .duplicate(let id, let files):
                return "agent '\(id)' is defined by more than one file: \(files.joined(separator: ", "))"
            }
        }
    }

    public init(agentsDir: String, profilesDir: String) {
        self.agentsDir = agentsDir
        self.profilesDir = profilesDir
        var results: [(String, ProfileParser.Result)] = []
        var dirProblems: [Diagnostic] = []
        for (path, display) in Self.files(in: profilesDir, extensions: ["yaml", "yml"], problems: &dirProblems) {
            do {
                let source = try SourceFile.read(path: path, displayName: display)
                sources.append(source)
                results.append((display, ProfileParser.parse(source)))
            } catch {
                results.append((display, ProfileParser.Result(profile: nil, name: nil, claims: nil, diagnostics: [error])))
            }
        }
        profiles = ProfileSet(results: results)
        diagnostics.append(contentsOf: dirProblems)
        for (_, r) in results { diagnostics.append(contentsOf: r.diagnostics) }
        diagnostics.append(contentsOf: profiles.crossFileErrors)

        for (path, display) in Self.files(in: agentsDir, extensions: AgentParser.extensions, problems: &diagnostics) {
            let result: AgentParser.Result
            do {
                let source = try SourceFile.read(path: path, displayName: display)
                sources.append(source)
                result = AgentParser.parse(source)
            } catch {
                result = AgentParser.Result(definition: nil, id: nil, diagnostics: [error])
            }
            diagnostics.append(contentsOf: result.diagnostics)
            if let id = result.id {
                filesByID[id, default: []].append(display)
                if let at = result.idLocation { idLocations[display] = at }
                if let def = result.definition, agents[id] == nil { agents[id] = def }
            } else {
                brokenAgentFiles += 1
            }
        }
        for (id, files) in filesByID.sorted(by: { $0.key < $1.key }) where files.count > 1 {
            for file in files.dropFirst() {
                let message = "'\(id)' is also defined by \(files[0])"
                if let at = idLocations[file] {
                    diagnostics.append(.error(at: at, field: "agent_id", message))
                } else {
                    diagnostics.append(Diagnostic(.error, file: file, field: "agent_id", message))
                }
            }
            agents[id] = nil
        }
    }

    /// The same folders without what was read from them: what a run holds for its length
    /// once its policy is resolved (serve has a catalog per run).
    public func emptied() -> Catalog {
        var c = self
        c.agents = [:]
        c.filesByID = [:]
        c.profiles = ProfileSet(results: [])
        c.diagnostics = []
        c.sources = []
        c.idLocations = [:]
        return c
    }

    private var brokenAgentFiles = 0
    /// file → where its agent_id stands, for the duplicate message.
    private var idLocations: [String: SourceLocation] = [:]

    /// The agent with this id, or why it cannot be used.
    public func agent(_ id: String) -> Result<AgentDefinition, LookupError> {
        let files = filesByID[id] ?? []
        if files.count > 1 { return .failure(.duplicate(id, files)) }
        if let def = agents[id] { return .success(def) }
        if let file = files.first {
            return .failure(.invalid(id, diagnostics.filter { $0.file == file }))
        }
        return .failure(.unknown(id, agentsDir: agentsDir, brokenFiles: brokenAgentFiles))
    }

    /// The files of a folder with one of `extensions`, sorted, hidden files skipped.
    /// A missing folder is reported once; it is not an error to have no agents.
    static func files(in dir: String, extensions: [String], problems: inout [Diagnostic]) -> [(path: String, display: String)] {
        guard let d = opendir(dir) else {
            problems.append(Diagnostic(.error, file: dir, "cannot read folder: \(errnoText(errno))"))
            return []
        }
        defer { closedir(d) }
        var names: [String] = []
        while let entry = readdir(d) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(decoding: raw.prefix(while: { $0 != 0 }), as: UTF8.self)
            }
            guard !name.hasPrefix("."), let dot = name.lastIndex(of: ".") else { continue }
            if extensions.contains(name[name.index(after: dot)...].lowercased()) { names.append(name) }
        }
        let display = dir.hasPrefix("./") ? String(dir.dropFirst(2)) : dir
        let prefix = display.hasSuffix("/") ? display : display + "/"
        return names.sorted().map { (path: dir + "/" + $0, display: prefix + $0) }
    }
}
