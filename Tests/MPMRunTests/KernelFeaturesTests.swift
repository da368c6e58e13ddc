import Glibc
import Testing

@testable import MPMRun

/// What doctor and a refused run say for each way a feature can be missing: the kernel
/// here has everything, so the missing cases are built from the errno they would see.
@Suite struct KernelFeaturesTests {
    @Test func theCheapLaunchCheckFindsNothingMissingHere() {
        #expect(KernelFeatures.requirementProblem(forRoot: true) == nil)
        #expect(KernelFeatures.requirementProblem(forRoot: false) == nil)
    }

    @Test func landlockLinesNameTheABIOrTheFix() {
        #expect(KernelFeatures.landlock(7).detail == "ABI 7: file rules, TCP rules, signal and abstract-socket scoping")
        #expect(KernelFeatures.landlock(3).detail == "ABI 3: file rules")
        let off = KernelFeatures.landlock(-Int(EOPNOTSUPP))
        #expect(!off.available && off.required)
        #expect(off.problem == "landlock: not available (built in, but not enabled at boot) — "
                + "boot with lsm=landlock,... (add landlock to the kernel's lsm= list; Linux 5.13+)")
        #expect(KernelFeatures.landlock(-Int(ENOSYS)).fix?.contains("CONFIG_SECURITY_LANDLOCK") == true)
    }

    @Test func seccompNeedsTheErrnoAction() {
        #expect(KernelFeatures.seccompFilter(mode: 0, actions: ["allow", "errno", "user_notif"]).available)
        #expect(!KernelFeatures.seccompFilter(mode: 0, actions: nil).available)
        #expect(!KernelFeatures.seccompFilter(mode: 0, actions: ["allow", "kill_process"]).available)
        #expect(!KernelFeatures.seccompFilter(mode: -EINVAL, actions: ["errno"]).available)
        #expect(!KernelFeatures.seccompNotify(actions: ["allow", "errno"]).available)
        #expect(!KernelFeatures.seccompNotify(actions: ["errno"]).required)
    }

    @Test func namespaceFailuresCarryTheirFix() {
        let userns = KernelFeatures.userNamespaces(errno: EPERM, root: false)
        #expect(!userns.available && userns.required)
        #expect(userns.fix != nil)
        #expect(!KernelFeatures.userNamespaces(errno: EPERM, root: true).required)
        let pid = KernelFeatures.pidNamespaces(errno: EPERM, root: true)
        #expect(pid.problem.hasPrefix("pidns: not available (clone(CLONE_NEWPID): Operation not permitted) — "))
        #expect(pid.fix?.contains("CAP_SYS_ADMIN") == true)
        #expect(KernelFeatures.pidNamespaces(errno: EINVAL, root: false).fix?.contains("CONFIG_PID_NS") == true)
    }

    @Test func aMissingRequiredFeatureFailsTheReport() {
        var report = KernelFeatures(root: false, landlockABI: 0, features: [
            KernelFeatures.landlock(-Int(ENOSYS)),
            KernelFeatures.seccompNotify(actions: nil),
        ])
        #expect(!report.ok)
        #expect(report.render().contains("MISSING landlock"))
        #expect(report.render().contains("absent  seccomp_notify"))
        report.features.removeFirst()
        #expect(report.ok)  // an optional feature missing is not a failure
    }

    @Test func mountPathsAreUnescaped() {
        #expect(Mount.unescape("/mnt/with\\040space") == "/mnt/with space")
        #expect(Mount.unescape("/plain") == "/plain")
        #expect(Mount.unescape("/end\\04") == "/end\\04")
    }
}
