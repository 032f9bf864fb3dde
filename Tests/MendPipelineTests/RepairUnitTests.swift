import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// The repair unit of work (issue 29): every automatic plan of a batch commits in one
/// transaction, and a plan that fails rolls back alone while the others still apply.
@Suite struct RepairUnitTests {
    /// Two auto plans in one unit; PostgreSQL refuses the DDL of one (an event trigger, so the
    /// failure comes from the database at apply time). That plan's savepoint rolls back and it is
    /// recorded failed; the other column is added and its record replayed; the audit verifies.
    @Test func aFailingPlanRollsBackAloneAndTheOthersApply() async throws {
        guard let admin = Backend.postgresURL else { return }
        let url = Backend.postgres.freshURL()
        let schema = String(url.split(separator: "schema=")[1].prefix { $0 != "&" })
        let engine = try await Backend.postgres.engine(url: url)
        _ = try await engine.ingest(path: writeLines((1...5).map { #"{"id": \#($0), "kind": "a"}"# }), table: "events")

        let adminW = try await WarehouseFactory.open(url: admin)
        await KeepAlive.shared.add(adminW)
        let trigger = "refuse_boom_\(schema)"
        try await adminW.transaction { s in
            // Database-wide, but it only refuses a column named boom on this test's table; as its
            // owner (SECURITY DEFINER), so another test's least-privilege role may run ALTER TABLE
            // meanwhile without needing this test's schema.
            try await s.execute(
                """
                CREATE FUNCTION public.\(trigger)() RETURNS event_trigger LANGUAGE plpgsql
                SECURITY DEFINER SET search_path = pg_catalog AS $f$
                BEGIN
                  IF EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass('\(schema).events')
                             AND attname = 'boom' AND NOT attisdropped) THEN
                    RAISE EXCEPTION 'boom is refused by this test';
                  END IF;
                END $f$
                """, [])
            try await s.execute(
                "CREATE EVENT TRIGGER \(trigger) ON ddl_command_end WHEN TAG IN ('ALTER TABLE') EXECUTE FUNCTION public.\(trigger)()",
                [])
        }
        let drift = writeLines([#"{"id": 6, "kind": "a", "boom": "x"}"#, #"{"id": 7, "kind": "a", "fine": "y"}"#], name: "d.jsonl")
        // The failure is thrown after the unit commits, as a failed apply always was.
        await #expect(throws: (any Error).self) { _ = try await engine.ingest(path: drift, table: "events") }
        try await adminW.transaction { s in
            try await s.execute("DROP EVENT TRIGGER \(trigger)", [])
            try await s.execute("DROP FUNCTION public.\(trigger)()", [])
        }

        let cols = try await engine.schema(table: "events")?.0.columns.map(\.name) ?? []
        #expect(cols.contains("fine"), "the other plan applied: \(cols)")
        #expect(!cols.contains("boom"), "the failed plan's DDL rolled back: \(cols)")
        let ids = try await engine.rows("SELECT id FROM \(engine.tableRef("events")) ORDER BY id").compactMap { $0[0].int }
        #expect(ids == [1, 2, 3, 4, 5, 7], "the applied plan's record was replayed; the failed one's stays parked")
        let statuses = try await engine.rows("SELECT status FROM \(engine.warehouse.stateTable("plans")) ORDER BY id")
            .compactMap { $0[0].string }
        #expect(statuses.sorted() == ["applied", "failed"], "\(statuses)")
        let open = try await engine.incidents().filter { $0.status == .open }
        #expect(open.count == 1 && open.first?.parked == 1, "the failed plan's incident stays open with its record: \(open)")
        #expect(try await engine.verifyAudit(full: true).ok)
    }

    /// Under the roles of `mend setup-roles` the DDL runs on the repair role's own connection,
    /// outside the unit's transaction: two plans in one unit (one with an integer field, so the
    /// rename evidence is read from the table first) must not make that DDL wait on a lock the
    /// unit holds (SQLSTATE 55P03). Both columns are added, every record replayed.
    @Test func twoPlansUnderTheRoles() async throws {
        guard let admin = Backend.postgresURL else { return }
        // Mend runs as the loader, repairing through the repair role.
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "unit")
        let (schema, url) = (roles.schema, roles.url)
        let engine = try await Backend.postgres.engine(url: url)
        _ = try await engine.ingest(path: eventsFile(10), table: "events")
        let lines =
            (11...13).map { #"{"id": \#($0), "user_id": 1, "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z", "m": 5}"# }
            + (14...15).map { #"{"id": \#($0), "user_id": 1, "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z", "flag": true}"# }
        let s = try await engine.ingest(path: writeLines(lines, name: "drift.jsonl"), table: "events")
        #expect(s.parked == 5 && s.repaired == 2 && s.replayedLoaded == 5 && s.stillParked == 0, "\(s)")
        let cols = try await engine.schema(table: "events")?.0.columns.map(\.name) ?? []
        #expect(cols.contains("m") && cols.contains("flag"), "\(cols)")
        #expect(try await engine.rows("SELECT COUNT(*) FROM \(schema).events").first?.first?.int == 15)
        #expect(try await engine.incidents().allSatisfy { $0.status == .resolved })
        #expect(try await engine.verifyAudit(full: true).ok)
    }
}
