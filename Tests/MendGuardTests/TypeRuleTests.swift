import Foundation
import MendCore
import Testing

@testable import MendGuard

/// The type rule: built-in means "resolves to pg_catalog and is on the generated list"; a user type
/// is high without a catalog and judged by what it carries with one.
@Suite struct TypeRuleTests {
    let ctx = GuardContext(
        managedTables: ["public.events"], allowedSchemas: ["public"], columnTypes: ["public.events": ["count": "integer"]])

    /// The catalog of the PostgreSQL 15 session in issue 18, plus one of each other kind.
    let catalog = GuardTypeCatalog([
        .init(
            schema: "public", name: "int", kind: .domain, checks: 1, defaultExpression: "42", baseSchema: "pg_catalog",
            baseName: "int4"),
        .init(schema: "public", name: "outer", kind: .domain, baseSchema: "public", baseName: "int"),
        .init(schema: "public", name: "nn", kind: .domain, notNull: true, baseSchema: "pg_catalog", baseName: "text"),
        .init(
            schema: "public", name: "stamp", kind: .domain, defaultExpression: "clock_timestamp()", baseSchema: "pg_catalog",
            baseName: "timestamptz"),
        .init(schema: "public", name: "label", kind: .domain, defaultExpression: "'x'::text", baseSchema: "pg_catalog", baseName: "text"),
        .init(schema: "public", name: "plain", kind: .domain, baseSchema: "pg_catalog", baseName: "text"),
        .init(schema: "public", name: "mood", kind: .enumeration),
        .init(schema: "public", name: "moody", kind: .domain, baseSchema: "public", baseName: "mood"),
        .init(schema: "public", name: "pair", kind: .composite),
        .init(schema: "app", name: "code", kind: .domain, baseSchema: "pg_catalog", baseName: "varchar"),
    ])

    func rule(_ sql: String, catalog: GuardTypeCatalog? = nil) -> (Risk, String) {
        let v = SQLGuard(context: ctx, types: catalog).judge(sql)
        return (v.risk, v.rule)
    }

    @Test func generatedListHoldsTheTypesIssue18CalledUnknown() {
        for t in [
            "point", "polygon", "box", "circle", "line", "lseg", "path", "tsquery", "int4range", "tstzrange", "daterange",
            "text", "tsvector", "int4", "jsonb", "uuid",
        ] {
            #expect(PgCatalogTypes.builtin.contains(t), "\(t)")
        }
        for t in ["int", "integer", "bigint", "boolean", "decimal", "serial", "citext", "_int4", "char", "void", "pg_class"] {
            #expect(!PgCatalogTypes.builtin.contains(t), "\(t)")
        }
        #expect(PgCatalogTypes.excluded["char"] == .internalUse)
        #expect(PgCatalogTypes.excluded["_int4"] == .array)
        #expect(PgCatalogTypes.excluded["record"] == .pseudo)
        #expect(PgCatalogTypes.excluded["pg_class"] == .catalogRow)
        #expect(PgCatalogTypes.excluded["regproc"] == .blocksUpgrade)
        #expect(PgCatalogTypes.builtin.isDisjoint(with: PgCatalogTypes.excluded.keys))
        // The list comes from the parser's major version.
        #expect(PgCatalogTypes.serverVersion.hasPrefix("15."))
    }

    @Test func keywordSpellingsResolveToPgCatalogAndQuotedOnesDoNot() throws {
        for (spelling, base) in [("int", "int4"), ("integer", "int4"), ("bigint", "int8"), ("boolean", "bool"), ("decimal", "numeric")] {
            let kw = try #require(PgParser.parseTypeName(spelling))
            #expect(kw.isBuiltin && kw.base == base && kw.schema == "pg_catalog")
            let quoted = try #require(PgParser.parseTypeName("\"\(spelling)\""))
            #expect(!quoted.isBuiltin && quoted.isUserType && quoted.schema == nil && quoted.base == spelling)
        }
        // A name pg_catalog has is the same type quoted or not: libpg_query's tree does not tell them
        // apart, and neither does PostgreSQL.
        for name in ["text", "int4", "point", "tstzrange"] {
            #expect(PgParser.parseTypeName(name) == PgParser.parseTypeName("\"\(name)\""))
            #expect(PgParser.parseTypeName(name)?.isBuiltin == true)
        }
        #expect(PgParser.parseTypeName("public.int4")?.isUserType == true)
        #expect(PgParser.parseTypeName("\"serial\"")?.isSerial == true)
    }

