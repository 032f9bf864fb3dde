import Foundation
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `mend check-sql`: what a user runs on a migration they wrote by hand.
@Suite struct CheckSQLTests {
    func write(_ sql: String) -> String {
        let url = Paths.tempDir().appendingPathComponent("m.sql")
        try? sql.write(to: url, atomically: true, encoding: .utf8)
        return url.path
    }

    @Test func lowRiskMigrationExitsZero() async throws {
        let (status, out) = try await runMend(["check-sql", write("ALTER TABLE events ADD COLUMN coupon text;")])
        #expect(status == 0, "\(out)")
        #expect(out.contains("adding-nullable-column"))
    }

    @Test func forbiddenStatementExitsNonZeroWithRuleAndReason() async throws {
        let sql = "ALTER TABLE events ADD COLUMN x int;\nDROP TABLE events;\nALTER TABLE events ALTER COLUMN id TYPE numeric;"
        let (status, out) = try await runMend(["check-sql", write(sql), "--json"])
        #expect(status != 0)
        let verdicts = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]])
        #expect(verdicts.count == 3)
        #expect(verdicts[0]["risk"] as? String == "low")
        #expect(verdicts[1]["allowed"] as? Bool == false && verdicts[1]["risk"] as? String == "forbidden")
        #expect(verdicts[2]["risk"] as? String == "high")
        #expect((verdicts[2]["safer_alternative"] as? String)?.isEmpty == false)
    }

    @Test func catalogChecksWithDB() async throws {
        let url = Backend.sqlite.freshURL()
        _ = try await runMend(["ingest", writeLines([#"{"id": 1}"#]), "--table", "events", "--db", url])
        let (status, out) = try await runMend(["check-sql", write("ALTER TABLE other ADD COLUMN x text;"), "--db", url])
        #expect(status != 0)
        #expect(out.contains("unmanaged-table"), "\(out)")
    }
}

/// `mend check-sql --db` on PostgreSQL reads the user types, so a domain's CHECK or
/// DEFAULT counts (issue 18), through the real CLI against the throwaway cluster.
@Suite struct CheckSQLCatalogTests {
    @Test(.enabled(if: Backend.postgresURL != nil)) func domainsAreCheckedInTheCatalog() async throws {
        let url = Backend.postgres.freshURL()
        let engine = try await Backend.postgres.engine(url: url)
        let schema = try #require(engine.warehouse.targetSchema)
        _ = try await engine.ingest(path: writeLines([#"{"id": 1}"#]), table: "events")
        _ = try await engine.rows("CREATE DOMAIN \(schema).positive AS integer CHECK (VALUE > 0)")
        _ = try await engine.rows("CREATE DOMAIN \(schema).plain AS text")
        let dir = Paths.tempDir().appendingPathComponent("m.sql")
        try "ALTER TABLE events ADD COLUMN a \(schema).positive;\nALTER TABLE events ADD COLUMN b \(schema).plain;".write(
            to: dir, atomically: true, encoding: .utf8)
        let (status, out) = try await runMend(["check-sql", dir.path, "--db", url, "--json"])
        #expect(status != 0)
        let verdicts = try #require(try JSONSerialization.jsonObject(with: Data(out.utf8)) as? [[String: Any]], "\(out)")
        #expect(verdicts.count == 2)
        #expect(verdicts[0]["rule"] as? String == "domain-constraint", "\(verdicts[0])")
        #expect(verdicts[0]["allowed"] as? Bool == false)
        let rules = (verdicts[1]["findings"] as? [[String: Any]])?.compactMap { $0["rule"] as? String } ?? []
        #expect(rules.contains("checked-user-type"), "\(verdicts[1])")
        #expect(verdicts[1]["risk"] as? String == "low")
    }
}
