import Foundation
import MendCore
import MendGuard
import MendPipeline
import MendStore

// Printing shared by the commands: JSON, aligned tables, plans, logs.

/// Every `--json` output: snake_case keys (one vocabulary with the HTTP answers and MCP),
/// sorted, ISO 8601 dates. Shapes: docs/json.md.
func printJSON<T: Encodable>(_ value: T) throws {
    let e = JSONEncoder()
    e.keyEncodingStrategy = .convertToSnakeCase
    e.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
    e.dateEncodingStrategy = .iso8601
    print(String(decoding: try e.encode(value), as: UTF8.self))
}

func pad(_ cols: [String]) -> String {
    cols.enumerated().map { i, c in
        i == 0
            ? c.padding(toLength: max(16, c.count), withPad: " ", startingAt: 0) : String(repeating: " ", count: max(0, 12 - c.count)) + c
    }
    .joined(separator: " ")
}

func printPlan(_ plan: Plan, verdicts: [GuardVerdict], decision: PolicyDecision?) {
    print("plan \(plan.id > 0 ? "#\(plan.id) " : "")by \(plan.plannedBy) (\(plan.status.rawValue), confidence \(plan.confidence)):")
    for op in plan.operations { print("  • \(op.summary)") }
    print("  why: \(plan.rationale)")
    for e in plan.evidence ?? [] {
        print("  rename evidence (score \(e.score), similarity \(e.similarity)): \(e.newKey) → \(e.oldColumn)")
        print(
            "    \(e.oldColumn) had a value in \(e.recentWithOld) of the last \(e.recentRows) loaded rows (the newest \(e.trailingWithOld) in a row)"
        )
        print("    \(e.newKey) began at \(e.firstNewAt); \(e.newRecordsWithOld) of its \(e.newRecords) records also carry \(e.oldColumn)")
        print("    samples (old ↔ new): \(e.samples.map { "\($0.old) ↔ \($0.new)" }.joined(separator: ", "))")
    }
    for v in verdicts {
        print("  SQL: \(v.sql)")
        print("    guard: \(v.allowed ? "allowed" : "REFUSED"), risk \(v.risk.rawValue) [\(v.rule)] \(v.reasons.joined(separator: "; "))")
        if let alt = v.saferAlternative { print("    safer: \(alt)") }
    }
    if let decision { print("  policy: \(decision.autonomy.rawValue) — \(decision.reasons.joined(separator: "; "))") }
}

/// Logs go to standard error: on stdio, standard output is the protocol.
func logStderr(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
