import CLauncher
import Foundation
import Testing

/// The kernel's audit switch, one for the whole machine: Landlock logs denials only while it
/// is on. A test turns it to what it needs for one body and back to what it was; an exclusive
/// flock serialises every test that does (across test processes too). Runs of other tests in
/// that moment get their Landlock denials reported as well: no test counts on them not being.
enum KernelAudit {
    static func with<T>(enabled: Int32, _ body: () throws -> T) throws -> T {
        let lock = open("/tmp/mpm-run-tests-audit-switch.lock", O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        try #require(lock >= 0)
        defer { close(lock) }
        flock(lock, LOCK_EX)
        let before = mpm_audit_enabled()
        try #require(before >= 0, "AUDIT_GET: \(String(cString: strerror(-before)))")
        let change = (before != 0) != (enabled != 0)
        if change {
            let set = mpm_audit_set_enabled(enabled)
            try #require(set == 0, "AUDIT_SET enabled=\(enabled): \(String(cString: strerror(-set))) (audit locked?)")
        }
        defer { if change { _ = mpm_audit_set_enabled(before) } }
        return try body()
    }
}

/// File accesses Landlock denies, reported as permission_denied events (plane `file`) from the
/// kernel's audit records: only a root mpm-run on a kernel with Landlock ABI 7 and audit on
/// sees them. The agent gets EACCES whether or not they are reported.
@Suite(.enabled(if: Supervisor.isRoot && mpm_sys_landlock_abi() >= 7, "needs root and Landlock ABI 7"))
struct LandlockDenialTests {
    func fileDenials(_ p: SandboxProject) throws -> [[String: Any]] {
        try p.audit("permission_denied").filter { $0["plane"] as? String == "file" }
    }

    @Test func creatingAFileWithoutWriteFilesIsOneFileEventNamingTheFolder() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"])
        // The project root is 0777: the mode would let the agent in, only Landlock stops it.
        try p.agent("probe-agent", ["write", p.root + "/planted.txt"])
        let r = try KernelAudit.with(enabled: 1) { try p.mpmRun(["probe-agent"]) }
        #expect(r.stdout == "write: denied EACCES\n", "the agent still gets EACCES: \(r.stdout)")
        #expect(!FileManager.default.fileExists(atPath: p.root + "/planted.txt"))
        let denials = try p.audit("permission_denied")
        #expect(denials.count == 1, "\(denials)")
        let d = try #require(denials.first)
        #expect(d["plane"] as? String == "file")
        #expect(d["permission"] as? String == "write_files")
        #expect(d["path"] as? String == p.root, "a new file is denied at its folder")
        #expect(d["syscall"] as? String == "openat")
        #expect((d["pid"] as? Int ?? 0) > 0)
        #expect((d["reason"] as? String ?? "").contains("fs.make_reg"))
        #expect(r.stderr.contains("mpm-run: denied: Landlock denied fs.make_reg on \(p.root)"), "\(r.stderr)")
        #expect(try p.mpmRun(["audit", "verify"]).status == 0)
    }

    @Test func writingAnExistingFileAndReadingOutsideTheReadPathsNameTheFiles() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"])
        try p.openFolder("data")
        let notes = try p.project.write("data/notes.txt", "keep\n")
        chmod(notes, 0o666)
        let outside = FileManager.default.temporaryDirectory.appendingPathComponent("mpm-ll-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: outside, withIntermediateDirectories: false)
        defer { try? FileManager.default.removeItem(atPath: outside) }
        chmod(outside, 0o755)
        try Data("secret\n".utf8).write(to: URL(fileURLWithPath: outside + "/secret.txt"))
        chmod(outside + "/secret.txt", 0o644)
        try p.agent("probe-agent", ["multi", "write \(notes)", "read \(outside)/secret.txt", "read \(notes)"])
        let r = try KernelAudit.with(enabled: 1) { try p.mpmRun(["probe-agent"]) }
        #expect(r.stdout == "write: denied EACCES\nread: denied EACCES\nread: ok\n", "\(r.stdout)")
        #expect(try String(contentsOfFile: notes, encoding: .utf8) == "keep\n")
        let denials = try p.audit("permission_denied")
        #expect(denials.map { $0["path"] as? String } == [notes, outside + "/secret.txt"], "\(denials)")
        #expect(denials.map { $0["permission"] as? String } == ["write_files", "read_files"])
        #expect(denials.allSatisfy { $0["plane"] as? String == "file" })
    }

