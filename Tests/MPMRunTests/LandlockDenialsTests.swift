import CLauncher
import Glibc
import Testing

@testable import MPMRun

/// Landlock's audit records, as Linux 6.18 writes them (taken from a run on this machine),
/// turned into this run's denials: matched by the run's uid, never another's.
@Suite struct LandlockDenialsTests {
    static let uid: uid_t = 2_147_400_000

    func watcher() -> LandlockDenials { LandlockDenials(fd: -1, uid: Self.uid) }

    func access(_ serial: Int, domain: String, _ rest: String) -> String {
        "audit(1795329020.095:\(serial)): domain=\(domain) \(rest)"
    }

    func allocated(_ serial: Int, domain: String, uid: uid_t) -> String {
        "audit(1795329020.095:\(serial)): domain=\(domain) status=allocated mode=enforcing pid=22253 uid=\(uid) "
            + "exe=\"/usr/bin/mpm-run\" comm=\"mpm-run\""
    }

    func syscall(_ serial: Int, nr: Int, pid: Int) -> String {
        "audit(1795329020.095:\(serial)): arch=c000003e syscall=\(nr) success=no exit=-13 a0=ffffff9c items=0 "
            + "ppid=22251 pid=\(pid) auid=4294967295 uid=\(Self.uid) comm=\"sh\" exe=\"/usr/bin/dash\" key=(null)"
    }

    @Test func aRecordOfTheRunsDomainBecomesOneDenialWithPathPidAndCall() {
        let w = watcher()
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(115, domain: "1a2c8f824",
            "blockers=fs.make_reg path=\"/tmp/project\" dev=\"vda\" ino=16229664"), now: 0)
        w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, allocated(115, domain: "1a2c8f824", uid: Self.uid), now: 0)
        #expect(w.take(all: false, now: 1).isEmpty, "held until its syscall record completes it")
        w.handle(type: MPM_AUDIT_SYSCALL, syscall(115, nr: 257, pid: 22253), now: 0)
        w.handle(type: MPM_AUDIT_EOE, "audit(1795329020.095:115): ", now: 0)
        let found = w.take(all: false, now: 1)
        #expect(found == [LandlockDenials.Denial(permission: "write_files", plane: "file", syscall: "openat",
                                                 path: "/tmp/project", pid: 22253,
                                                 reason: "Landlock denied fs.make_reg on /tmp/project")])
        #expect(w.take(all: true).isEmpty, "reported once")
    }

    @Test func recordsOfAnotherUidsDomainAreNeverTheRuns() {
        let w = watcher()
        for (i, domain) in ["1a2c8f900", "1a2c8f901"].enumerated() {
            w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(200 + i, domain: domain, "blockers=fs.write_file path=\"/etc/x\""), now: 0)
            w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, allocated(200 + i, domain: domain, uid: Self.uid + 1), now: 0)
        }
        // Later records of a known foreign domain, and one of a domain never announced.
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(210, domain: "1a2c8f900", "blockers=fs.read_file path=\"/a\""), now: 0)
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(211, domain: "1a2c8f999", "blockers=fs.read_file path=\"/b\""), now: 0)
        #expect(w.take(all: false, now: Int64.max / 2).isEmpty)
        #expect(w.take(all: true).isEmpty, "a domain nobody claimed is not the run's")
    }

    @Test func aRecordArrivingBeforeItsDomainIsKnownWaitsForIt() {
        let w = watcher()
        // Another process of the same domain is denied between the first record and the
        // domain's announcement.
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(300, domain: "1a2c8fa00", "blockers=fs.write_file path=\"/x\""), now: 0)
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(301, domain: "1a2c8fa00", "blockers=fs.read_file path=\"/y\""), now: 0)
        #expect(w.take(all: false, now: Int64.max / 2).isEmpty)
        w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, allocated(300, domain: "1a2c8fa00", uid: Self.uid), now: 0)
        let found = w.take(all: true)
        #expect(found.map(\.path) == ["/x", "/y"])
        #expect(found.map(\.permission) == ["write_files", "read_files"])
        #expect(found.allSatisfy { $0.pid == nil && $0.syscall == nil }, "no syscall record: no pid, no guess")
    }

    @Test func withoutItsSyscallRecordADenialIsReportedAfterAShortWait() {
        let w = watcher()
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(400, domain: "1a2c8fb00", "blockers=fs.read_dir path=\"/srv\""), now: 0)
        w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, allocated(400, domain: "1a2c8fb00", uid: Self.uid), now: 0)
        #expect(w.take(all: false, now: LandlockDenials.syscallWaitNS - 1).isEmpty)
        #expect(w.take(all: false, now: LandlockDenials.syscallWaitNS).count == 1)
    }

    @Test func pathsTheKernelWroteInHexAreDecoded() {
        // audit_log_untrustedstring: hex when the path holds a space, a quote, a control or
        // a non-ASCII byte.
        let path = "/tmp/a b\"c\u{1}é"
        let hex = path.utf8.map { ($0 < 16 ? "0" : "") + String($0, radix: 16, uppercase: true) }.joined()
        #expect(LandlockDenials.untrusted(hex) == path)
        #expect(LandlockDenials.untrusted("\"/tmp/plain\"") == "/tmp/plain")
        #expect(LandlockDenials.untrusted("ABC") == "ABC", "not hex pairs: as is")
        let w = watcher()
        w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, access(500, domain: "1a2c8fc00", "blockers=fs.make_dir path=\(hex) dev=\"vda\""), now: 0)
        w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, allocated(500, domain: "1a2c8fc00", uid: Self.uid), now: 0)
        #expect(w.take(all: true).first?.path == path)
    }

    @Test func blockersNameThePermissionAndPlane() {
        func d(_ blockers: String) -> LandlockDenials.Denial {
            LandlockDenials.denial(blockers: blockers.split(separator: ",").map(String.init), path: "/p", pid: nil, syscall: nil)
        }
        #expect(d("fs.write_file").permission == "write_files")
        #expect(d("fs.make_reg,fs.refer").permission == "write_files")
        #expect(d("fs.truncate").permission == "write_files")
        #expect(d("fs.read_file").permission == "read_files")
        #expect(d("fs.read_file,fs.write_file").permission == "write_files", "read and write: what is missing is write")
        #expect(d("fs.execute").permission == "execute_commands")
        #expect(d("fs.make_char").permission == "always_denied")
        #expect(d("fs.ioctl_dev").permission == "always_denied")
        #expect(["fs.write_file", "fs.read_dir", "fs.execute"].allSatisfy { d($0).plane == "file" })
        #expect(d("net.connect_tcp").plane == "network")
        #expect(d("net.connect_tcp").permission == "network_access")
        #expect(d("scope.signal").plane == "syscall")
        #expect(d("scope.signal").permission == "always_denied")
    }

    @Test func malformedRecordsAreIgnored() {
        let w = watcher()
        for text in ["", "audit(", "garbage", "audit(1:2)", "audit(1:2): blockers=fs.read_file path=\"/x\""] {
            w.handle(type: MPM_AUDIT_LANDLOCK_ACCESS, text, now: 0)
            w.handle(type: MPM_AUDIT_LANDLOCK_DOMAIN, text, now: 0)
        }
        #expect(w.take(all: true).isEmpty)
    }
}
