import ArgumentParser
import CLauncher
import Glibc
import MPMRun

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Serve JSON-RPC 2.0 on stdin and stdout, for orchestrators (many runs at once).",
        discussion: """
            One JSON object per line each way; human logs on stderr only. Methods: run, cancel, \
            agents/list, agents/explain, status, shutdown; notifications: run/started, \
            run/output, run/event, run/exited (CONTRACT.md section 6). Agents and profiles are \
            read again for every request. EOF on stdin stops accepting requests and exits 0 \
            once the runs have ended; shutdown, SIGTERM and SIGINT cancel the runs first. \
            Exit status: 0; 1 when stdout was closed under it, or not read for 10 s after \
            SIGTERM/SIGINT; 125 when it could not start.
            """)

    @OptionGroup var locations: Locations

    @Option(help: ArgumentHelp("Runs at once; a run request past it is answered with -32003 (busy).", valueName: "n"))
    var maxConcurrent = 64

    @OptionGroup var audit: AuditLogLocation

    func validate() throws {
        if maxConcurrent < 1 { throw ValidationError("--max-concurrent must be at least 1") }
    }

    func run() throws {
        reportingErrors {
            // Before any thread exists: SIGINT/SIGTERM/SIGHUP/SIGQUIT become poll events.
            let signalFD = try terminationSignals()
            _ = StaleSandboxes.removeAll()
            RunCgroups.removeStale(sandboxFolder: Workspace.defaultTemporaryFolder() + "/" + Workspace.sandboxFolderName)
            let log: AuditLog
            do throws(AuditError) {
                log = try AuditLog(path: audit.path)
            } catch {
                throw CLIError(error.description)
            }
            let cwd = currentDirectory()
            var options = Server.Options(
                agentsDir: locations.resolvedAgentsDir, profilesDir: locations.resolvedProfilesDir,
                projectRoot: try locations.projectRoot(), workingDirectory: cwd,
                environment: processEnvironment(), version: MPMRunVersion.string)
            options.maxConcurrent = maxConcurrent
            options.protectedPaths = [auditFolder(log.path, cwd: cwd)]
            return Server(options: options, log: log).serve(inputFD: 0, signalFD: signalFD)
        }
    }
}

/// The audit log's folder, which no agent may write.
func auditFolder(_ logPath: String, cwd: String) -> String {
    Runner.absolute(String(logPath[..<(logPath.lastIndex(of: "/") ?? logPath.endIndex)]), in: cwd)
}