    @Test func userTypesAreHighWithoutACatalog() {
        for sql in [
            "ALTER TABLE events ADD COLUMN a \"int\"", "ALTER TABLE events ADD COLUMN a plain", "ALTER TABLE events ADD COLUMN a mood",
        ] {
            #expect(rule(sql) == (.high, "add-column-unknown-type"), "\(sql)")
        }
        let v = SQLGuard(context: ctx).judge("ALTER TABLE events ADD COLUMN a \"int\"")
        #expect(v.reasons[0].contains("keyword for pg_catalog.int4"))
        #expect(v.saferAlternative?.contains("--db") == true)
    }

    @Test func theCatalogDecidesWhatAUserTypeCarries() {
        // Issue 18's domain: DEFAULT 42 CHECK (…) rewrote the table and ran the CHECK per row.
        #expect(rule("ALTER TABLE events ADD COLUMN a \"int\"", catalog: catalog) == (.forbidden, "domain-constraint"))
        #expect(rule("ALTER TABLE events ADD COLUMN a U&\"\\0069nt\"", catalog: catalog) == (.forbidden, "domain-constraint"))
        #expect(rule("ALTER TABLE events ADD COLUMN a \"int\"[]", catalog: catalog) == (.forbidden, "domain-constraint"))
        // Constraints are inherited along the domain chain.
        #expect(rule("ALTER TABLE events ADD COLUMN a outer", catalog: catalog) == (.forbidden, "domain-constraint"))
        #expect(rule("ALTER TABLE events ADD COLUMN a nn", catalog: catalog) == (.forbidden, "domain-constraint"))
        #expect(rule("ALTER TABLE events ADD COLUMN a stamp", catalog: catalog) == (.forbidden, "volatile-default"))
        #expect(rule("ALTER TABLE events ADD COLUMN a label", catalog: catalog) == (.high, "domain-default"))
        #expect(rule("ALTER TABLE events ADD COLUMN a pair", catalog: catalog) == (.high, "add-column-unknown-type"))
        #expect(rule("ALTER TABLE events ADD COLUMN a \"bigint\"", catalog: catalog) == (.high, "add-column-unknown-type"))
        // Unqualified names resolve in the default schema; app.code is found only qualified.
        #expect(rule("ALTER TABLE events ADD COLUMN a code", catalog: catalog) == (.high, "add-column-unknown-type"))
        let plain = SQLGuard(context: ctx, types: catalog).judge("ALTER TABLE events ADD COLUMN a app.code")
        #expect(plain.risk == .low && plain.rule == "adding-nullable-column")
        #expect(plain.findings.map(\.rule) == ["adding-nullable-column", "checked-user-type"])
        for t in ["plain", "mood", "moody", "public.mood", "mood[]"] {
            #expect(rule("ALTER TABLE events ADD COLUMN a \(t)", catalog: catalog).0 == .low, "\(t)")
        }
        // Type changes: a constrained domain is refused, anything else not built-in stays high.
        #expect(rule("ALTER TABLE events ALTER COLUMN count TYPE \"int\"", catalog: catalog) == (.forbidden, "domain-constraint"))
        #expect(rule("ALTER TABLE events ALTER COLUMN count TYPE plain", catalog: catalog) == (.high, "type-change-user-type"))
        // A catalog does not make a cast to a user type constant.
        #expect(rule("ALTER TABLE events ADD COLUMN a text DEFAULT 'x'::plain", catalog: catalog) == (.forbidden, "volatile-default"))
    }

    @Test func castsInDefaultsAreConstantOnlyToBuiltinTypes() {
        let g = SQLGuard(context: ctx)
        #expect(g.judge("ALTER TABLE events ADD COLUMN a int DEFAULT '1'::\"int\"").rule == "volatile-default")
        #expect(g.judge("ALTER TABLE events ADD COLUMN a int DEFAULT CAST('1' AS public.mydomain)").rule == "volatile-default")
        #expect(g.judge("ALTER TABLE events ADD COLUMN a int DEFAULT '1'::int").rule == "adding-column-with-constant-default")
        #expect(g.judge("ALTER TABLE events ADD COLUMN a point DEFAULT '(1,2)'::\"point\"").risk == .low)
    }

    @Test func catalogQueryIsOneSelectForTheGuardsOwnParser() throws {
        let stmts = try PgParser.parse(GuardTypeCatalog.query)
        #expect(stmts.count == 1 && stmts[0].type == "SelectStmt")
        #expect(GuardTypeCatalog.Kind(typtype: "d") == .domain)
        #expect(GuardTypeCatalog.Kind(typtype: "e") == .enumeration)
        #expect(GuardTypeCatalog.Kind(typtype: "x") == nil)
    }
}
