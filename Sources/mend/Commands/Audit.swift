import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct AuditCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit", abstract: "Show the audit log, or verify its hash chain.", subcommands: [AuditShow.self, AuditVerify.self],
        defaultSubcommand: AuditShow.self)
}

struct AuditShow: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "show", abstract: "Print audit entries (newest last).")
    @Option(help: "Only the last N entries.") var limit: Int?
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let entries = try await engine.auditEntries(limit: limit)
        if output.json { return try printJSON(entries) }
        for e in entries { print("\(e.seq)  \(e.at)  \(e.kind)  \(e.subject)  by \(e.actor)  \(e.detail.prefix(200))") }
    }
}

struct AuditVerify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify", abstract: "Recompute the hash chain; name the first entry that was edited, deleted or reordered.")
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        let report = try await engine.verifyAudit(full: true)
        if output.json {
            try printJSON(report)
        } else if report.ok {
            print("audit log OK: \(report.entries) entries, head \(report.head ?? "-")")
        } else {
            print("audit log BROKEN at entry \(report.firstBroken ?? 0): \(report.reason ?? "")")
        }
        if !report.ok { throw ExitCode(2) }
    }
}
