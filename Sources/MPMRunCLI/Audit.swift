import ArgumentParser
import Glibc
import MPMRun

/// `mpm-run audit [--agent ID] [--type T] [--since TIME] [--json]`, `mpm-run audit verify` and
/// `mpm-run audit release <agent>`.
struct Audit: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Read the audit log, verify its hash chain, or lift an agent's quarantine.",
        subcommands: [List.self, Verify.self, Release.self],
        defaultSubcommand: List.self)
}

extension Audit {
    struct List: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "list",
            abstract: "Print the records as a table, or as stored with --json (the default: "
                + "mpm-run audit [--agent ID] [--type T] [--since TIME] [--json]).",
            discussion: "Exits 1 when the log cannot be read.")

        @Option(help: ArgumentHelp("Only the records of this agent.", valueName: "id"))
        var agent: String?

        @Option(help: ArgumentHelp("Only the records of this type: "
                                   + Event.Kind.allCases.map(\.rawValue).joined(separator: ", ") + ".",
                                   valueName: "type"))
        var type: String?

        @Option(help: ArgumentHelp("Only the records at or after this time: RFC 3339 (2026-11-22T03:00:00Z) "
                                   + "or a span back from now (90s, 10m, 2h, 1d).", valueName: "time"))
        var since: String?

        @Flag(help: "Print the records as stored, one JSON object a line.")
        var json = false

        @OptionGroup var location: AuditLogLocation

        func validate() throws {
            if let type, Event.Kind(rawValue: type) == nil {
                throw ValidationError("--type \(type): not a record type (one of "
                                      + Event.Kind.allCases.map(\.rawValue).joined(separator: ", ") + ")")
            }
            if let since, AuditTime.parseSince(since, now: AuditTime.now()) == nil {
                throw ValidationError("--since \(since): not a time (RFC 3339 such as 2026-11-22T03:00:00Z, "
                                      + "or a span such as 90s, 10m, 2h, 1d)")
            }
        }

        func run() throws {
            reportingErrors {
                let path = location.path
                let from = since.flatMap { AuditTime.parseSince($0, now: AuditTime.now()) }
                do throws(AuditError) {
                    if json {
                        // Streamed in batches: a large log need not fit in memory to be printed.
                        var batch = ""
                        try AuditLog.forEachRecord(path: path, agent: agent, type: type, since: from) { line, _ in
                            batch += line + "\n"
                            if batch.utf8.count >= 64 * 1024 {
                                Console.write(fd: 1, batch)
                                batch = ""
                            }
                        }
                        Console.write(fd: 1, batch)
                    } else {
                        Console.out(AuditTable.render(try AuditLog.records(path: path, agent: agent, type: type, since: from)))
                    }
                } catch {
                    throw CLIError(error.description, exitCode: 1)
                }
                return 0
            }
        }
    }

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify",
            abstract: "Check the audit log's hash chain end to end.",
            discussion: """
                Prints "ok: N records, chain intact" and exits 0, or names the first bad line \
                (FILE:LINE: what is wrong) and exits 1. Exits 1 too when the log cannot be read.
                """)

        @OptionGroup var location: AuditLogLocation

        func run() throws {
            let result = AuditLog.verify(path: location.path)
            if let problem = result.problem, problem.line == 0 {
                Console.err("mpm-run: \(problem.message)")
            } else {
                Console.out(result.description)
            }
            Glibc.exit(result.ok ? 0 : 1)
        }
    }

    struct Release: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "release",
            abstract: "Lift an agent's quarantine before it expires.",
            discussion: """
                Records a `released` event (by: administrator, with your uid) in the audit log, so \
                that the agent's next launch goes ahead and its earlier incidents no longer count \
                towards a quarantine. Prints one line and exits 0; exits 1 when the agent is not \
                quarantined or the log cannot be read or written.
                """)

        @Argument(help: ArgumentHelp("The agent's id, as the audit log names it.", valueName: "agent"))
        var agent: String

        @OptionGroup var location: AuditLogLocation

        func validate() throws {
            if agent.isEmpty { throw ValidationError("<agent>: the agent id is empty") }
        }

        func run() throws {
            reportingErrors {
                let path = location.path
                let until: String?
                do throws(AuditError) {
                    until = try AuditLog.releaseQuarantine(path: path, agent: agent, uid: getuid()).map(AuditTime.format)
                } catch {
                    throw CLIError(error.description, exitCode: 1)
                }
                guard let until else {
                    throw CLIError("\(agent) is not quarantined (audit log \(path))", exitCode: 1)
                }
                Console.out("released \(agent): its quarantine until \(until) is lifted")
                return 0
            }
        }
    }
}
