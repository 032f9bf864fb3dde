import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// `foreign_keys: true` (D29): the tables of a record tree are created with a UNIQUE `_mend_id`
/// and each child's `_mend_parent_id` references its parent's, DEFERRABLE INITIALLY DEFERRED.
/// PostgreSQL builds them; SQLite accepts the option and ignores it.
extension NestedTests {
    static let keyed = "nested_lists: tables\nforeign_keys: true\n"
    static let tree = ["events", "events__payload__commits", "events__payload__commits__added"]

    /// The keys PostgreSQL holds on `table`: (name, kind, deferrable, deferred, referenced table).
    static func constraints(_ engine: Engine, _ table: String) async throws -> [(String, String, Bool, Bool, String)] {
        try await engine.rows(
            """
            SELECT k.conname::text, k.contype::text, k.condeferrable, k.condeferred, COALESCE(r.relname::text, '')
            FROM pg_constraint k LEFT JOIN pg_class r ON r.oid = k.confrelid
            WHERE k.conrelid = to_regclass(?) ORDER BY k.contype DESC
            """, [.text(engine.tableRef(table))]
        ).map { r in (r[0].string ?? "", r[1].string ?? "", r[2] == .bool(true), r[3] == .bool(true), r[4].string ?? "") }
    }

    /// Every table of the tree has its UNIQUE `_mend_id`; every child a deferred key to its parent.
    static func expectKeys(_ engine: Engine) async throws {
        for (i, t) in tree.enumerated() {
            let keys = try await constraints(engine, t)
            let unique = keys.filter { $0.1 == "u" }
            #expect(unique.map(\.0) == [TableKeys.uniqueName(table: t)], "\(t): \(keys)")
            let foreign = keys.filter { $0.1 == "f" }
            if i == 0 {
                #expect(foreign.isEmpty, "the root references nothing: \(keys)")
            } else {
                #expect(foreign.map(\.0) == [TableKeys.foreignName(table: t)], "\(t): \(keys)")
                #expect(foreign.allSatisfy { $0.2 && $0.3 && $0.4 == tree[i - 1] }, "\(t): \(keys)")
            }
        }
    }