    @Test func aPathTheKernelWritesInHexArrivesAsWritten() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"])
        let folder = "odd \"name\" é"
        try p.openFolder(folder)
        try p.agent("probe-agent", ["write", "\(p.root)/\(folder)/x"])
        try KernelAudit.with(enabled: 1) { _ = try p.mpmRun(["probe-agent"]) }
        #expect(try fileDenials(p).map { $0["path"] as? String } == ["\(p.root)/\(folder)"])
    }

    @Test func concurrentRunsEachGetOnlyTheirOwnDenials() throws {
        let a = try SandboxProject(.root, permissions: ["read_files"])
        let b = try SandboxProject(.root, permissions: ["read_files"])
        // Each run denies itself four times, a second apart, while the other does the same.
        for p in [a, b] {
            try p.agent("probe-agent", ["multi"] + (1...4).flatMap { ["write \(p.root)/x\($0)", "sleep 1"] })
        }
        try KernelAudit.with(enabled: 1) {
            let started = try b.start(["probe-agent"])
            _ = try a.mpmRun(["probe-agent"])
            started.process.waitUntilExit()
        }
        for p in [a, b] {
            let denials = try fileDenials(p)
            #expect(denials.count == 4, "\(denials)")
            #expect(denials.allSatisfy { $0["path"] as? String == p.root }, "only its own: \(denials)")
        }
    }

    @Test func fileDenialsCountTowardsTheRunsDenialCap() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"], incidents: "max_denials_per_run: 3")
        try p.agent("probe-agent", ["multi"] + (1...10).map { "write \(p.root)/x\($0)" } + ["sleep 30"])
        let started = Date()
        let r = try KernelAudit.with(enabled: 1) { try p.mpmRun(["probe-agent"]) }
        #expect(Date().timeIntervalSince(started) < 20, "killed, not left to sleep")
        #expect(r.status == 128 + 9, "\(r.status) \(r.stderr)")
        let incident = try #require(try p.audit("incident").first)
        #expect(incident["kind"] as? String == "denial_burst")
        #expect(try p.audit("run_exited").first?["reason"] as? String == "denied")
        #expect(try fileDenials(p).count >= 4, "one more than the cap")
    }

    @Test func aFloodOfDeniedOpensEndsAtTheDenialBurstWithABoundedLog() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"])
        // A million denied creations; the kernel's audit backlog overflows and drops records.
        try p.agent("flood", ["-e", "for (1..1000000) { open(my $f, '>', '\(p.root)/x') }"], command: "/usr/bin/perl")
        let started = Date()
        let r = try KernelAudit.with(enabled: 1) { try p.mpmRun(["flood"]) }
        // Ended by the burst, not by running its million opens (the status and the incident
        // prove which); the bound is loose because a loaded 2-core CI machine stretches it.
        #expect(Date().timeIntervalSince(started) < 60)
        #expect(r.status == 128 + 9, "\(r.status) \(r.stderr.suffix(300))")
        #expect(try p.auditRecords().count < 40, "bounded")
        #expect(try fileDenials(p).count == 21, "one more than max_denials_per_run (20), one by one")
        #expect(try p.audit("incident").first?["kind"] as? String == "denial_burst")
        #expect(try p.mpmRun(["audit", "verify"]).status == 0)
    }

    @Test func withAuditOffTheAgentIsStillDeniedAndNothingIsClaimed() throws {
        let p = try SandboxProject(.root, permissions: ["read_files"])
        try p.agent("probe-agent", ["write", p.root + "/planted.txt"])
        let (r, doctor) = try KernelAudit.with(enabled: 0) { (try p.mpmRun(["probe-agent"]), try p.mpmRun(["doctor"])) }
        #expect(r.stdout == "write: denied EACCES\n")
        #expect(try p.audit("permission_denied").isEmpty)
        let line = try #require(doctor.stdoutLines.first { $0.contains("landlock_audit") })
        #expect(line.hasPrefix("absent"), "\(line)")
        #expect(line.contains("audit is off") && line.contains("auditctl -e 1"), "\(line)")
    }

    @Test func theUnprivilegedPathRunsAndIsDeniedButSeesNoRecords() throws {
        let p = try SandboxProject(.nobody, permissions: ["read_files"])
        try p.agent("probe-agent", ["write", p.root + "/planted.txt"])
        let (r, doctor) = try KernelAudit.with(enabled: 1) { (try p.mpmRun(["probe-agent"]), try p.mpmRun(["doctor"])) }
        #expect(r.status == 1 && r.stdout == "write: denied EACCES\n", "\(r.status) \(r.stdout) \(r.stderr)")
        #expect(try p.audit("permission_denied").isEmpty, "the records need CAP_AUDIT_READ")
        #expect(try p.audit("run_exited").first?["reason"] as? String == "exited")
        let line = try #require(doctor.stdoutLines.first { $0.contains("landlock_audit") })
        #expect(line.hasPrefix("absent") && line.contains("only a root mpm-run"), "\(line)")
        // What the README promises about it.
        let readme = try String(contentsOfFile: Repository.root + "/README.md", encoding: .utf8)
            .split(whereSeparator: \.isWhitespace).joined(separator: " ")
        #expect(readme.contains("An mpm-run not run as root never sees them"))
    }

    @Test func doctorSaysWhenDenialsAreReported() throws {
        let p = try SandboxProject(.root, permissions: [])
        let doctor = try KernelAudit.with(enabled: 1) { try p.mpmRun(["doctor", "--json"]) }
        let obj = try #require(try JSONSerialization.jsonObject(with: Data(doctor.stdout.utf8)) as? [String: Any])
        let features = try #require(obj["features"] as? [[String: Any]])
        let f = try #require(features.first { $0["name"] as? String == "landlock_audit" })
        #expect(f["available"] as? Bool == true)
        #expect(f["required"] as? Bool == false)
        #expect(f["fix"] is NSNull)
    }
}
