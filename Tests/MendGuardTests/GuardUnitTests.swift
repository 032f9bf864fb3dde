import Foundation
import MendCore
import Testing

@testable import MendGuard

@Suite struct GuardUnitTests {
    let managed = GuardContext(
        managedTables: ["public.t", "public.events"], allowedSchemas: ["public"],
        columnTypes: ["public.events": ["name": "varchar(20)"]])

    @Test func headlineMultiStatementIsForbidden() {
        for g in [SQLGuard(), SQLGuard(context: managed)] {
            let v = g.judge("ALTER TABLE t ADD COLUMN x int; DROP TABLE t; --")
            #expect(!v.allowed)
            #expect(v.risk == .forbidden)
            #expect(v.rule == "multi-statement")
            #expect(v.statementKind == "multi_statement")
            #expect(v.reasons[0].contains("2 statements"))
            // The inner findings still say what was hidden.
            #expect(v.findings.contains { $0.rule == "destructive-drop" })
        }
    }

    @Test func singleAddColumnIsLow() {
        let v = SQLGuard(context: managed).judge("ALTER TABLE t ADD COLUMN x int")
        #expect(v.allowed)
        #expect(v.risk == .low)
        #expect(v.rule == "adding-nullable-column")
        #expect(v.statementKind == "AlterTableStmt")
        #expect(v.sql == "ALTER TABLE t ADD COLUMN x int")
    }

    @Test func lintSplitsWithTheParser() {
        let script = """
            -- add a column; not a statement separator inside this comment
            ALTER TABLE events ADD COLUMN note text DEFAULT $$a;b$$;
            ALTER TABLE events ALTER COLUMN name TYPE text;
            DROP TABLE events;
            """
        let vs = SQLGuard(context: managed).lint(script)
        #expect(vs.count == 3)
        #expect(vs.map(\.statementKind) == ["AlterTableStmt", "AlterTableStmt", "DropStmt"])
        #expect(vs.map(\.risk) == [.low, .medium, .forbidden])
        #expect(vs[0].sql.hasSuffix("DEFAULT $$a;b$$"))
        #expect(vs[1].sql == "ALTER TABLE events ALTER COLUMN name TYPE text")
        #expect(vs[2].sql == "DROP TABLE events")
        #expect(vs[2].rule == "destructive-drop")
    }

    @Test func lintSlicesByUTF8Offsets() {
        let vs = SQLGuard().lint("ALTER TABLE t ADD COLUMN \"ñandú\" text DEFAULT 'é'; ALTER TABLE t ADD COLUMN y int")
        #expect(vs.map(\.sql) == ["ALTER TABLE t ADD COLUMN \"ñandú\" text DEFAULT 'é'", "ALTER TABLE t ADD COLUMN y int"])
    }

    @Test func lintOfParseErrorCarriesParserMessage() {
        let vs = SQLGuard().lint("ALTER TABLE t ADD COLUMN x int; ALTR TABLE t")
        #expect(vs.count == 1)
        #expect(vs[0].rule == "parse-error")
        #expect(vs[0].statementKind == "parse_error")
        #expect(!vs[0].allowed)
        #expect(vs[0].reasons[0].contains("syntax error at or near \"ALTR\""))
        do {
            _ = try PgParser.parse("ALTR TABLE t")
            Issue.record("expected a parse error")
        } catch {
            #expect(error == .parse(message: "syntax error at or near \"ALTR\"", cursor: 1))
        }
    }

    @Test func nilContextSkipsCatalogChecksButNotSystemSchemas() {
        let g = SQLGuard()
        #expect(g.judge("ALTER TABLE anything ADD COLUMN x int").allowed)
        #expect(g.judge("ALTER TABLE whatever ALTER COLUMN c TYPE text").rule == "type-change-unknown-source")
        #expect(g.judge("ALTER TABLE pg_catalog.pg_class ADD COLUMN x int").rule == "schema-not-allowed")
        #expect(g.judge("ALTER TABLE _mend.state ADD COLUMN x int").rule == "schema-not-allowed")
    }

    @Test func constantDefaultBeforePostgres11IsHigh() {
        var ctx = managed
        ctx.serverVersionNum = 100012
        let g = SQLGuard(context: ctx)
        #expect(g.judge("ALTER TABLE t ADD COLUMN x int DEFAULT 0").risk == .high)
        #expect(g.judge("ALTER TABLE t ADD COLUMN x int DEFAULT 0").rule == "adding-field-with-default")
        #expect(g.judge("ALTER TABLE t ADD COLUMN x int DEFAULT NULL").risk == .low)
        #expect(g.judge("ALTER TABLE t ADD COLUMN x int").risk == .low)
    }

    @Test func bareManagedNamesAndEmptyAllowedSchemas() {
        let g = SQLGuard(context: GuardContext(managedTables: ["events"], defaultSchema: "main"))
        #expect(g.judge("ALTER TABLE events ADD COLUMN x int").allowed)
        #expect(g.judge("ALTER TABLE main.events ADD COLUMN x int").allowed)
        #expect(g.judge("ALTER TABLE public.events ADD COLUMN x int").rule == "schema-not-allowed")
        #expect(g.judge("ALTER TABLE other ADD COLUMN x int").rule == "unmanaged-table")
    }

    @Test func contextTypeSpellingsAreNormalisedByTheParser() {
        let ctx = GuardContext(columnTypes: [
            "public.t": ["a": "character varying(10)", "b": "integer", "c": "NUMERIC(5, 1)", "d": "not a type ;"]
        ])
        let g = SQLGuard(context: ctx)
        #expect(g.judge("ALTER TABLE t ALTER COLUMN a TYPE varchar(11)").risk == .medium)
        #expect(g.judge("ALTER TABLE t ALTER COLUMN b TYPE int4").risk == .medium)  // no-op
        #expect(g.judge("ALTER TABLE t ALTER COLUMN b TYPE int8").rule == "changing-column-type")
        #expect(g.judge("ALTER TABLE t ALTER COLUMN c TYPE numeric(6,1)").risk == .medium)
        #expect(g.judge("ALTER TABLE t ALTER COLUMN d TYPE text").rule == "type-change-unknown-source")
    }

    @Test func verdictIsCodable() throws {
        let v = SQLGuard().judge("DROP TABLE t")
        let back = try JSONDecoder().decode(GuardVerdict.self, from: JSONEncoder().encode(v))
        #expect(back == v)
        #expect(v.saferAlternative != nil)
    }

    @Test func concurrentJudgingIsConsistent() async {
        let g = SQLGuard(context: managed)
        let sqls = ["ALTER TABLE t ADD COLUMN x int", "DROP TABLE t", "ALTER TABLE events ALTER COLUMN name TYPE text"]
        let expected = sqls.map { g.judge($0).risk }
        await withTaskGroup(of: Bool.self) { group in
            for i in 0..<200 {
                group.addTask { g.judge(sqls[i % 3]).risk == expected[i % 3] }
            }
            for await ok in group { #expect(ok) }
        }
    }
}
