import Foundation
import MendCore
import MendGuard
import Testing

@Suite struct CorpusTests {
    @Test func corpusIsLargeAndCoversEveryClass() throws {
        let corpus = try Corpus.load()
        #expect(corpus.entries.count >= 170)
        let counts = Dictionary(grouping: corpus.entries, by: \.class).mapValues(\.count)
        for (cls, n) in counts.sorted(by: { $0.key < $1.key }) {
            print("corpus class \(cls): \(n)")
            #expect(n >= 5, "class \(cls) has only \(n) entries")
        }
        let required = [
            "allowed-add-column", "widening-medium", "type-change-high", "drop", "truncate", "delete", "update",
            "insert", "merge", "grant-revoke", "create-function", "create-trigger", "create-rule", "do-block", "copy",
            "set-role", "owner", "rename", "multi-statement", "cte-write", "comment-hiding", "dollar-quote",
            "unicode-escape", "quoting-case", "other-schema", "unmanaged-table", "volatile-default", "constraints",
            "not-allow-listed", "parse-error", "alter-table-forbidden", "maintenance", "call-execute",
            "quoted-type-name", "default-cast", "builtin-types",
        ]
        for cls in required { #expect(counts[cls] != nil, "missing class \(cls)") }
        print("corpus total: \(corpus.entries.count) entries in \(counts.count) classes")
    }

    @Test func everyEntryGetsItsExpectedVerdict() throws {
        let corpus = try Corpus.load()
        let guardian = SQLGuard(context: corpus.guardContext)
        var failures = 0
        for e in corpus.entries {
            let v = guardian.judge(e.sql)
            let ok =
                v.allowed == e.expect.allowed && v.risk == e.expect.risk
                && (e.expect.rule.map { $0 == v.rule } ?? true)
            if !ok { failures += 1 }
            #expect(
                ok,
                "[\(e.class)] \(e.sql.debugDescription): got allowed=\(v.allowed) risk=\(v.risk) rule=\(v.rule) (\(v.reasons.joined(separator: " | "))), expected allowed=\(e.expect.allowed) risk=\(e.expect.risk) rule=\(e.expect.rule ?? "-")"
            )
            // Invariants of every verdict.
            #expect(v.allowed == (v.risk != .forbidden))
            #expect(v.risk == v.findings.map(\.risk).max())
            #expect(!v.reasons.isEmpty)
        }
        print("corpus verdicts: \(corpus.entries.count - failures) matched, \(failures) mismatched")
    }

    /// Defence in depth: whatever else changes, nothing the corpus marks forbidden may ever pass,
    /// neither through judge() nor as any statement of lint().
    @Test func noForbiddenEntryIsAllowed() throws {
        let corpus = try Corpus.load()
        let guardian = SQLGuard(context: corpus.guardContext)
        let forbidden = corpus.entries.filter { $0.expect.risk == .forbidden }
        #expect(forbidden.count >= 100)
        for e in forbidden {
            #expect(!guardian.judge(e.sql).allowed, "judge allowed forbidden [\(e.class)] \(e.sql.debugDescription)")
            // lint splits multi-statement text: at least one piece must still be refused.
            let lint = guardian.lint(e.sql)
            if e.expect.rule != "multi-statement" && e.expect.rule != "empty-statement" {
                #expect(lint.contains { !$0.allowed }, "lint allowed every piece of [\(e.class)] \(e.sql.debugDescription)")
            }
        }
    }
}
