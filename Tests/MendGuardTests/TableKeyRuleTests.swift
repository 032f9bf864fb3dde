import Foundation
import MendCore
import Testing

@testable import MendGuard

/// `foreign_keys: true` (D29): the keys Mend's CREATE TABLE of a new table may carry, and
/// nothing more; ADD CONSTRAINT on a table that exists stays refused.
@Suite struct TableKeyRuleTests {
    let creating = GuardContext(managedTables: ["public.events", "public.events__c"], allowedSchemas: ["public"])
    let columns = #""_mend_id" text, "_mend_parent_id" text, "x" bigint"#
    let unique = #"CONSTRAINT "events__c__mend_id_key" UNIQUE ("_mend_id")"#
    let reference = #"CONSTRAINT "events__c__mend_parent_fkey" FOREIGN KEY ("_mend_parent_id") REFERENCES "public"."events" ("_mend_id")"#

    func judge(_ elements: String) -> GuardVerdict {
        SQLGuard(context: creating).judge(#"CREATE TABLE "public"."events__c" ("# + elements + ")")
    }

    @Test func theKeysMendWritesAreAccepted() {
        let v = judge("\(columns), \(unique), \(reference) DEFERRABLE INITIALLY DEFERRED")
        #expect(v.allowed && v.risk == .low && v.rule == "create-managed-table", "\(v.findings)")
        #expect(v.reasons.joined().contains("deferrable foreign key"), "\(v.reasons)")
        // The compiler's own statement, as the engine judges it.
        let op = PlanOperation(
            kind: .createTable, columns: [Column(name: "_mend_id", type: .text), Column(name: "_mend_parent_id", type: .text)],
            keys: TableKeys(parent: "events"))
        let sql = PlanCompiler(dialect: .postgres, schema: "public").compile(op, table: "events__c") ?? ""
        #expect(SQLGuard(context: creating).judge(sql).allowed, "\(sql)")
        let root = PlanOperation(kind: .createTable, columns: [Column(name: "_mend_id", type: .text)], keys: TableKeys(parent: nil))
        #expect(
            SQLGuard(context: creating).judge(PlanCompiler(dialect: .postgres, schema: "public").compile(root, table: "events") ?? "")
                .allowed)
    }

    @Test func anyOtherKeyIsRefused() {
        let refused = [
            "\(columns), \(reference)",  // not deferrable: checked row by row, within a load
            "\(columns), \(reference) DEFERRABLE",  // deferrable but not deferred
            "\(columns), \(reference) ON DELETE CASCADE DEFERRABLE INITIALLY DEFERRED",  // a delete that deletes more
            "\(columns), \(reference) ON UPDATE SET NULL DEFERRABLE INITIALLY DEFERRED",
            "\(columns), \(reference) MATCH FULL DEFERRABLE INITIALLY DEFERRED",
            "\(columns), \(reference) NOT VALID DEFERRABLE INITIALLY DEFERRED",
            #"\#(columns), CONSTRAINT k FOREIGN KEY (x) REFERENCES "public"."events" ("_mend_id") DEFERRABLE INITIALLY DEFERRED"#,
            #"\#(columns), CONSTRAINT k FOREIGN KEY ("_mend_parent_id") REFERENCES other ("_mend_id") DEFERRABLE INITIALLY DEFERRED"#,
            #"\#(columns), CONSTRAINT k FOREIGN KEY ("_mend_parent_id") REFERENCES pg_catalog.pg_class (oid) DEFERRABLE INITIALLY DEFERRED"#,
            #"\#(columns), UNIQUE (x)"#,
            #"\#(columns), UNIQUE ("_mend_id", x)"#,
            #"\#(columns), UNIQUE ("_mend_id") INCLUDE (x)"#,
            #"\#(columns), UNIQUE NULLS NOT DISTINCT ("_mend_id")"#,
            #"\#(columns), PRIMARY KEY ("_mend_id")"#,
            #"\#(columns), CHECK (x > 0)"#,
            #"\#(columns), EXCLUDE USING gist (x WITH =)"#,
            #""x" bigint, UNIQUE ("_mend_id")"#,  // a key on a column the statement does not define
        ]
        for elements in refused {
            let v = judge(elements)
            #expect(!v.allowed && v.risk == .forbidden, "\(elements): \(v.findings)")
        }
        // Without a context nothing vouches for a CREATE TABLE at all.
        #expect(!SQLGuard().judge(#"CREATE TABLE "public"."events__c" (\#(columns), \#(unique))"#).allowed)
    }

    @Test func addConstraintOnAnExistingTableStaysRefused() {
        for sql in [
            #"ALTER TABLE "public"."events" ADD CONSTRAINT "events__mend_id_key" UNIQUE ("_mend_id")"#,
            #"ALTER TABLE "public"."events__c" ADD \#(reference) DEFERRABLE INITIALLY DEFERRED"#,
            #"ALTER TABLE "public"."events__c" ADD \#(reference) DEFERRABLE INITIALLY DEFERRED NOT VALID"#,
        ] {
            let v = SQLGuard(context: creating).judge(sql)
            #expect(!v.allowed && v.rule == "add-constraint", "\(sql): \(v.findings)")
        }
    }
}
