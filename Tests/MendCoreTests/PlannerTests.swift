import Foundation
import MendCore
import Testing

@Suite struct RulesPlannerTests {
    static let schema = TableSchema(
        name: "events",
        columns: [
            Column(name: "id", type: .bigint, nullable: false), Column(name: "amount", type: .bigint),
            Column(name: "price", type: .double), Column(name: "ok", type: .boolean),
        ])

    static func incident(_ drifts: [Drift]) -> Incident {
        Incident(
            id: 7, table: "events", signature: Drift.signature(of: drifts), kinds: Array(Set(drifts.map(\.kind))).sorted(),
            status: .open, parked: 1, openedAt: Date(timeIntervalSince1970: 0), drifts: drifts)
    }

    static func unknown(_ col: String, _ t: LogicalType) -> Drift {
        Drift(kind: .unknownField, column: col, sourceKey: col, observed: t, expected: nil, reason: "new \(col)")
    }

    static func mismatch(_ col: String, expected: LogicalType, observed: LogicalType?) -> Drift {
        Drift(kind: .typeMismatch, column: col, sourceKey: col, observed: observed, expected: expected, reason: "\(col) mismatch")
    }

    static func plan(_ drifts: [Drift], schema: TableSchema? = schema) -> Plan {
        RulesPlanner().planSync(incident: incident(drifts), schema: schema)
    }

    @Test func newFieldsBecomeNullableColumnsOfTheirInferredType() {
        let p = Self.plan([Self.unknown("country", .text), Self.unknown("seen_at", .timestamptz)])
        #expect(p.operations == [.addColumn("country", .text), .addColumn("seen_at", .timestamptz)])
        #expect(p.problem() == nil)
        #expect(p.plannedBy == "rules")
        #expect(p.incidentID == 7)
        #expect(p.table == "events")
        #expect(p.rationale.contains("country"))
        #expect((0...1).contains(p.confidence))
    }

    @Test func sameNewFieldWithTwoTypesJoins() {
        let p = Self.plan([Self.unknown("score", .bigint), Self.unknown("score", .double)])
        #expect(p.operations == [.addColumn("score", .double)])
        let q = Self.plan([Self.unknown("flag", .boolean), Self.unknown("flag", .bigint)])
        #expect(q.operations == [.addColumn("flag", .text)])
    }

    /// A column that another worker added meanwhile keeps its operation (the Engine's
    /// apply skips what the catalog has, then replays); planning never turns it into quarantine.
    @Test func columnAddedMeanwhileStaysInThePlan() {
        let p = Self.plan([Self.unknown("amount", .bigint), Self.unknown("country", .text)])
        #expect(p.operations == [.addColumn("amount", .bigint), .addColumn("country", .text)])
        #expect(!p.operations.contains { $0.kind == .quarantine })
    }

    @Test func numericMismatchWidensToNumeric() {
        let p = Self.plan([Self.mismatch("amount", expected: .bigint, observed: .double)])
        #expect(p.operations == [.widen("amount", from: .bigint, to: .numeric)])
        #expect(p.problem() == nil)
        let q = Self.plan([Self.mismatch("price", expected: .double, observed: .numeric)])
        #expect(q.operations == [.widen("price", from: .double, to: .numeric)])
        let r = Self.plan([
            Self.mismatch("amount", expected: .bigint, observed: .numeric), Self.mismatch("amount", expected: .bigint, observed: .double),
        ])
        #expect(r.operations.count == 1, "one widening per column: \(r.operations)")
    }

    @Test func otherMismatchAddsAVariantColumn() {
        let p = Self.plan([Self.mismatch("amount", expected: .bigint, observed: .text)])
        #expect(p.operations == [PlanOperation(kind: .addVariantColumn, column: "amount__v_text", type: .text, of: "amount")])
        #expect(p.problem() == nil)
        let q = Self.plan([Self.mismatch("ok", expected: .boolean, observed: .bigint)])
        #expect(q.operations == [PlanOperation(kind: .addVariantColumn, column: "ok__v_bigint", type: .bigint, of: "ok")])
        // Booleans never widen into numbers.
        let r = Self.plan([Self.mismatch("amount", expected: .bigint, observed: .boolean)])
        #expect(r.operations.first?.kind == .addVariantColumn)
    }

