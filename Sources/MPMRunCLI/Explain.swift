import ArgumentParser
import MPMRun

struct Explain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "explain",
        abstract: "Print the effective policy an agent would run under, and why.",
        discussion: "Exits 1 when the agent cannot run (unknown, invalid, or refused by its profile).")

    @Argument(help: "The agent's id.")
    var agent: String

    @OptionGroup var locations: Locations

    @Flag(help: "Print the policy as JSON.")
    var json = false

    func run() throws {
        reportingErrors {
            let catalog = locations.catalog()
            let def: AgentDefinition
            switch catalog.agent(agent) {
            case .success(let d): def = d
            case .failure(.invalid(_, let errors)):
                for e in errors { Console.err(e.description) }
                return 1
            case .failure(let e):
                throw CLIError(e.description, exitCode: 1)
            }
            switch PolicyResolver.resolve(def, profiles: catalog.profiles, projectRoot: try locations.projectRoot()) {
            case .success(let policy):
                Console.out(json ? JSONOutput.encode(policy) : policy.renderText())
                return 0
            case .failure(let refusal):
                for e in refusal.errors { Console.err(e.description) }
                return 1
            }
        }
    }
}
