import ArgumentParser
import Glibc
import MPMRun

@main
struct MPMRunCommand: ParsableCommand {
    // Every command names itself: a name derived from the type costs a reflection scan of the
    // binary's protocol conformances at each start.
    static let configuration = CommandConfiguration(
        commandName: "mpm-run",
        abstract: "Run AI agents in a sandbox that their permission profile defines.",
        discussion: """
            Agents are defined in --agents-dir (YAML, Claude MPM Markdown or JSON); each agent's \
            type maps to a permission profile in --profiles-dir.
            """,
        version: MPMRunVersion.string,
        subcommands: [Run.self, Serve.self, Check.self, Explain.self, Doctor.self, Audit.self],
        defaultSubcommand: Run.self
    )

    /// Parses and runs, turning every error into one line on stderr: 125 for bad usage
    /// (as for a refused run), the command's own code otherwise.
    static func main() {
        // Started with stdin, stdout or stderr closed, the first file mpm-run opened (the audit
        // log, say) would take that number, and the agent's relayed output or mpm-run's own
        // messages would be written into it. Each closed one is /dev/null instead; without
        // /dev/null, nothing runs.
        for fd: Int32 in 0...2 where fcntl(fd, F_GETFD) == -1 && errno == EBADF {
            let null = open("/dev/null", O_RDWR)
            guard null == fd else {
                let e = errno
                if null >= 0 { close(null) }
                if fcntl(2, F_GETFD) != -1 { Console.err("mpm-run: descriptor \(fd) is closed and /dev/null cannot take its place: \(errnoText(e))") }
                Glibc.exit(125)
            }
        }
        // Past a file size limit (RLIMIT_FSIZE), a write fails with EFBIG instead of killing
        // mpm-run mid-run: the run is refused with one line and a record that did not fit is
        // taken back. Agents start with every signal at its default again.
        signal(SIGXFSZ, SIG_IGN)
        // Ignored SIGCHLD survives execve: started that way (`env --ignore-signal=CHLD`, some
        // daemons), the kernel would reap each run's init itself, and its exit status and
        // resource use would be lost. mpm-run waits for its children: the default, always.
        signal(SIGCHLD, SIG_DFL)
        // A umask that takes bits from the owner (0177, say) would make the sandbox's folders
        // and files unusable by mpm-run itself, and every run of an unprivileged mpm-run would be
        // refused. The owner keeps its bits; what the umask says of group and others stands.
        umask(umask(0) & 0o077)
        do {
            var command = try parseAsRoot()
            try command.run()
        } catch let code as ExitCode {
            Glibc.exit(code.rawValue)
        } catch {
            if exitCode(for: error) == .success { exit(withError: error) }  // --help, --version
            let message = self.message(for: error).split(separator: "\n").first.map(String.init) ?? "invalid usage"
            Console.err("mpm-run: \(message) (see mpm-run --help)")
            Glibc.exit(125)
        }
    }
}

enum MPMRunVersion {
    static let string = "0.1.0"
}
