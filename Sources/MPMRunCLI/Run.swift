import ArgumentParser
import CLauncher
import Glibc
import MPMRun

struct Run: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Launch one agent in its sandbox (the default command: mpm-run <agent>).",
        discussion: """
            Exit status: the agent's own; 124 when the timeout fired; 125 when mpm-run failed \
            or refused the run; 126 when the command could not be executed; 127 when it was \
            not found; 128+N when the agent was killed by signal N.
            """)

    @Argument(help: "The agent's id.")
    var agent: String

    @Argument(parsing: .postTerminator, help: "Arguments appended to the agent's command (after --).")
    var args: [String] = []

    @OptionGroup var locations: Locations

    @Option(help: ArgumentHelp("A file or folder copied read-only into the sandbox's input/ (repeatable).", valueName: "path"))
    var input: [String] = []

    @Option(help: ArgumentHelp("Where output/ is copied when the agent ends (default: ./mpm-output/<run_id>/).", valueName: "dir"))
    var output: String?

    @Option(help: ArgumentHelp("Seconds before the run is killed; can only shorten the profile's timeout.", valueName: "seconds"))
    var timeout: Int?

    @Flag(help: "Keep the sandbox folder after the run and print its path.")
    var keepSandbox = false

    @Flag(help: "Pass this process's stdin to the agent (default: /dev/null).")
    var stdin = false

    @Flag(help: "Print the run as JSON lines (run/started, run/output, run/event, run/exited) and nothing else on stdout.")
    var json = false

    @OptionGroup var audit: AuditLogLocation

    func validate() throws {
        if let timeout, timeout < 1 { throw ValidationError("--timeout must be at least 1 second") }
    }

    func run() throws {
        reportingErrors {
            // Before any thread exists: SIGINT/SIGTERM/SIGHUP/SIGQUIT become poll events.
            let signalFD = try terminationSignals()
            _ = StaleSandboxes.removeAll()
            // A sandbox whose removal found no free descriptor goes once the run is over.
            defer { for problem in Workspace.removeDeferred(last: true) { Console.err("mpm-run: \(problem)") } }
            RunCgroups.removeStale(sandboxFolder: Workspace.defaultTemporaryFolder() + "/" + Workspace.sandboxFolderName)
            var request = RunRequest(agent: agent)
            request.args = args
            request.inputs = input
            request.outputDir = output
            request.timeoutSeconds = timeout
            request.keepSandbox = keepSandbox
            request.passStdin = stdin

            let environment = processEnvironment()
            // No unaudited run: a log that cannot be opened refuses the run.
            let log: AuditLog
            do throws(AuditError) {
                log = try AuditLog(path: audit.path)
            } catch {
                throw CLIError(error.description)
            }
            var runner = Runner(catalog: locations.catalog(), projectRoot: try locations.projectRoot(),
                                workingDirectory: currentDirectory(), environment: environment)
            runner.protectedPaths.append(auditFolder(log.path, cwd: currentDirectory()))
            let reporter: RunReporter = json ? JSONLinesReporter() : TerminalReporter()
            let result: Runner.Result
            do throws(Runner.Refusal) {
                result = try runner.run(request, reporter: reporter, store: log, signalFD: signalFD)
            } catch {
                throw CLIError(error.description, exitCode: error.status)
            }
            for notice in result.notices { Console.err("mpm-run: \(notice)") }
            if let sandbox = result.sandbox { Console.err("mpm-run: sandbox kept at \(sandbox)") }
            return result.outcome.status
        }
    }
}

func currentDirectory() -> String {
    guard let p = getcwd(nil, 0) else { return "." }
    defer { free(p) }
    return String(cString: p)
}

func processEnvironment() -> [String: String] {
    var env: [String: String] = [:]
    var p = environ
    while let entry = p.pointee {
        let s = String(cString: entry)
        if let eq = s.firstIndex(of: "=") { env[String(s[..<eq])] = String(s[s.index(after: eq)...]) }
        p += 1
    }
    return env
}
