import Foundation
import Glibc
import Testing

@testable import MPMRun

/// A project root and a private <tmp> for one test, both under /tmp, removed at the end.
private final class Fixture {
    let top: String
    let root: String
    let tmp: String
    var base: String { tmp + "/mpm-run" }

    init() throws {
        var template = Array("/tmp/mpm-ws-test-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw POSIXError(.EIO) }
        top = String(cString: made)
        root = top + "/project"
        tmp = top + "/tmp"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: tmp, withIntermediateDirectories: true)
    }

    deinit { removeAll() }

    func removeAll() {
        // Copies are 0400/0500: make everything writable again before removing.
        for tool in [["/bin/chmod", "-R", "u+rwX", top], ["/bin/rm", "-rf", top]] {
            let p = Process()
            p.executableURL = URL(fileURLWithPath: tool[0])
            p.arguments = Array(tool.dropFirst())
            try? p.run()
            p.waitUntilExit()
        }
    }

    @discardableResult
    func write(_ rel: String, _ text: String, base: String? = nil) throws -> String {
        let path = (base ?? root) + "/" + rel
        try FileManager.default.createDirectory(atPath: (path as NSString).deletingLastPathComponent,
                                                withIntermediateDirectories: true)
        try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        return path
    }

    func symlink(_ rel: String, to target: String) throws {
        try FileManager.default.createSymbolicLink(atPath: root + "/" + rel, withDestinationPath: target)
    }

    func create(_ inputs: [String], readPaths: [String]? = nil, owner: (uid: uid_t, gid: gid_t)? = nil,
                runID: String = "run-\(UInt32.random(in: 0...UInt32.max))") throws(WorkspaceError) -> Workspace {
        try Workspace.create(runID: runID, policy: testPolicy(readPaths: readPaths), inputs: inputs,
                             projectRoot: root, cwd: root, owner: owner, tmp: tmp)
    }

    /// The names left in <tmp>/mpm-run.
    func runFolders() -> [String] {
        ((try? FileManager.default.contentsOfDirectory(atPath: base)) ?? []).sorted()
    }
}

private func testPolicy(readPaths: [String]?, instructions: String = "Summarise the inputs into output/summary.md.\n") -> EffectivePolicy {
    EffectivePolicy(
        agent: .init(id: "tester", name: "Tester", version: "1.0.0", type: "qa", format: .native,
                     file: "agents/tester.yaml", description: "Tests."),
        profile: "qa", profileFile: nil,
        permissions: readPaths == nil ? [] : [.readFiles],
        limits: ResourceLimits(memoryMB: 256, cpuSeconds: 10, timeoutSeconds: 60, maxProcesses: 16,
                               maxOpenFiles: 128, maxFileSizeMB: 16, maxOutputBytes: 1 << 20),
        readPaths: readPaths ?? [], writePaths: [], argv: ["/bin/true"], executable: "/bin/true",
        environment: .init(set: [], passThrough: [], secrets: []), capabilities: [],
        incidents: IncidentThresholds(), decisions: [], warnings: [], instructions: instructions)
}

private func mode(_ path: String) -> mode_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_mode & 0o7777
}

private func owner(_ path: String) -> uid_t? {
    var st = stat()
    guard lstat(path, &st) == 0 else { return nil }
    return st.st_uid
}

private func exists(_ path: String) -> Bool {
    var st = stat()
    return lstat(path, &st) == 0
}

private func contents(_ path: String) -> String? {
    FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
}

/// Runs `body` with every descriptor the process may open in use (EMFILE for any new one).
private func withoutDescriptors(_ body: () -> Void) {
    let spare = open("/dev/null", O_RDONLY)
    var held: [Int32] = []
    while spare >= 0 {
        let fd = dup(spare)
        if fd < 0 { break }
        held.append(fd)
    }
    body()
    for fd in held { close(fd) }
    if spare >= 0 { close(spare) }
}

/// The error `body` throws, or nil.
private func failure(_ body: () throws(WorkspaceError) -> Workspace) -> WorkspaceError? {
    do {
        let ws = try body()
        try? ws.remove()
        return nil
    } catch {
        return error
    }
}

