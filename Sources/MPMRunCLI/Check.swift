import ArgumentParser
import MPMRun

struct Check: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Validate every agent and profile and list all problems.",
        discussion: "Exits 0 when there are no errors (warnings allowed), 1 otherwise.")

    @OptionGroup var locations: Locations

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        reportingErrors {
            let report = CheckReport(catalog: locations.catalog(), projectRoot: try locations.projectRoot())
            Console.out(json ? JSONOutput.encode(report) : report.render())
            return report.ok ? 0 : 1
        }
    }
}
