import Foundation
import MendCore
import MendGuard
import Testing

/// Cross-check against squawk (https://squawkhq.com, `pip install squawk-cli`): every statement the guard
/// allows and squawk flags must be at least `.medium` for Mend, unless listed in `disagreements`.
enum Squawk {
    /// `SQUAWK_BIN`, else the first `squawk` on PATH.
    static let binary: String? = {
        let env = ProcessInfo.processInfo.environment
        let fm = FileManager.default
        if let bin = env["SQUAWK_BIN"], !bin.isEmpty {
            return fm.isExecutableFile(atPath: bin) ? bin : nil
        }
        for dir in (env["PATH"] ?? "").split(separator: ":") {
            let candidate = "\(dir)/squawk"
            if fm.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }()

    /// Deliberate disagreements: squawk flags these, Mend still rates them `.low`.
    /// `sql == nil` means the rule is overruled for every statement. Mirrored in guard.md.
    static let disagreements: [(rule: String, sql: String?, reason: String)] = [
        (
            "require-lock-timeout", nil,
            "A session setting, not a property of the statement: the guard rates what the one statement does; setting lock_timeout before a repair is the executor's job."
        ),
        (
            "require-statement-timeout", nil,
            "Same: statement_timeout is the executor's session setting, not part of the judged statement."
        ),
        (
            "prefer-robust-stmts", nil,
            "Idempotency style (IF NOT EXISTS / transactions): Mend runs one reviewed statement and records its outcome; it does not change lock or rewrite cost."
        ),
        (
            "prefer-bigint-over-int", nil,
            "Type-choice advice: the column type follows the ingested data, and ADD COLUMN of an int is as cheap as of a bigint."
        ),
        ("prefer-bigint-over-smallint", nil, "Type-choice advice, as prefer-bigint-over-int."),
        (
            "prefer-text-field", nil,
            "Adding a new varchar(n) column is catalog-only; squawk warns about later length changes, which Mend judges when they happen (widening = medium)."
        ),
        ("prefer-timestamptz", nil, "Type-choice advice; adding a timestamp column is catalog-only."),
        (
            "adding-field-with-default", "ALTER TABLE events ADD COLUMN ratio double precision DEFAULT -1.5",
            "squawk 2.x treats a negative literal as a non-constant expression; PostgreSQL folds -1.5 into a constant, stored as a fast default on 11+ (no rewrite)."
        ),
    ]

    static func overruled(rule: String, sql: String) -> Bool {
        disagreements.contains { $0.rule == rule && ($0.sql == nil || $0.sql == sql) }
    }

    /// Runs squawk on one file per statement and returns the rule names it reported per statement index.
    static func run(_ binary: String, statements: [String], pgVersion: String) throws -> [Int: Set<String>] {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("mend-squawk-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        var files: [String] = []
        for (i, sql) in statements.enumerated() {
            let name = String(format: "stmt-%04d.sql", i)
            try (sql + ";\n").write(to: dir.appendingPathComponent(name), atomically: true, encoding: .utf8)
            files.append(name)
        }
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--reporter", "json", "--pg-version", pgVersion] + files
        p.currentDirectoryURL = dir
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        // squawk exits 1 when it reports violations; only an unreadable report is an error.
        struct Violation: Decodable { var file: String; var rule_name: String }
        let violations = try JSONDecoder().decode([Violation].self, from: data)
        var byIndex: [Int: Set<String>] = [:]
        for v in violations {
            let name = (v.file as NSString).lastPathComponent
            guard let i = files.firstIndex(of: name) else { continue }
            byIndex[i, default: []].insert(v.rule_name)
        }
        return byIndex
    }

    static func version(_ binary: String) -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--version"]
        let out = Pipe()
        p.standardOutput = out
        guard (try? p.run()) != nil else { return "?" }
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        return String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
    }
}

@Suite struct SquawkCrossCheckTests {
    @Test(
        .enabled(
            if: Squawk.binary != nil,
            "squawk not found: set SQUAWK_BIN or put `squawk` on PATH (pip install squawk-cli) to run the cross-check"))
    func squawkFlaggedStatementsAreAtLeastMedium() async throws {
        let binary = try #require(Squawk.binary)
        let corpus = try Corpus.load()
        let guardian = SQLGuard(context: corpus.guardContext)
        let allowed = corpus.entries.map(\.sql).filter { guardian.judge($0).allowed }
        #expect(allowed.count >= 40)
        let major = corpus.context.serverVersionNum / 10000
        // A child process is awaited on a Dispatch thread, not on the cooperative pool.
        let flagged = try await withCheckedThrowingContinuation { (c: CheckedContinuation<[Int: Set<String>], any Error>) in
            DispatchQueue.global().async { c.resume(with: Result { try Squawk.run(binary, statements: allowed, pgVersion: "\(major).0") }) }
        }
        print("\(Squawk.version(binary)): \(allowed.count) allowed statements, \(flagged.count) flagged")
        var overruledUse: [String: Int] = [:]
        for (i, rules) in flagged.sorted(by: { $0.key < $1.key }) {
            let sql = allowed[i]
            let verdict = guardian.judge(sql)
            let remaining = rules.filter { !Squawk.overruled(rule: $0, sql: sql) }
            if verdict.risk < .medium {
                for r in rules.subtracting(remaining) { overruledUse[r, default: 0] += 1 }
            }
            if !remaining.isEmpty {
                #expect(
                    verdict.risk >= .medium,
                    "squawk flags \(remaining.sorted()) on \(sql.debugDescription) but Mend rates it \(verdict.risk) (\(verdict.rule))")
            }
        }
        for (rule, n) in overruledUse.sorted(by: { $0.key < $1.key }) {
            print("squawk disagreement \(rule): overruled on \(n) statements Mend rates low")
        }
    }
}