@Suite struct WorkspaceTests {
    /// Out of descriptors (in serve, runs that wait hold theirs), a sandbox's removal is set
    /// aside, not dropped: the sandbox waits with its two fds and goes once descriptors are
    /// free again. In a child process, which uses up every descriptor it may open, each time
    /// only for the calls under test (the test library's own threads may need one).
    @Test func aRemovalThatFindsNoDescriptorWaitsAndHappensLater() async {
        let result = await #expect(processExitsWith: .success, observing: [\.standardErrorContent]) {
            // Room for 64 more than it holds (it may inherit descriptors of the tests running
            // beside it in the parent), so that using them all up is quick.
            let open = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd"))?.compactMap { Int($0) } ?? []
            var limit = rlimit()
            guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { exit(10) }
            limit.rlim_cur = min(limit.rlim_max, rlim_t((open.max() ?? 2) + 64))
            guard setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { exit(10) }
            guard let f = try? Fixture(), (try? f.write("docs/sub/a.md", "a")) != nil,
                  let first = try? f.create(["docs"]), let second = try? f.create(["docs"]) else { exit(11) }
            // Removed at once, it fails: set aside, still there. Tried again while descriptors
            // are still short: still set aside.
            var now: String?, again: [String] = [], later: String?
            withoutDescriptors { now = first.removeOrDefer(); again = Workspace.removeDeferred() }
            guard now == nil, again.isEmpty, Workspace.deferredCount == 1, exists(first.path) else { exit(13) }
            // Descriptors are free again: it goes.
            guard Workspace.removeDeferred().isEmpty, Workspace.deferredCount == 0, !exists(first.path) else { exit(15) }

            // The last try (serve's end, the run command's) removes what is set aside too.
            withoutDescriptors { later = second.removeOrDefer() }
            guard later == nil, Workspace.deferredCount == 1 else { exit(16) }
            guard Workspace.removeDeferred(last: true).isEmpty, Workspace.deferredCount == 0, f.runFolders().isEmpty else { exit(17) }
            f.removeAll()  // exit skips deinit
            exit(0)
        }
        if let result, result.exitStatus != .exitCode(EXIT_SUCCESS) {
            Issue.record("the child's stderr: \(String(decoding: result.standardErrorContent, as: UTF8.self))")
        }
    }

    // MARK: - Layout

    @Test func createsTheLayoutWithItsModesAndContents() throws {
        let f = try Fixture()
        try f.write("notes.txt", "hello\n")
        try f.write("docs/guide.md", "# Guide\n")
        try f.write("docs/sub/deep.md", "deep\n")
        let ws = try f.create(["notes.txt", "docs"], runID: "r-layout")

        #expect(ws.path == f.base + "/r-layout")
        #expect(mode(f.base) == 0o1777)
        #expect(mode(ws.path) == 0o700)
        #expect(mode(ws.inputPath) == 0o500)
        #expect(mode(ws.outputPath) == 0o700)
        #expect(mode(ws.tempPath) == 0o700)
        #expect(mode(ws.inputPath + "/notes.txt") == 0o400)
        #expect(mode(ws.inputPath + "/docs") == 0o500)
        #expect(mode(ws.inputPath + "/docs/sub") == 0o500)
        #expect(mode(ws.inputPath + "/docs/sub/deep.md") == 0o400)
        #expect(contents(ws.inputPath + "/notes.txt") == "hello\n")
        #expect(contents(ws.inputPath + "/docs/guide.md") == "# Guide\n")
        #expect(contents(ws.inputPath + "/docs/sub/deep.md") == "deep\n")
        #expect(contents(ws.instructionsPath) == "Summarise the inputs into output/summary.md.\n")
        #expect(mode(ws.instructionsPath) == 0o400)
        #expect(ws.skippedInputs.isEmpty)

        // supervisor.pid: our pid and our start time.
        let stamp = try #require(contents(ws.path + "/supervisor.pid"))
        let words = stamp.split(separator: " ").map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
        #expect(words.first == String(getpid()))
        #expect(words.count == 2 && UInt64(words[1]) == SupervisorStamp.startTime(of: getpid()))

        try ws.remove()
        #expect(!exists(ws.path))
        #expect(f.runFolders().isEmpty)
    }

    @Test func inputsRelativeToTheWorkingFolderAndAbsoluteInsideTheRoot() throws {
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        try f.write("b.txt", "b")
        let ws = try Workspace.create(runID: "r-cwd", policy: testPolicy(readPaths: nil),
                                      inputs: ["a.md", f.root + "/b.txt"], projectRoot: f.root,
                                      cwd: f.root + "/docs", owner: nil, tmp: f.tmp)
        #expect(contents(ws.inputPath + "/a.md") == "a")
        #expect(contents(ws.inputPath + "/b.txt") == "b")
        try ws.remove()
    }

    @Test func ownerGetsTheRunFolderAndEverythingInIt() throws {
        guard geteuid() == 0 else { return }  // chown to another uid needs root
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        let ws = try f.create(["docs"], owner: (uid: 65534, gid: 65534))
        for p in [ws.path, ws.inputPath, ws.outputPath, ws.tempPath, ws.instructionsPath,
                  ws.inputPath + "/docs", ws.inputPath + "/docs/a.md"] {
            #expect(owner(p) == 65534, "\(p)")
        }
        #expect(mode(ws.inputPath + "/docs/a.md") == 0o400)
        #expect(mode(ws.outputPath) == 0o700)
        // The supervisor's own record stays the supervisor's.
        #expect(owner(ws.path + "/supervisor.pid") == 0)
        try ws.remove()
        #expect(!exists(ws.path))
    }

    // MARK: - Refusals

    @Test func refusesInputsOutsideTheProjectRoot() throws {
        let f = try Fixture()
        try f.write("x", "secret", base: f.top)
        let up = try #require(failure { () throws(WorkspaceError) in try f.create(["../x"]) })
        #expect(up.kind == .inputOutsideAllowed(path: "../x", reason: "outside the project root \(f.root)"))
        #expect(up.description == "input ../x: outside the project root \(f.root)")

        let abs = try #require(failure { () throws(WorkspaceError) in try f.create(["/etc/hostname"]) })
        #expect(abs.description == "input /etc/hostname: outside the project root \(f.root)")

        let sneaky = try #require(failure { () throws(WorkspaceError) in try f.create(["docs/../../x"]) })
        #expect(sneaky.description.hasPrefix("input docs/../../x: outside the project root"))
        #expect(f.runFolders().isEmpty)
    }

    @Test func aSymlinkLeavingTheRootIsRefusedAndOneStayingInsideIsFollowed() throws {
        let f = try Fixture()
        try f.write("real.txt", "inside")
        try f.symlink("passwd", to: "/etc/passwd")
        try f.symlink("up", to: "../../../../../../etc/passwd")
        try f.symlink("near", to: "real.txt")

        for link in ["passwd", "up"] {
            let e = try #require(failure { () throws(WorkspaceError) in try f.create([link]) })
            #expect(e.kind == .inputOutsideAllowed(path: link, reason: "a symlink leaves the allowed paths"))
            #expect(e.description == "input \(link): a symlink leaves the allowed paths")
        }
        let ws = try f.create(["near"])
        #expect(contents(ws.inputPath + "/near") == "inside")
        #expect(mode(ws.inputPath + "/near") == 0o400)  // a copy of the content, not a link
        try ws.remove()
    }

    @Test func aSymlinkInsideAnInputFolderThatLeavesIsRefused() throws {
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        try f.write("elsewhere.txt", "still inside the project")
        // Leaves the folder but stays in the project: fine (resolved beneath the root).
        try f.symlink("docs/sibling", to: "../elsewhere.txt")
        let ws = try f.create(["docs"])
        #expect(contents(ws.inputPath + "/docs/sibling") == "still inside the project")
        try ws.remove()

        try f.symlink("docs/evil", to: "/etc/passwd")
        let e = try #require(failure { () throws(WorkspaceError) in try f.create(["docs"]) })
        #expect(e.description == "input docs/evil: a symlink leaves the allowed paths")
        #expect(f.runFolders().isEmpty)
    }

    @Test func withReadFilesAnInputMustLieInsideTheReadPaths() throws {
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        try f.write("secret.txt", "s")
        let readPaths = [f.root + "/docs"]

        let outside = try #require(failure { () throws(WorkspaceError) in try f.create(["secret.txt"], readPaths: readPaths) })
        #expect(outside.description == "input secret.txt: outside the agent's read_paths (\(f.root)/docs)")

        let ws = try f.create(["docs/a.md"], readPaths: readPaths)
        #expect(contents(ws.inputPath + "/a.md") == "a")
        try ws.remove()

        // Inside the project but outside the read path: a symlink there is refused too.
        try f.symlink("docs/peek", to: "../secret.txt")
        let link = try #require(failure { () throws(WorkspaceError) in try f.create(["docs/peek"], readPaths: readPaths) })
        #expect(link.description == "input docs/peek: a symlink leaves the allowed paths")

        let none = try #require(failure { () throws(WorkspaceError) in try f.create(["docs/a.md"], readPaths: []) })
        #expect(none.description == "input docs/a.md: outside the agent's read_paths (none)")
    }

    @Test func missingDuplicateAndUnsupportedInputs() throws {
        let f = try Fixture()
        try f.write("a/readme.md", "1")
        try f.write("b/readme.md", "2")
        try f.write("INSTRUCTIONS.md", "mine")

        let missing = try #require(failure { () throws(WorkspaceError) in try f.create(["nope.txt"]) })
        #expect(missing.kind == .inputMissing(path: "nope.txt"))

        let dup = try #require(failure { () throws(WorkspaceError) in try f.create(["a/readme.md", "b/readme.md"]) })
        #expect(dup.kind == .duplicateInputName(name: "readme.md", first: "a/readme.md", second: "b/readme.md"))
        #expect(dup.description == "input b/readme.md: its name 'readme.md' is already taken in input/ by a/readme.md")

        let instructions = try #require(failure { () throws(WorkspaceError) in try f.create(["INSTRUCTIONS.md"]) })
        #expect(instructions.kind == .duplicateInputName(name: "INSTRUCTIONS.md", first: "INSTRUCTIONS.md", second: "INSTRUCTIONS.md"))

        #expect(mkfifo(f.root + "/pipe", 0o600) == 0)
        let fifo = try #require(failure { () throws(WorkspaceError) in try f.create(["pipe"]) })
        #expect(fifo.kind == .inputNotCopyable(path: "pipe", what: "a FIFO"))

        let badID = try #require(failure { () throws(WorkspaceError) in try f.create([], runID: "../escape") })
        #expect(badID.kind == .badRunID("../escape"))
        #expect(f.runFolders().isEmpty)
    }

    // A hang (open(2) of the FIFO) fails here rather than stalling the suite. The limit's
    // clock runs while the test waits for a thread of the test library's pool, which the
    // end-to-end tests, waiting on processes, keep busy for minutes: hence five.
    @Test(.timeLimit(.minutes(5)))
    func aFIFOInsideAnInputFolderIsSkippedWithoutBlocking() throws {
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        #expect(mkfifo(f.root + "/docs/pipe", 0o600) == 0)
        let ws = try f.create(["docs"])
        #expect(contents(ws.inputPath + "/docs/a.md") == "a")
        #expect(!exists(ws.inputPath + "/docs/pipe"))
        #expect(ws.skippedInputs == [SkippedEntry(path: "docs/pipe", reason: "a FIFO, not copied")])
        try ws.remove()
    }

    @Test func aSymlinkLoopInsideAnInputFolderIsNotFollowedForever() throws {
        let f = try Fixture()
        try f.write("docs/a.md", "a")
        try f.symlink("docs/again", to: ".")
        let ws = try f.create(["docs"])
        #expect(contents(ws.inputPath + "/docs/a.md") == "a")
        #expect(ws.skippedInputs.map(\.path) == ["docs/again"])
        try ws.remove()
    }

    @Test func aFailedCreateLeavesNothingBehind() throws {
        let f = try Fixture()
        // A big enough first input that plenty is copied before the second one is refused.
        for i in 0..<20 { try f.write("docs/d\(i)/f.txt", "\(i)") }
        try f.write("outside.txt", "x", base: f.top)
        let e = try #require(failure { () throws(WorkspaceError) in try f.create(["docs", "../outside.txt"], runID: "r-fail") })
        #expect(e.kind == .inputOutsideAllowed(path: "../outside.txt", reason: "outside the project root \(f.root)"))
        #expect(!exists(f.base + "/r-fail"))
        #expect(f.runFolders().isEmpty)
    }

    @Test func theSandboxFolderMustNotBeASymlinkOrSomeoneElses() throws {
        let f = try Fixture()
        try FileManager.default.createDirectory(atPath: f.top + "/elsewhere", withIntermediateDirectories: true)
        try FileManager.default.createSymbolicLink(atPath: f.base, withDestinationPath: f.top + "/elsewhere")
        let e = try #require(failure { () throws(WorkspaceError) in try f.create([]) })
        #expect(e.kind == .unsafeSandboxRoot(path: f.base, reason: "is a symlink; remove it or set TMPDIR"))
        #expect(try FileManager.default.contentsOfDirectory(atPath: f.top + "/elsewhere").isEmpty)

        guard geteuid() == 0 else { return }
        try FileManager.default.removeItem(atPath: f.base)
        try FileManager.default.createDirectory(atPath: f.base, withIntermediateDirectories: false)
        #expect(chown(f.base, 65534, 65534) == 0)
        let other = try #require(failure { () throws(WorkspaceError) in try f.create([]) })
        #expect(other.description.contains("owned by uid 65534"))
    }

    // MARK: - Output

    @Test func collectOutputCopiesFilesAndNeverFollowsASymlink() throws {
        let f = try Fixture()
        let secret = try f.write("secret.txt", "TOP SECRET", base: f.top)
        let ws = try f.create([])
        try f.write("result.md", "done\n", base: ws.outputPath)
        try f.write("nested/more/data.csv", "1,2\n", base: ws.outputPath)
        try FileManager.default.createSymbolicLink(atPath: ws.outputPath + "/leak", withDestinationPath: secret)
        try FileManager.default.createSymbolicLink(atPath: ws.outputPath + "/etc", withDestinationPath: "/etc")
        #expect(mkfifo(ws.outputPath + "/pipe", 0o600) == 0)
        chmod(ws.outputPath + "/result.md", 0o700)

        let dest = f.top + "/collected/run"
        let got = try ws.collectOutput(to: dest)
        #expect(got.files == 2)
        #expect(got.bytes == 9)
        #expect(got.folders == 2)
        #expect(Set(got.skipped.map(\.path)) == ["leak", "etc", "pipe"])
        #expect(got.skipped.first { $0.path == "leak" }?.reason == "a symlink, not copied")
        #expect(!exists(dest + "/leak"))
        #expect(!exists(dest + "/etc"))
        #expect(!exists(dest + "/pipe"))
        #expect(contents(dest + "/result.md") == "done\n")
        #expect(contents(dest + "/nested/more/data.csv") == "1,2\n")
        #expect(mode(dest) == 0o755)
        #expect(mode(f.top + "/collected") == 0o755)
        #expect(mode(dest + "/nested") == 0o755)
        #expect(mode(dest + "/result.md") == 0o644)
        #expect(owner(dest + "/result.md") == geteuid())
        // The secret's content is nowhere in the copy.
        let all = FileManager.default.enumerator(atPath: dest)?.allObjects as? [String] ?? []
        for rel in all { #expect(contents(dest + "/" + rel)?.contains("TOP SECRET") != true) }
        try ws.remove()
    }

    @Test func collectOutputStopsAtTheEntryLimitAndSaysSo() throws {
        let f = try Fixture()
        let ws = try f.create([])
        for i in 0..<10 { try f.write("f\(i)", "x", base: ws.outputPath) }
        let got = try ws.collectOutput(to: f.top + "/out", maxFiles: 4)
        #expect(got.files == 4)
        #expect(got.skipped.count == 1)
        #expect(got.skipped.first?.reason == "more than 4 entries in output/; this and the rest not copied")
        try ws.remove()
    }

    @Test func collectOutputReadsOutputThroughTheRunFolderNotByName() throws {
        let f = try Fixture()
        try f.write("secret.txt", "TOP SECRET", base: f.top)
        let ws = try f.create([])
        // The agent swaps output/ for a symlink to a folder outside.
        try FileManager.default.removeItem(atPath: ws.outputPath)
        try FileManager.default.createSymbolicLink(atPath: ws.outputPath, withDestinationPath: f.top)
        #expect(throws: WorkspaceError.self) { try ws.collectOutput(to: f.top + "/out") }
        #expect(!exists(f.top + "/out/secret.txt"))
        try ws.remove()
        #expect(exists(f.top + "/secret.txt"))
    }

    // MARK: - Removal

    @Test func removeCopesWithAHostileTreeAndFollowsNoSymlink() throws {
        let f = try Fixture()
        let keep = try f.write("precious/file.txt", "keep me", base: f.top)
        let ws = try f.create([])
        try FileManager.default.createSymbolicLink(atPath: ws.outputPath + "/link", withDestinationPath: f.top + "/precious")
        try FileManager.default.createSymbolicLink(atPath: ws.tempPath + "/filelink", withDestinationPath: keep)
        // Nesting far deeper than the remover keeps fds open for.
        var deep = ws.tempPath
        for i in 0..<120 { deep += "/d\(i)" }
        try FileManager.default.createDirectory(atPath: deep, withIntermediateDirectories: true)
        try f.write("leaf.txt", "x", base: deep)
        // Locked folders.
        try f.write("locked/inner/x.txt", "x", base: ws.outputPath)
        chmod(ws.outputPath + "/locked/inner", 0)
        chmod(ws.outputPath + "/locked", 0o500)

        try ws.remove()
        #expect(!exists(ws.path))
        #expect(contents(keep) == "keep me")
        #expect(f.runFolders().isEmpty)
    }

    // MARK: - Stale sandboxes

    @Test func staleSandboxesOfDeadSupervisorsAreRemovedAndLiveOnesKept() throws {
        let f = try Fixture()
        let live = try f.create([], runID: "r-live")
        func fake(_ name: String, _ stamp: String?, age: Int = 3600) throws {
            let dir = f.base + "/" + name
            try f.write("input/a.txt", "a", base: dir)
            chmod(dir + "/input/a.txt", 0o400)
            chmod(dir + "/input", 0o500)
            if let stamp { try f.write("supervisor.pid", stamp, base: dir) }
            var times = [timespec(tv_sec: time(nil) - age, tv_nsec: 0), timespec(tv_sec: time(nil) - age, tv_nsec: 0)]
            utimensat(AT_FDCWD, dir, &times, 0)
        }
        try fake("r-dead", "2147483000 5\n")
        // pid 1 is alive, but it did not start at that time: a reused pid.
        try fake("r-reused", "1 999999999999\n")
        try fake("r-nopid-old", nil)
        try fake("r-garbage", "not a pid\n")
        // Kept on purpose (--keep-sandbox) by a supervisor that has since exited.
        try fake("r-kept", "2147483000 5\n")
        try f.write("kept", "", base: f.base + "/r-kept")
        // A folder being made right now by another supervisor: no pid file yet, but young.
        try FileManager.default.createDirectory(atPath: f.base + "/r-young", withIntermediateDirectories: false)
        // A symlink planted in mpm-run must not be followed.
        let victim = try f.write("victim/important.txt", "keep", base: f.top)
        try FileManager.default.createSymbolicLink(atPath: f.base + "/r-link", withDestinationPath: f.top + "/victim")

        let sweep = StaleSandboxes.removeAll(tmp: f.tmp)
        #expect(Set(sweep.removed) == Set(["r-dead", "r-reused", "r-nopid-old", "r-garbage"].map { f.base + "/" + $0 }))
        #expect(sweep.problems.isEmpty)
        #expect(f.runFolders() == ["r-kept", "r-link", "r-live", "r-young"])
        #expect(contents(victim) == "keep")
        #expect(exists(live.instructionsPath))
        #expect(live.markKept() == nil)
        #expect(exists(live.path + "/kept"))
        try live.remove()
    }

    @Test func aMissingSandboxFolderIsNothingToSweep() throws {
        let f = try Fixture()
        let sweep = StaleSandboxes.removeAll(tmp: f.tmp)
        #expect(sweep.removed.isEmpty && sweep.problems.isEmpty)
    }
}