    @Test func variantNameIsShortenedAndWellFormed() {
        let long = String(repeating: "c", count: 60)
        let p = Self.plan([Self.mismatch(long, expected: .bigint, observed: .timestamptz)], schema: nil)
        let col = p.operations.first?.column ?? ""
        #expect(col.utf8.count <= Identifier.maxBytes)
        #expect(col == Identifier.shorten("\(long)__v_timestamptz"))
        #expect(p.problem() == nil)
    }

    @Test func existingVariantKeepsItsOperation() {
        var schema = Self.schema
        schema.append(Column(name: "amount__v_text", type: .text))
        let p = Self.plan([Self.mismatch("amount", expected: .bigint, observed: .text), Self.unknown("country", .text)], schema: schema)
        #expect(p.operations.map(\.column) == ["amount__v_text", "country"])
    }

    @Test func missingRequiredIsQuarantined() {
        let d = Drift(kind: .missingRequired, column: "id", sourceKey: "id", observed: nil, expected: .bigint, reason: "no id")
        let p = Self.plan([d])
        #expect(p.operations.map(\.kind) == [.quarantine])
        #expect(p.problem() == nil)
        // Together with an additive fix, quarantine still wins: the record cannot load anyway.
        let q = Self.plan([d, Self.unknown("country", .text)])
        #expect(q.operations.map(\.kind) == [.quarantine])
    }

    @Test(arguments: [DriftKind.invalidIdentifier, .valueTooLarge, .unparseable])
    func unfixableDriftsAreQuarantined(_ kind: DriftKind) {
        let p = Self.plan([Drift(kind: kind, column: "x", sourceKey: "x", observed: .text, expected: nil, reason: "r")])
        #expect(p.operations.map(\.kind) == [.quarantine])
    }

    @Test func mismatchWithoutTypesIsQuarantined() {
        let p = Self.plan([Self.mismatch("amount", expected: .bigint, observed: nil)])
        #expect(p.operations.map(\.kind) == [.quarantine])
    }

    @Test func mixedAdditiveDriftsProduceOnePlan() {
        let p = Self.plan([
            Self.unknown("country", .text), Self.mismatch("amount", expected: .bigint, observed: .double),
            Self.mismatch("ok", expected: .boolean, observed: .text),
        ])
        #expect(p.operations.map(\.kind) == [.addColumn, .widenColumn, .addVariantColumn])
        #expect(p.problem() == nil)
    }

    @Test func planIsDeterministic() async throws {
        let drifts = [Self.unknown("b", .text), Self.unknown("a", .bigint), Self.mismatch("amount", expected: .bigint, observed: .text)]
        let p1 = Self.plan(drifts)
        let p2 = try await RulesPlanner().plan(incident: Self.incident(drifts), schema: Self.schema)
        #expect(p1 == p2)
    }
}

