import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load a JSON Lines file (or - for stdin) into a table, healing drift as the policy allows.",
        discussion: """
            The table is created from the first records if it does not exist. Records that do not fit
            are parked with a reason and an incident; lines that are not JSON are quarantined with
            their raw bytes. Exits 0 when every record is accounted for (loaded, parked or quarantined).
            Running the same file again resumes after the last committed line.
            """)

    @Argument(help: "JSON Lines file, or - for standard input.")
    var file: String
    @Option(name: .long, help: "Target table (lowercase snake_case).")
    var table: String
    @Flag(name: .long, help: "Read the file from its first line even if an earlier run committed an offset.")
    var fromStart = false
    @Flag(name: .long, help: "No summary on standard output and no progress bar.")
    var quiet = false
    @Option(
        name: .long,
        help:
            "Records per transaction: a batch commits its rows, parked records and source offset together (default: 5000 on SQLite, 20000 on PostgreSQL)."
    )
    var batchSize: Int?
    @OptionGroup var batchBytes: BatchBytesOption
    @OptionGroup var options: RepairOptions
    @OptionGroup var notify: NotifyOptions
    @OptionGroup var output: JSONFlag

    func run() async throws {
        let engine = try await options.engine()
        try await notify.attach(to: engine, policy: options.policy)
        if !quiet, let note = await engine.foreignKeysNote(table: table) {
            FileHandle.standardError.write(Data((note + "\n").utf8))
        }
        if let batchSize { await engine.setBatchSize(batchSize) }
        await batchBytes.apply(to: engine)
        // The bar goes to standard error, and only on a terminal: pipes and logs stay clean.
        let bar = (!quiet && ProgressBar.stderrIsTerminal) ? ProgressBar(path: file) : nil
        var progress: (@Sendable (Int64) -> Void)?
        if let bar { progress = { bar.update($0) } }
        let s = try await engine.ingest(path: file, table: table, resume: !fromStart, progress: progress)
        bar?.finish()
        let report = IngestReport(s, transactions: engine.warehouse.health.snapshot.commits)
        if output.json {
            try printJSON(report)
        } else if !quiet {
            for line in report.text { print(line) }
            print(String(format: "%.2fs, %.0f records/s", s.seconds, s.seconds > 0 ? Double(s.lines) / s.seconds : 0))
        }
    }
}
