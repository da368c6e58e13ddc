import ArgumentParser
import CLauncher
import Glibc
import MPMRun

/// The folders every command reads, with CONTRACT.md section 2's environment fallbacks.
struct Locations: ParsableArguments {
    @Option(help: ArgumentHelp("Folder of agent definitions (env MPM_AGENTS_DIR).", valueName: "dir"))
    var agentsDir: String?

    @Option(help: ArgumentHelp("Folder of permission profiles (env MPM_PROFILES_DIR).", valueName: "dir"))
    var profilesDir: String?

    @Option(help: ArgumentHelp("The root that read_paths and write_paths are relative to (default: the current folder).", valueName: "dir"))
    var project: String?

    var resolvedAgentsDir: String { agentsDir ?? env("MPM_AGENTS_DIR") ?? "./agents" }
    var resolvedProfilesDir: String { profilesDir ?? env("MPM_PROFILES_DIR") ?? "./profiles" }

    /// The project root as an absolute path without symlinks; a missing folder is an error.
    func projectRoot() throws -> String {
        let dir = project ?? "."
        guard let real = realpath(dir, nil) else {
            throw CLIError("--project \(dir): \(errnoText(errno))")
        }
        defer { free(real) }
        return String(cString: real)
    }

    func catalog() -> Catalog {
        Catalog(agentsDir: resolvedAgentsDir, profilesDir: resolvedProfilesDir)
    }

    private func env(_ name: String) -> String? {
        guard let v = getenv(name) else { return nil }
        let s = String(cString: v)
        return s.isEmpty ? nil : s
    }
}

/// A failure of mpm-run itself: printed as one line, exit 125.
struct CLIError: Error, CustomStringConvertible {
    var description: String
    var exitCode: Int32 = 125
    init(_ description: String, exitCode: Int32 = 125) {
        self.description = description
        self.exitCode = exitCode
    }
}

/// SIGINT, SIGTERM, SIGHUP and SIGQUIT as poll events (a signalfd), set up before any thread
/// exists. Without one, mpm-run could not end its runs when told to: it refuses to start.
func terminationSignals() throws -> Int32 {
    let fd = mpm_termination_signalfd()
    guard fd >= 0 else {
        throw CLIError("cannot watch for SIGINT, SIGTERM, SIGHUP and SIGQUIT (signalfd: \(errnoText(errno))), "
                       + "so a run could not be stopped: allow signalfd to mpm-run")
    }
    return fd
}

extension ParsableCommand {
    /// Runs `body`, turning a CLIError into its line and exit code.
    func reportingErrors(_ body: () throws -> Int32) -> Never {
        do {
            Glibc.exit(try body())
        } catch let e as CLIError {
            Console.err("mpm-run: \(e.description)")
            Glibc.exit(e.exitCode)
        } catch {
            Console.err("mpm-run: \(error)")
            Glibc.exit(125)
        }
    }
}