@Suite struct PlanProblemTests {
    @Test(arguments: ["A", "Amount", "x;drop", "x; DROP TABLE t", "1col", "", "a b", #"a"b"#, String(repeating: "a", count: 64)])
    func badColumnNamesAreRefused(_ name: String) {
        let op = PlanOperation.addColumn(name, .text)
        let p = op.problem()
        #expect(p != nil)
        #expect(p?.contains("not a column name") == true)
    }

    @Test func wellFormedOperationsPass() {
        #expect(PlanOperation.addColumn("a", .text).problem() == nil)
        #expect(PlanOperation.addColumn(String(repeating: "a", count: 63), .text).problem() == nil)
        #expect(PlanOperation.widen("a", from: .bigint, to: .numeric).problem() == nil)
        #expect(PlanOperation.widen("a", from: .bigint, to: .text).problem() == nil)
        #expect(PlanOperation(kind: .addVariantColumn, column: "a__v_text", type: .text, of: "a").problem() == nil)
        #expect(PlanOperation(kind: .mapField, column: "user_id", source: "uid").problem() == nil)
        #expect(PlanOperation(kind: .convertValue, column: "at", conversion: .epochSecondsToTimestamp).problem() == nil)
        #expect(PlanOperation(kind: .quarantine).problem() == nil)
        #expect(PlanOperation(kind: .createTable, columns: [Column(name: "id", type: .bigint)]).problem() == nil)
    }

    @Test func missingPartsAreNamed() {
        #expect(PlanOperation(kind: .addColumn, column: "a").problem()?.contains("type") == true)
        #expect(PlanOperation(kind: .addColumn, type: .text).problem()?.contains("column") == true)
        #expect(PlanOperation(kind: .widenColumn, column: "a", type: .numeric).problem()?.contains("from") == true)
        #expect(PlanOperation(kind: .addVariantColumn, column: "a__v_text", type: .text).problem()?.contains("of") == true)
        #expect(PlanOperation(kind: .addVariantColumn, column: "a__v_text", of: "a").problem()?.contains("type") == true)
        #expect(PlanOperation(kind: .mapField, column: "a").problem()?.contains("source") == true)
        #expect(PlanOperation(kind: .convertValue, column: "a").problem()?.contains("conversion") == true)
        #expect(PlanOperation(kind: .createTable).problem()?.contains("columns") == true)
        #expect(PlanOperation(kind: .createTable, columns: []).problem()?.contains("columns") == true)
    }

    @Test func badNamesAnywhereInAnOperationAreRefused() {
        #expect(PlanOperation(kind: .addVariantColumn, column: "a__v_text", type: .text, of: "A").problem() != nil)
        #expect(PlanOperation(kind: .mapField, column: "a", source: "x;drop").problem() != nil)
        #expect(PlanOperation(kind: .mapField, column: "Bad", source: "a").problem() != nil)
        #expect(PlanOperation(kind: .convertValue, column: "x y", conversion: .numericString).problem() != nil)
        #expect(
            PlanOperation(kind: .createTable, columns: [Column(name: "id", type: .bigint), Column(name: "x\"y", type: .text)])
                .problem() != nil)
    }

    @Test(arguments: [
        (LogicalType.numeric, LogicalType.bigint), (.text, .bigint), (.double, .bigint), (.bigint, .double), (.json, .text),
        (.text, .timestamptz), (.bigint, .boolean), (.numeric, .double),
    ])
    func narrowingIsNotAWidening(_ from: LogicalType, _ to: LogicalType) {
        let p = PlanOperation.widen("a", from: from, to: to).problem()
        #expect(p?.contains("not a widening") == true)
    }

    @Test func planLevelChecks() {
        let ok = Plan(incidentID: 1, table: "t", operations: [.addColumn("a", .text)], rationale: "r", confidence: 0.9, plannedBy: "x")
        #expect(ok.problem() == nil)
        var empty = ok
        empty.operations = []
        #expect(empty.problem()?.contains("no operations") == true)
        for c in [-0.1, 1.01, .nan, .infinity] {
            var bad = ok
            bad.confidence = c
            #expect(bad.problem()?.contains("confidence") == true, "\(c)")
        }
        var second = ok
        second.operations = [.addColumn("a", .text), .addColumn("B", .text)]
        #expect(second.problem()?.hasPrefix("operation 2:") == true)
    }

    @Test func planDecodesFromAgentJSONAndIsChecked() throws {
        let json = #"""
            {"id":0,"incidentID":1,"table":"t","rationale":"r","confidence":0.5,"plannedBy":"llm:x","status":"proposed",
             "operations":[{"kind":"add_column","column":"x;drop","type":"text"}]}
            """#
        let p = try JSONDecoder().decode(Plan.self, from: Data(json.utf8))
        #expect(p.problem()?.contains("x;drop") == true)
        let bad = json.replacingOccurrences(of: "add_column", with: "drop_table")
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Plan.self, from: Data(bad.utf8)) }
    }
}

@Suite struct CompilerTests {
    static let pg = PlanCompiler(dialect: .postgres, schema: "public")
    static let lite = PlanCompiler(dialect: .sqlite, schema: nil)

    @Test func addColumn() {
        #expect(
            Self.pg.compile(.addColumn("amount", .double), table: "events")
                == #"ALTER TABLE "public"."events" ADD COLUMN "amount" double precision"#)
        #expect(
            Self.lite.compile(.addColumn("amount", .double), table: "events")
                == #"ALTER TABLE "events" ADD COLUMN "amount" DOUBLE PRECISION"#)
        #expect(Self.pg.compile(.addColumn("meta", .json), table: "events") == #"ALTER TABLE "public"."events" ADD COLUMN "meta" jsonb"#)
        #expect(Self.lite.compile(.addColumn("meta", .json), table: "events") == #"ALTER TABLE "events" ADD COLUMN "meta" JSON"#)
    }

    @Test func addVariantColumn() {
        let op = PlanOperation(kind: .addVariantColumn, column: "amount__v_text", type: .text, of: "amount")
        #expect(Self.pg.compile(op, table: "events") == #"ALTER TABLE "public"."events" ADD COLUMN "amount__v_text" text"#)
        #expect(Self.lite.compile(op, table: "events") == #"ALTER TABLE "events" ADD COLUMN "amount__v_text" TEXT"#)
    }

    @Test func widenColumn() {
        let op = PlanOperation.widen("amount", from: .bigint, to: .numeric)
        #expect(Self.pg.compile(op, table: "events") == #"ALTER TABLE "public"."events" ALTER COLUMN "amount" TYPE numeric"#)
        #expect(Self.lite.compile(op, table: "events") == #"ALTER TABLE "events" ALTER COLUMN "amount" TYPE NUMERIC"#)
    }

    @Test func createTable() {
        let op = PlanOperation(
            kind: .createTable,
            columns: [Column(name: "id", type: .bigint), Column(name: "at", type: .timestamptz), Column(name: "x", type: nil)])
        #expect(Self.pg.compile(op, table: "events") == #"CREATE TABLE "public"."events" ("id" bigint, "at" timestamptz, "x" text)"#)
        #expect(Self.lite.compile(op, table: "events") == #"CREATE TABLE "events" ("id" BIGINT, "at" TIMESTAMPTZ, "x" TEXT)"#)
    }

    @Test func hostileNamesStayQuotedIdentifiers() {
        let table = #"ev"; DROP TABLE users; --"#
        let col = #"c" int); DROP TABLE x; --"#
        for c in [Self.pg, Self.lite] {
            let sql = c.compile(.addColumn(col, .text), table: table) ?? ""
            #expect(sql.contains(#""ev""; DROP TABLE users; --""#), "\(sql)")
            #expect(sql.contains(#""c"" int); DROP TABLE x; --""#), "\(sql)")
            // Outside quoted identifiers there is no semicolon.
            var inQuote = false
            var outside = ""
            for ch in sql {
                if ch == "\"" { inQuote.toggle(); continue }
                if !inQuote { outside.append(ch) }
            }
            #expect(!outside.contains(";"), "\(outside)")
            #expect(!inQuote, "quotes are balanced")
        }
        let hostileSchema = PlanCompiler(dialect: .postgres, schema: #"s"x"#)
        #expect(hostileSchema.tableRef("t") == #""s""x"."t""#)
    }

    @Test func stateOnlyOperationsCompileToNothing() {
        for op in [
            PlanOperation(kind: .mapField, column: "a", source: "b"),
            PlanOperation(kind: .convertValue, column: "a", conversion: .numericString), PlanOperation(kind: .quarantine),
        ] {
            #expect(Self.pg.compile(op, table: "t") == nil)
            #expect(Self.lite.compile(op, table: "t") == nil)
        }
        // Incomplete operations compile to nothing rather than to broken SQL.
        #expect(Self.pg.compile(PlanOperation(kind: .addColumn, column: "a"), table: "t") == nil)
        #expect(Self.pg.compile(PlanOperation(kind: .widenColumn, type: .numeric), table: "t") == nil)
    }

    @Test func dialectTypeNames() {
        for t in LogicalType.allCases {
            #expect(SQLDialect.postgres.typeName(t) == t.postgresName)
            #expect(SQLDialect.sqlite.typeName(t) == t.sqliteName)
        }
    }
}

/// The rules planner is linear in the number of drifts (it used to be quadratic: a record
/// with 100,000 new keys held the table's lock for 16 minutes).
@Suite struct RulesPlannerScaleTests {
    @Test func oneHundredThousandNewFieldsPlanOnce() {
        let drifts = (0..<100_000).map { i in
            Drift(kind: .unknownField, column: "k\(i)", sourceKey: "k\(i)", observed: .bigint, expected: nil, reason: "new")
        }
        let incident = Incident(
            id: 1, table: "t", signature: "s", kinds: [.unknownField], status: .open, parked: 1, openedAt: Date(), drifts: drifts)
        let plan = RulesPlanner().planSync(incident: incident, schema: nil)
        #expect(plan.operations.count == 100_000)
        #expect(Set(plan.operations.compactMap(\.column)).count == 100_000)
    }
}
