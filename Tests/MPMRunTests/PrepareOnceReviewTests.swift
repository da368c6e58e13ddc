import Foundation
import Testing

@testable import MPMRun

/// Review (helper-13) of serve's prepare-once caches: attacks that the caches withstand,
/// kept as regression tests. (The ones they do not withstand are in the review report.)
@Suite struct PrepareOnceReviewTests {
    // MARK: seccomp template

    /// Pointer halves that equal constants libseccomp itself puts in the program (syscall
    /// numbers, the arch, actions, masks), zero, all ones, the sentinels' own halves: a
    /// patched template must still be byte for byte libseccomp's compile.
    @Test func patchedTemplatesMatchFreshCompilesForAdversarialPointers() throws {
        let specials: [UInt32] = [
            0, 1, 2, 59, 322, 56, 57, 58, 41, 16, 0xC000_003E, 0x4000_0000, 0x4000_003B, 0x7FFF_0000, 0x7FC0_0000,
            0x0005_0001, 0x0005_0026, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF_FFFE, 0x0000_5412, 0x7E00_0000,
            0x0001_0000, 0x0000_0100, 0x0000_7FFF,
        ] + SeccompFilter.sentinelHalves
        var random = SeededRandom(seed: 0x1313_1313)
        func half() -> UInt32 { specials[Int(random.next() % UInt64(specials.count))] }
        func pointer() -> UInt { UInt(UInt64(half()) << 32 | UInt64(half())) }
        let policies: [(Set<Permission>, Bool)] = [([], true), ([], false), ([.readFiles, .writeFiles], true),
                                                   ([.networkAccess], false), ([.readFiles, .networkAccess, .writeFiles], true)]
        var mismatches: [String] = []
        for (permissions, notify) in policies {
            var cases: [SeccompFilter.OwnExec] = []
            let s = SeccompFilter.sentinels
            cases.append(s)
            cases.append(.init(path: s.argv, argv: s.envp, envp: s.path))  // sentinels in the wrong places
            cases.append(.init(path: 0, argv: 0, envp: 0))
            cases.append(.init(path: UInt.max, argv: UInt.max, envp: UInt.max))
            for _ in 0..<60 { cases.append(.init(path: pointer(), argv: pointer(), envp: pointer())) }
            for own in cases {
                let cached = try SeccompFilter.forLaunch(permissions: permissions, ownExec: own, notify: notify)
                let fresh = try SeccompFilter(permissions: permissions, ownExec: own, notify: notify)
                if cached.program != fresh.program {
                    mismatches.append("\(permissions.sorted()) notify \(notify): \(own)")
                }
            }
        }
        #expect(mismatches.isEmpty, "\(mismatches.prefix(5))")
    }

    // MARK: catalog cache

    struct Tree {
        let root = NSTemporaryDirectory() + "mpm-h13-\(UUID().uuidString)"
        init() throws { try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true) }
        func mkdir(_ name: String) throws { try FileManager.default.createDirectory(atPath: root + "/" + name, withIntermediateDirectories: true) }
        func write(_ name: String, _ text: String) throws { try text.write(toFile: root + "/" + name, atomically: false, encoding: .utf8) }
        func link(_ name: String, to target: String) { unlink(root + "/" + name); symlink(target, root + "/" + name) }
        /// Gives `name` the mtime of `like`, so only the inode or ctime can tell them apart.
        func sameTimes(_ name: String, like: String) {
            var st = stat()
            stat(root + "/" + like, &st)
            var times = [st.st_atim, st.st_mtim]
            utimensat(AT_FDCWD, root + "/" + name, &times, 0)
        }
        func remove() { try? FileManager.default.removeItem(atPath: root) }

        static let wide = CatalogFixtures.profile("[read_files, network_access]")
        static let tight = CatalogFixtures.profile("[read_files]                ")
        static let agent = CatalogFixtures.agent()
    }

    func network(_ c: Catalog) -> Bool? { c.profiles.profiles.first?.permissions.contains(.networkAccess) }

    /// The profiles folder is a symlink, retargeted to a folder whose file has the same name,
    /// size and mtime; a profile file is a symlink to a file edited in place elsewhere, then
    /// retargeted; the folder is replaced by a rename. Each is seen at the next request.
    @Test func symlinksRetargetedAndFoldersReplacedAreSeen() throws {
        #expect(Tree.wide.utf8.count == Tree.tight.utf8.count)
        let t = try Tree()
        defer { t.remove() }
        try t.mkdir("agents"); try t.mkdir("A"); try t.mkdir("B")
        try t.write("agents/a.yaml", Tree.agent)
        try t.write("A/p.yaml", Tree.wide)
        try t.write("B/p.yaml", Tree.tight)
        t.sameTimes("B/p.yaml", like: "A/p.yaml")
        t.link("profiles", to: t.root + "/A")
        let cache = CatalogCache(agentsDir: t.root + "/agents", profilesDir: t.root + "/profiles")
        sleep(2)
        #expect(network(cache.current()) == true)
        #expect(network(cache.current()) == true)
        #expect(cache.reads.load(ordering: .relaxed) == 1)
        t.link("profiles", to: t.root + "/B")
        #expect(network(cache.current()) == false, "the retargeted folder symlink")

        // A file symlink whose target is edited in place (same size), elsewhere.
        try t.mkdir("C"); try t.mkdir("elsewhere")
        try t.write("elsewhere/real.yaml", Tree.wide)
        t.link("C/p.yaml", to: t.root + "/elsewhere/real.yaml")
        t.link("profiles", to: t.root + "/C")
        sleep(2)
        #expect(network(cache.current()) == true)
        let reads = cache.reads.load(ordering: .relaxed)
        #expect(network(cache.current()) == true)
        #expect(cache.reads.load(ordering: .relaxed) == reads)
        let fd = open(t.root + "/elsewhere/real.yaml", O_WRONLY)
        let bytes = Array(Tree.tight.utf8)
        #expect(pwrite(fd, bytes, bytes.count, 0) == bytes.count)
        close(fd)
        #expect(network(cache.current()) == false, "the symlinked file's target edited in place")

        // The same symlink retargeted to another file of the same size and mtime.
        try t.write("elsewhere/wide.yaml", Tree.wide)
        t.sameTimes("elsewhere/wide.yaml", like: "elsewhere/real.yaml")
        sleep(2)
        _ = cache.current()
        t.link("C/p.yaml", to: t.root + "/elsewhere/wide.yaml")
        #expect(network(cache.current()) == true, "the file symlink retargeted")

        // A real folder replaced by a rename of another.
        unlink(t.root + "/profiles")
        try t.mkdir("profiles")
        try t.write("profiles/p.yaml", Tree.wide)
        try t.mkdir("next")
        try t.write("next/p.yaml", Tree.tight)
        t.sameTimes("next/p.yaml", like: "profiles/p.yaml")
        sleep(2)
        #expect(network(cache.current()) == true)
        #expect(network(cache.current()) == true)
        try FileManager.default.removeItem(atPath: t.root + "/profiles")
        rename(t.root + "/next", t.root + "/profiles")
        #expect(network(cache.current()) == false, "the folder replaced by a rename")
    }
}
