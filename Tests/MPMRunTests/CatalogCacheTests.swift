import Foundation
import Testing

@testable import MPMRun

/// serve reuses its catalog while the files are unchanged; every kind of edit must still be
/// seen at the next request, however quickly it follows the last one.
@Suite struct CatalogCacheTests {
    struct Folders {
        let root: String
        var agents: String { root + "/agents" }
        var profiles: String { root + "/profiles" }

        init() throws {
            root = NSTemporaryDirectory() + "mpm-catalog-\(UUID().uuidString)"
            try FileManager.default.createDirectory(atPath: root + "/agents", withIntermediateDirectories: true)
            try FileManager.default.createDirectory(atPath: root + "/profiles", withIntermediateDirectories: true)
            try write("profiles/p.yaml", CatalogFixtures.profile("[read_files]"))
            try write("agents/a.yaml", CatalogFixtures.agent("a", "First run."))
        }

        /// Writes in place (same inode), as an editor that does not rename would.
        func write(_ name: String, _ text: String) throws {
            let fd = open(root + "/" + name, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
            guard fd >= 0 else { throw POSIXError(.EIO) }
            defer { close(fd) }
            let bytes = Array(text.utf8)
            guard Glibc.write(fd, bytes, bytes.count) == bytes.count else { throw POSIXError(.EIO) }
        }


        func remove() { try? FileManager.default.removeItem(atPath: root) }
    }

    func instructions(_ c: Catalog, _ id: String) -> String? {
        if case .success(let d) = c.agent(id) { return d.instructions }
        return nil
    }

    func permissions(_ c: Catalog) -> Set<Permission> { c.profiles.profiles.first?.permissions ?? [] }

    @Test func anUnchangedFolderIsReadOnceAndEveryEditIsSeen() throws {
        let f = try Folders()
        defer { f.remove() }
        let cache = CatalogCache(agentsDir: f.agents, profilesDir: f.profiles)
        #expect(instructions(cache.current(), "a") == "First run.")
        #expect(instructions(cache.current(), "a") == "First run.")
        #expect(cache.reads.load(ordering: .relaxed) == 1, "an unchanged folder is parsed once")

        // An in-place edit of the same size, at once: seen.
        try f.write("agents/a.yaml", CatalogFixtures.agent("a", "Other run."))
        #expect(instructions(cache.current(), "a") == "Other run.")
        // And again within the same instant (the same timestamps, perhaps): seen too.
        try f.write("agents/a.yaml", CatalogFixtures.agent("a", "Third run."))
        #expect(instructions(cache.current(), "a") == "Third run.")

        // A profile edit, an agent added, an agent removed.
        _ = cache.current()
        try f.write("profiles/p.yaml", CatalogFixtures.profile("[read_files, write_files]"))
        #expect(permissions(cache.current()).contains(.writeFiles))
        _ = cache.current()
        try f.write("agents/b.yaml", CatalogFixtures.agent("b", "Second agent."))
        #expect(instructions(cache.current(), "b") == "Second agent.")
        _ = cache.current()
        unlink(f.agents + "/b.yaml")
        #expect(instructions(cache.current(), "b") == nil)

        // A file replaced by a rename (a new inode) with the very same size and mtime.
        _ = cache.current()
        let before = cache.reads.load(ordering: .relaxed)
        try f.write("agents/a.new", CatalogFixtures.agent("a", "Fifth run."))
        var times = [timespec(), timespec()]
        var st = stat()
        stat(f.agents + "/a.yaml", &st)
        times[0] = st.st_atim
        times[1] = st.st_mtim
        utimensat(AT_FDCWD, f.agents + "/a.new", &times, 0)
        rename(f.agents + "/a.new", f.agents + "/a.yaml")
        #expect(instructions(cache.current(), "a") == "Fifth run.")
        #expect(cache.reads.load(ordering: .relaxed) == before + 1)
    }

    /// A folder that exists but cannot be read (here a file where the folder should be; in
    /// life EMFILE or EACCES) is not "no such agent", and such a catalog is never kept.
    @Test func anUnreadableFolderIsNamedAndNeverCached() throws {
        let f = try Folders()
        defer { f.remove() }
        try f.write("not-a-folder", "x")
        let cache = CatalogCache(agentsDir: f.root + "/not-a-folder", profilesDir: f.profiles)
        let c = cache.current()
        guard case .failure(let e) = c.agent("a") else { Issue.record("found an agent in a file"); return }
        #expect(e.description.contains("cannot read folder") && e.description.contains("not-a-folder"), "\(e)")
        #expect(!e.description.contains("unknown agent"))
        _ = cache.current()
        _ = cache.current()
        #expect(cache.reads.load(ordering: .relaxed) == 3, "an incomplete catalog is read again every time")
    }

    @Test func aMissingFolderIsReportedEveryTime() throws {
        let f = try Folders()
        defer { f.remove() }
        let cache = CatalogCache(agentsDir: f.root + "/nowhere", profilesDir: f.profiles)
        #expect(cache.current().diagnostics.contains { $0.description.contains("nowhere") })
        try FileManager.default.createDirectory(atPath: f.root + "/nowhere", withIntermediateDirectories: true)
        try f.write("nowhere/a.yaml", CatalogFixtures.agent("a", "Found it here."))
        #expect(instructions(cache.current(), "a") == "Found it here.")
    }
}