    /// A child row whose parent does not exist, written by hand: refused at the commit.
    static func expectOrphanRefused(_ engine: Engine) async throws {
        let child = await engine.tableRef("events__payload__commits")
        let error = await #expect(throws: StoreError.self) {
            try await engine.warehouse.transaction { s in
                try await s.execute(
                    "INSERT INTO \(child) (_mend_id, _mend_parent_id, _mend_list_idx, _mend_root_id) VALUES ('orphan', 'nobody', 0, 'nobody')",
                    [])
            }
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("foreign key"), "\(error.map { "\($0)" } ?? "")")
        #expect(try await engine.rows("SELECT COUNT(*) FROM \(child) WHERE _mend_id = 'orphan'").first?.first?.int == 0)
    }

    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func foreignKeysOnPostgres() async throws {
        let url = Backend.postgres.freshURL()
        let engine = try await Backend.postgres.engine(policy: try Self.policy("foreign_keys: true\n"), url: url)
        let s = try await engine.ingest(path: writeLines((1...300).map { Self.push($0, commits: $0 % 4) }), table: "events")
        #expect(s.loaded == 300 && s.parked == 0, "\(s)")
        try await Self.expectKeys(engine)
        // `mend schema`, MCP and the dashboard show each child's key.
        let children = try await engine.childTables(of: "events")
        #expect(children.map(\.table) == Array(Self.tree.dropFirst()))
        #expect(children.map(\.foreignKeyTo) == ["events", "events__payload__commits"])
        #expect(children.map(\.depth) == [1, 2])
        #expect(try await Self.count(engine, "events__payload__commits") == 450)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 900)
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits__added", "events__payload__commits") == 0)
        try await Self.expectOrphanRefused(engine)
        // Drift in a child: the record parks whole and replays whole under the keys.
        let drifting = Self.push(301, commits: 2).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"verified":1"#)
        let again = try await engine.ingest(path: writeLines([drifting]), table: "events")
        #expect(again.parked == 1 && again.repaired == 1 && again.replayedLoaded == 1 && again.stillParked == 0, "\(again)")
        #expect(try await Self.count(engine, "events") == 301)
        #expect(try await Self.count(engine, "events__payload__commits") == 452)
        // A file loaded, then loaded again from its first line: the same ids, which the UNIQUE
        // keys refuse, so each record parks whole instead of loading twice.
        let small = writeLines((401...410).map { Self.push($0, commits: 1) })
        #expect(try await engine.ingest(path: small, table: "events").loaded == 10)
        let twice = try await engine.ingest(path: small, table: "events", resume: false)
        #expect(twice.loaded == 0 && twice.parked == 10, "\(twice)")
        for t in Self.tree {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
        #expect(try await Self.count(engine, "events") == 311)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 924)
    }

    /// SIGKILL during a keyed nested ingest, then a resume: nothing twice, no orphan, and the keys hold.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func foreignKeysSurviveAKillAndAResume() async throws {
        let engine = try await Self.killAndResume(.postgres, policy: Self.keyed)
        try await Self.expectKeys(engine)
    }

    /// A table created before the option was turned on is not altered: it keeps no key, and a
    /// new child of it references nothing (its parent has no UNIQUE `_mend_id` to reference).
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func existingTablesAreNotAltered() async throws {
        let url = Backend.postgres.freshURL()
        let plain = try await Backend.postgres.engine(policy: try Self.policy(), url: url)
        _ = try await plain.ingest(path: writeLines([#"{"id":1,"labels":[{"name":"bug"}]}"#]), table: "issues")
        let engine = try await Backend.postgres.engine(policy: try Self.policy("foreign_keys: true\n"), url: url)
        let s = try await engine.ingest(
            path: writeLines([#"{"id":2,"labels":[{"name":"x"}],"assignees":[{"login":"a"}]}"#]), table: "issues")
        #expect(s.loaded == 1 && s.parked == 0, "\(s)")
        #expect(try await Self.constraints(engine, "issues").isEmpty)
        #expect(try await Self.constraints(engine, "issues__labels").isEmpty)
        let assignees = try await Self.constraints(engine, "issues__assignees")
        #expect(assignees.map(\.1) == ["u"], "a new table gets its UNIQUE id, but no key to an unkeyed parent: \(assignees)")
    }

    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func foreignKeysUnderTheRoles() async throws {
        let roles = try await SchemaUnderTheRoles(admin: Backend.postgresURL ?? "", prefix: "nestedfk")
        let engine = try await Backend.postgres.engine(policy: try Self.policy("foreign_keys: true\n"), url: roles.url)
        let s = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        #expect(s.loaded == 20, "\(s)")
        try await Self.expectKeys(engine)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 80)
        try await Self.expectOrphanRefused(engine)
    }

    /// The repair role's keyed function takes names and a parent as typed arguments, and refuses
    /// a name that is not snake_case or a parent Mend does not manage.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func theKeyedFunctionChecksItsArguments() async throws {
        let roles = try await SchemaUnderTheRoles(admin: Backend.postgresURL ?? "", prefix: "nestedfk")
        let repair = try await WarehouseFactory.open(
            url: "postgres://\(roles.repair):rp@\(roles.host)?schema=\(roles.schema)&state_schema=\(roles.schema)_mend")
        let fn = "\(roles.schema)_mend.mend_create_keyed_table"
        let columns = #"[{"name":"_mend_id","type":"text"},{"name":"_mend_parent_id","type":"text"}]"#
        func call(_ table: String, _ unique: String, _ parent: String?, _ foreign: String) async -> String {
            do {
                try await repair.transaction { s in
                    try await s.execute(
                        "SELECT \(fn)(?, ?, CAST(? AS jsonb), ?, ?, ?)",
                        [
                            .text(roles.schema), .text(table), .text(columns), .text(unique), parent.map { .text($0) } ?? .null,
                            .text(foreign),
                        ])
                }
                return "ok"
            } catch {
                return "\(error)"
            }
        }
        #expect(await call("t", "t__mend_id_key", nil, "t__mend_parent_fkey") == "ok")
        #expect(await call("c", "c__mend_id_key", "t", "c__mend_parent_fkey") == "ok")
        #expect(await call("d", #"x" UNIQUE (a); --"#, nil, "f").contains("bad constraint name"))
        #expect(await call("e", "e__mend_id_key", "t", "E_Key").contains("bad constraint name"))
        #expect(await call("g", "g__mend_id_key", "pg_class", "g_fkey").contains("not a table Mend manages"))
        await repair.close()
    }

    /// Roles set up before foreign keys existed lack the keyed function: the error says what to run.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func rolesWithoutTheKeyedFunctionSayWhatToRun() async throws {
        let admin = Backend.postgresURL ?? ""
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "nestedfk")
        let adminW = try await WarehouseFactory.open(url: "\(admin)?schema=\(roles.schema)&state_schema=\(roles.schema)_mend")
        try await adminW.transaction { s in
            try await s.execute("DROP FUNCTION \(roles.schema)_mend.mend_create_keyed_table(text, text, jsonb, text, text, text)", [])
        }
        await adminW.close()
        let engine = try await Backend.postgres.engine(policy: try Self.policy("foreign_keys: true\n"), url: roles.url)
        let error = await #expect(throws: (any Error).self) {
            try await engine.ingest(path: writeLines([Self.push(1, commits: 1)]), table: "events")
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("mend setup-roles"), "\(error.map { "\($0)" } ?? "")")
    }

    /// SQLite accepts the option (one policy file serves both databases), builds no keys, and
    /// `mend ingest` says so.
    @Test func foreignKeysAreIgnoredOnSQLite() async throws {
        let engine = try await Backend.sqlite.engine(policy: try Self.policy("foreign_keys: true\n"))
        let s = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        #expect(s.loaded == 20, "\(s)")
        #expect(try await Self.count(engine, "events__payload__commits") == 40)
        for t in Self.tree {
            #expect(try await engine.rows("SELECT * FROM pragma_foreign_key_list('\(t)')").isEmpty, "\(t)")
            #expect(try await engine.rows("SELECT * FROM pragma_index_list('\(t)')").isEmpty, "\(t)")
        }
        let note = try #require(await engine.foreignKeysNote(table: "events"))
        #expect(note.contains("PostgreSQL"), "\(note)")
        let (status, out) = try await runMend(
            [
                "ingest", writeLines([Self.push(1, commits: 1)]), "--table", "events", "--db", Backend.sqlite.freshURL(), "--policy",
                try Self.policyFile(Self.keyed),
            ])
        #expect(status == 0 && out.contains("foreign_keys is PostgreSQL's only"), "\(out)")
    }

    static func policyFile(_ text: String) throws -> String {
        let path = Paths.tempDir().appendingPathComponent("policy.yaml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test func foreignKeysPolicy() throws {
        #expect(try Self.policy().foreignKeys(table: "t") == false)
        let on = try PolicyLoader.parse(Self.keyed)
        #expect(on.foreignKeys(table: "t"))
        let perTable = try PolicyLoader.parse("nested_lists: tables\ntables:\n  t:\n    foreign_keys: true\n")
        #expect(perTable.foreignKeys(table: "t") && !perTable.foreignKeys(table: "u"))
        let off = try PolicyLoader.parse("nested_lists: tables\nforeign_keys: true\ntables:\n  t:\n    foreign_keys: false\n")
        #expect(!off.foreignKeys(table: "t") && off.foreignKeys(table: "u"))
        #expect(PolicyLoader.effective(on).contains("foreign_keys: true (PostgreSQL only"))
        // Said where lists stay JSON, it would say nothing: refused.
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("foreign_keys: true\n") }
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("tables:\n  t:\n    foreign_keys: true\n") }
        do {
            _ = try PolicyLoader.parse("nested_lists: tables\nforeign_keys: maybe\n")
            Issue.record("foreign_keys: maybe was accepted")
        } catch {
            #expect("\(error)".contains("true or false"), "\(error)")
        }
    }

    /// Constraint names are quoted like any identifier, stable, and shortened under 63 bytes.
    @Test func keyNamesAndTheCreateTable() throws {
        let long = String(repeating: "a", count: 50) + "__payload__commits"
        let child = Identifier.shorten(long)
        for name in [TableKeys.uniqueName(table: child), TableKeys.foreignName(table: child)] {
            #expect(name.utf8.count <= Identifier.maxBytes && Identifier.isWellFormed(name), "\(name)")
        }
        #expect(TableKeys.uniqueName(table: child) == TableKeys.uniqueName(table: child))
        #expect(TableKeys.uniqueName(table: child) != TableKeys.uniqueName(table: child + "x"))
        #expect(TableKeys.uniqueName(table: "events") == "events__mend_id_key")
        let op = PlanOperation(
            kind: .createTable, columns: [Column(name: "_mend_id", type: .text), Column(name: "_mend_parent_id", type: .text)],
            keys: TableKeys(parent: "events"))
        let pg = try #require(PlanCompiler(dialect: .postgres, schema: "s").compile(op, table: "events__c"))
        #expect(
            pg
                == #"CREATE TABLE "s"."events__c" ("_mend_id" text, "_mend_parent_id" text, CONSTRAINT "events__c__mend_id_key" UNIQUE ("_mend_id"), CONSTRAINT "events__c__mend_parent_fkey" FOREIGN KEY ("_mend_parent_id") REFERENCES "s"."events" ("_mend_id") DEFERRABLE INITIALLY DEFERRED)"#
        )
        let lite = try #require(PlanCompiler(dialect: .sqlite, schema: nil).compile(op, table: "events__c"))
        #expect(!lite.contains("CONSTRAINT"), "\(lite)")
    }
}
