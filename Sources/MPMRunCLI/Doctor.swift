import ArgumentParser
import MPMRun

struct Doctor: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Probe the kernel features the sandbox uses.",
        discussion: """
            One line per feature: seccomp filters and user notification, the Landlock ABI, \
            no_new_privs, user and PID namespaces, cgroup v2/v1 controllers, as root how long a \
            process takes to join a run's cgroups (each launch waits that long), and whether \
            mpm-run runs as root; each missing one with its fix. Exits 0 when every feature a run needs \
            is present, 1 otherwise.
            """)

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        reportingErrors {
            let features = KernelFeatures.probe()
            Console.out(json ? JSONOutput.encode(features) : features.render())
            return features.ok ? 0 : 1
        }
    }
}
