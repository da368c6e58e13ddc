import Glibc
import Synchronization

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
        /// The agents or profiles folder exists but could not be read (EACCES, EMFILE...):
        /// whether the agent exists, and under which profile, is unknown.
        case folderUnreadable(String, Diagnostic)
        /// No file that could be read defines the agent, and a file of the agents folder could
        /// not be read (EMFILE, EACCES...): it may be the one that does.
        case notFoundWhileUnreadable(String, Diagnostic)

        /// One line: the id comes from the request (a serve client's may hold anything).
        public var description: String { Diagnostic.oneLine(text) }

        private var text: String {
            switch self {
            case .unknown(let id, let dir, let broken):
                let hint = broken > 0 ? " (\(broken) file\(broken == 1 ? " there is" : "s there are") invalid: run mpm-run check)" : ""
                return "unknown agent '\(id)': no file in \(dir) defines it\(hint)"
            case .invalid(_, let ds):
                return ds.first(where: \.isError)?.description ?? "invalid agent"
            case .duplicate(let id, let files):
                return "agent '\(id)' is defined by more than one file: \(files.joined(separator: ", "))"
            case .folderUnreadable(_, let problem):
                return problem.description
            case .notFoundWhileUnreadable(let id, let problem):
                return "agent '\(id)' not found, and \(problem.file) could not be read (\(problem.message)), "
                    + "which may define it: run mpm-run check"
            }
        }
    }

    public init(agentsDir: String, profilesDir: String) {
        self.init(files: CatalogFiles.read(agentsDir: agentsDir, profilesDir: profilesDir))
    }

    /// Parses what `files` read.
    init(files: CatalogFiles) {
        agentsDir = files.agentsDir
        profilesDir = files.profilesDir
        unreadableFolder = files.unreadableFolder
        var results: [(String, ProfileParser.Result)] = []
        for file in files.profiles {
            switch file.source {
            case .success(let source):
                sources.append(source)
                results.append((file.display, ProfileParser.parse(source)))
            case .failure(let error):
                results.append((file.display, ProfileParser.Result(profile: nil, name: nil, claims: nil, diagnostics: [error])))
            }
        }
        profiles = ProfileSet(results: results)
        diagnostics.append(contentsOf: files.profileFolderProblems)
        for (_, r) in results { diagnostics.append(contentsOf: r.diagnostics) }
        diagnostics.append(contentsOf: profiles.crossFileErrors)

        diagnostics.append(contentsOf: files.agentFolderProblems)
        for file in files.agents {
            let display = file.display
            let result: AgentParser.Result
            switch file.source {
            case .success(let source):
                sources.append(source)
                result = AgentParser.parse(source)
            case .failure(let error):
                result = AgentParser.Result(definition: nil, id: nil, diagnostics: [error])
                if unreadableAgentFile == nil { unreadableAgentFile = error }
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
        c.unreadableAgentFile = nil
        return c
    }

    private var brokenAgentFiles = 0
    /// The first agent file that could not be read (opened, or read whole): it may be the
    /// one that defines an agent not found elsewhere.
    private var unreadableAgentFile: Diagnostic?
    /// The problem of a folder that exists but could not be read: no lookup can be answered.
    private var unreadableFolder: Diagnostic?
    /// file → where its agent_id stands, for the duplicate message.
    private var idLocations: [String: SourceLocation] = [:]

    /// The agent with this id, or why it cannot be used.
    public func agent(_ id: String) -> Result<AgentDefinition, LookupError> {
        if let unreadableFolder { return .failure(.folderUnreadable(id, unreadableFolder)) }
        let files = filesByID[id] ?? []
        if files.count > 1 { return .failure(.duplicate(id, files)) }
        if let def = agents[id] { return .success(def) }
        if let file = files.first {
            return .failure(.invalid(id, diagnostics.filter { $0.file == file }))
        }
        if let unreadableAgentFile { return .failure(.notFoundWhileUnreadable(id, unreadableAgentFile)) }
        return .failure(.unknown(id, agentsDir: agentsDir, brokenFiles: brokenAgentFiles))
    }

    /// The files of a folder with one of `extensions`, sorted, hidden files skipped.
    /// A missing folder is reported once; it is not an error to have no agents.
    static func files(in dir: String, extensions: [String], problems: inout [Diagnostic]) -> [(path: String, display: String)] {
        var unreadable: Diagnostic?
        return files(in: dir, extensions: extensions, problems: &problems, unreadable: &unreadable)
    }

    /// `unreadable` is set when the folder exists but cannot be read.
    static func files(in dir: String, extensions: [String], problems: inout [Diagnostic],
                      unreadable: inout Diagnostic?) -> [(path: String, display: String)] {
        guard let d = opendir(dir) else {
            let e = errno
            problems.append(Diagnostic(.error, file: dir, "cannot read folder: \(errnoText(e))"))
            if e != ENOENT { unreadable = problems.last }
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

/// The files of the agents and profiles folders as read at one moment: what a `Catalog` is
/// parsed from, and what `CatalogCache` compares.
struct CatalogFiles: Sendable, Equatable {
    struct File: Sendable, Equatable {
        var display: String
        var source: Result<SourceFile, Diagnostic>
    }

    var agentsDir: String
    var profilesDir: String
    var profiles: [File] = []
    var agents: [File] = []
    var profileFolderProblems: [Diagnostic] = []
    var agentFolderProblems: [Diagnostic] = []
    /// A folder that exists but could not be read.
    var unreadableFolder: Diagnostic?
    /// Files that could not be read (opened, or read whole).
    var readFailures: Int { (profiles + agents).filter { if case .failure = $0.source { true } else { false } }.count }

    /// Every folder and file was read: what was found does not depend on a passing
    /// condition (EMFILE, EIO...).
    var isComplete: Bool { unreadableFolder == nil && readFailures == 0 }

    static func read(agentsDir: String, profilesDir: String) -> CatalogFiles {
        var files = CatalogFiles(agentsDir: agentsDir, profilesDir: profilesDir)
        func read(_ dir: String, _ extensions: [String], _ problems: inout [Diagnostic], _ unreadable: inout Diagnostic?) -> [File] {
            Catalog.files(in: dir, extensions: extensions, problems: &problems, unreadable: &unreadable).map { file in
                do throws(Diagnostic) {
                    return File(display: file.display, source: .success(try SourceFile.read(path: file.path, displayName: file.display)))
                } catch {
                    return File(display: file.display, source: .failure(error))
                }
            }
        }
        files.profiles = read(profilesDir, ["yaml", "yml"], &files.profileFolderProblems, &files.unreadableFolder)
        files.agents = read(agentsDir, AgentParser.extensions, &files.agentFolderProblems, &files.unreadableFolder)
        return files
    }
}

/// The catalog of a long-lived process (`serve`), parsed again only when the files of its
/// folders have changed: an edit is seen at the next request, and an unchanged folder is not
/// parsed again for every run.
///
/// Every request reads both folders and every file in them (a few microseconds a file) and
/// compares names, bytes, modes and owners with what the kept catalog was parsed from. No
/// timestamp is trusted: a write through a shared mapping, a network filesystem's attribute
/// cache or a clock step can leave an edited file's stamps as they were, and a tightened
/// profile must govern the very next run. A catalog is kept only when every folder and file
/// could be read: a failure that passes (EMFILE, EIO...) must not stay in force.
public final class CatalogCache: Sendable {
    public let agentsDir: String
    public let profilesDir: String

    private struct Entry: Sendable {
        var files: CatalogFiles
        var catalog: Catalog
    }

    private let cached = Mutex<Entry?>(nil)
    /// How many times the folders were parsed (for tests).
    let reads = Atomic<Int>(0)

    public init(agentsDir: String, profilesDir: String) {
        self.agentsDir = agentsDir
        self.profilesDir = profilesDir
    }

    /// The catalog as the files are now.
    public func current() -> Catalog {
        let files = CatalogFiles.read(agentsDir: agentsDir, profilesDir: profilesDir)
        if let entry = cached.withLock({ $0 }), entry.files == files { return entry.catalog }
        let catalog = Catalog(files: files)
        reads.add(1, ordering: .relaxed)
        cached.withLock { $0 = files.isComplete ? Entry(files: files, catalog: catalog) : nil }
        return catalog
    }
}
