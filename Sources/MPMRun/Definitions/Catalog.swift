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

/// The catalog of a long-lived process (`serve`), read again only when a file of its
/// folders has changed: an edit is seen at the next request, and an unchanged folder is
/// not parsed again for every run.
///
/// Each request lists both folders and stats their files (about a microsecond a file);
/// a catalog is reused while the folders, the file names and every file's device, inode,
/// size, mtime and ctime are as they were. A catalog read while a file had changed within
/// the last second is not kept at all: a second change within the clock's granularity could
/// leave the same stamps, so only files that have settled are trusted to show a change.
public final class CatalogCache: Sendable {
    public let agentsDir: String
    public let profilesDir: String

    struct Stamp: Equatable, Sendable {
        var path: String
        var errno: Int32
        var device: UInt64 = 0
        var inode: UInt64 = 0
        var size: Int64 = 0
        var modified: timespec = timespec()
        var changed: timespec = timespec()

        init(path: String) {
            self.path = path
            var st = stat()
            guard stat(path, &st) == 0 else {
                errno = Glibc.errno
                return
            }
            errno = 0
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = st.st_mtim
            changed = st.st_ctim
        }

        static func == (a: Stamp, b: Stamp) -> Bool {
            a.path == b.path && a.errno == b.errno && a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
                && a.changed.tv_sec == b.changed.tv_sec && a.changed.tv_nsec == b.changed.tv_nsec
        }
    }

    private struct Entry: Sendable {
        var stamps: [Stamp]
        var catalog: Catalog
    }

    private let cached = Mutex<Entry?>(nil)
    /// How many times the folders were parsed (for tests).
    let reads = Atomic<Int>(0)

    public init(agentsDir: String, profilesDir: String) {
        self.agentsDir = agentsDir
        self.profilesDir = profilesDir
    }

    /// The folders and the files a `Catalog` would read, as they are now.
    func stamps() -> [Stamp] {
        var ignored: [Diagnostic] = []
        var out = [Stamp(path: profilesDir), Stamp(path: agentsDir)]
        for (dir, extensions) in [(profilesDir, ["yaml", "yml"]), (agentsDir, AgentParser.extensions)] {
            out += Catalog.files(in: dir, extensions: extensions, problems: &ignored).map { Stamp(path: $0.path) }
        }
        return out
    }

    /// The catalog as the files are now.
    public func current() -> Catalog {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        let stamps = stamps()
        if let entry = cached.withLock({ $0 }), entry.stamps == stamps { return entry.catalog }
        let catalog = Catalog(agentsDir: agentsDir, profilesDir: profilesDir)
        reads.add(1, ordering: .relaxed)
        let settled = stamps.allSatisfy { $0.errno != 0 || $0.changed.tv_sec < now.tv_sec - 1 }
        cached.withLock { $0 = settled ? Entry(stamps: stamps, catalog: catalog) : nil }
        return catalog
    }
}
