import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Runs a blocking call on a Dispatch thread: waiting for a child process on Swift's
/// cooperative pool (2 threads here) would starve every other test of threads.
func offPool<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        DispatchQueue.global().async { continuation.resume(with: Result { try body() }) }
    }
}

/// Runs the built `mend` binary; returns exit status and combined output.
@discardableResult
func runMend(_ args: [String], env: [String: String] = [:]) async throws -> (Int32, String) {
    try await offPool { try runMendBlocking(args, env: env) }
}

func runMendBlocking(_ args: [String], env: [String: String]) throws -> (Int32, String) {
    try runProcessBlocking(Paths.repo.appendingPathComponent(".build/debug/mend"), args, env: env)
}

/// A JSONL file of `n` events with ids 1...n (plus optional extra JSON members).
func eventsFile(_ n: Int, from start: Int = 1, extra: String = "", name: String = "events.jsonl", dir: URL = Paths.tempDir()) -> String {
    var s = ""
    s.reserveCapacity(n * 100)
    for i in start..<(start + n) {
        s += #"{"id": \#(i), "user_id": \#(i % 97), "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z"\#(extra)}"#
        s += "\n"
    }
    let url = dir.appendingPathComponent(name)
    try? s.write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

@Suite(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG (make test starts a throwaway PostgreSQL)"), .serialized)
struct PostgresTests {
    let admin = Backend.postgresURL ?? ""

    /// Both working roles are refused by PostgreSQL itself, with its own permission errors.
    @Test func rolesCannotDropOrTruncate() async throws {
        // Mend runs as the loader, repairing through the repair role.
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "roles")
        let (schema, url, loader, repair, host, suffix) = (roles.schema, roles.url, roles.loader, roles.repair, roles.host, roles.suffix)
        let engine = try await Backend.postgres.engine(url: url)
        let file = eventsFile(10)
        _ = try await engine.ingest(path: file, table: "events")
        let drift = eventsFile(5, from: 100, extra: #", "is_vip": true"#, name: "drift.jsonl")
        let s = try await engine.ingest(path: drift, table: "events")
        #expect(s.repaired == 1, "the repair role added the column through its function")
        let cols = try await engine.schema(table: "events")?.0.columns.map(\.name) ?? []
        #expect(cols.contains("is_vip"))

        for (role, pw) in [(loader, "lp"), (repair, "rp")] {
            let w = try await WarehouseFactory.open(url: "postgres://\(role):\(pw)@\(host)?schema=\(schema)&state_schema=\(schema)_mend")
            await KeepAlive.shared.add(w)
            let forbidden = [
                "DROP TABLE \(schema).events", "TRUNCATE \(schema).events", "ALTER TABLE \(schema).events ADD COLUMN z int",
                "ALTER TABLE \(schema).events DROP COLUMN kind", "CREATE TABLE \(schema).other (x int)",
                "CREATE TABLE public.other_\(suffix) (x int)",
            ]
            for sql in forbidden {
                let error = await #expect(throws: StoreError.self, "\(role) must not run: \(sql)") {
                    try await w.transaction { s in try await s.execute(sql, []) }
                }
                let text = error.map { "\($0)" } ?? ""
                #expect(text.contains("permission denied") || text.contains("must be owner"), "\(role): \(sql) → \(text)")
            }
            // The function itself refuses anything but the allowed types and schema.
            if role == repair {
                let error = await #expect(throws: StoreError.self) {
                    try await w.transaction { s in
                        try await s.execute(
                            "SELECT \(schema)_mend.mend_add_column(?, 'events', 'x', 'int; DROP TABLE events')", [.text(schema)])
                    }
                }
                #expect("\(error.map { "\($0)" } ?? "")".contains("not allowed"))
            }
        }
        let tableCount = try await engine.rows("SELECT COUNT(*) FROM \(schema).events")
        #expect(tableCount.first?.first?.int == 15)
    }

    /// A promote_field plan under the roles `mend setup-roles` creates (issue 28, item 7): the
    /// loader has no UPDATE, so the values move through the repair role's SECURITY DEFINER
    /// function, which can move one overflow key into an empty cell of its column and nothing else.
    @Test func promotionRunsUnderTheRoles() async throws {
        // Mend runs as the loader, repairing through the repair role.
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "promo")
        let (schema, url, repair, host) = (roles.schema, roles.url, roles.repair, roles.host)
        let engine = try await Backend.postgres.engine(url: url)
        await engine.setPolicy(try PolicyLoader.parse("max_table_columns: 3\n"))
        let lines = (1...12).map { i in #"{"id": \#(i), "a": "x", "b": true, "c": \#(i % 4 == 0 ? #""text""# : "\(i)")}"# }
        let report = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(report.loaded == 12 && report.parked == 0, "\(report)")
        let incident = try #require(try await engine.incidents().first { $0.kinds.contains(.overflow) })
        await engine.setPolicy(try PolicyLoader.parse("max_table_columns: 4\n"))
        let promote = Plan(
            incidentID: incident.id, table: "events",
            operations: [PlanOperation(kind: .promoteField, column: "c", type: .bigint, source: "c")],
            rationale: "c is queried", confidence: 1, plannedBy: "alice")
        _ = try await engine.repair(incidentID: incident.id, plan: promote, by: "alice")
        _ = try await engine.approve(incidentID: incident.id, by: "bob")
        let ref = "\(schema).events"
        let moved = try await engine.rows("SELECT COUNT(*) FROM \(ref) WHERE c IS NOT NULL")
        #expect(moved.first?.first?.int == 9, "the 9 integers moved into c")
        let kept = try await engine.rows("SELECT COUNT(*) FROM \(ref) WHERE jsonb_exists(_mend_overflow, 'c')")
        #expect(kept.first?.first?.int == 3, "the 3 texts stay in the overflow column")
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.conserved && stats.loaded == 12, "\(stats)")

        // The function moves one key into empty cells only; the repair role still cannot UPDATE.
        let w = try await WarehouseFactory.open(url: "postgres://\(repair):rp@\(host)?schema=\(schema)&state_schema=\(schema)_mend")
        await KeepAlive.shared.add(w)
        let error = await #expect(throws: StoreError.self) {
            try await w.transaction { s in try await s.execute("UPDATE \(ref) SET a = 'y'", []) }
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("permission denied"))
        let rejected = await #expect(throws: StoreError.self) {
            try await w.transaction { s in
                try await s.execute(
                    "SELECT \(schema)_mend.mend_promote_field(?, 'events', 'c', '_mend_overflow', CAST('[]' AS jsonb))", [.text(schema)])
            }
        }
        #expect("\(rejected.map { "\($0)" } ?? "")".contains("overflow"), "\(rejected.map { "\($0)" } ?? "")")
    }

    /// A parked record whose repair lands and whose replay the database refuses (a CHECK added
    /// by hand): the others replay, it stays parked with the database's words, and the ingest
    /// ends normally (it stopped with the database's error before).
    @Test func aReplayTheDatabaseRefusesKeepsTheRecordParked() async throws {
        let engine = try await Backend.postgres.engine()
        _ = try await engine.ingest(path: eventsFile(10), table: "events")
        _ = try await engine.rows("ALTER TABLE \(engine.tableRef("events")) ADD CONSTRAINT no_big CHECK (id < 1000)")
        let line = { (id: Int, extra: String) in
            #"{"id": \#(id), "user_id": 1, "kind": "click", "amount": 1.5, "ts": "2026-03-01T10:00:01Z"\#(extra)}"#
        }
        let drift = writeLines([line(500, #", "is_vip": true"#), line(5000, #", "is_vip": true"#), line(501, "")])
        let s = try await engine.ingest(path: drift, table: "events")
        #expect(s.parked == 2 && s.repaired == 1 && s.replayedLoaded == 1 && s.stillParked == 1, "\(s)")
        let ids = try await engine.rows("SELECT id FROM \(engine.tableRef("events")) WHERE id >= 500 ORDER BY id").compactMap { $0[0].int }
        #expect(ids == [500, 501])
        let parked = try await engine.rows("SELECT reason FROM \(engine.warehouse.stateTable("parked"))")
        #expect(parked.count == 1 && (parked.first?[0].string ?? "").contains("no_big"), "\(parked)")
    }

    /// SIGKILL in the middle of a file, run again: every line exactly once.
    @Test(arguments: [0.4, 0.9, 1.6])
    func killAndResume(afterSeconds: Double) async throws {
        // Large enough that the last kill point still falls mid-file on an idle machine
        // (120,000 took 1.5 s there, within the 1.6 s kill).
        let n = 400_000
        let file = eventsFile(n)
        let url = Backend.postgres.freshURL()
        // Small batches, so that each kill point falls after a few commits whatever the default.
        let child = try ChildProcess.mend(["ingest", file, "--table", "events", "--db", url, "--quiet", "--batch-size", "5000"])
        #expect(await child.sigkill(after: afterSeconds), "the first run was killed before it finished: \(child.text)")
        _ = await child.wait(seconds: 30)
        let before = try await Backend.postgres.engine(url: url)
        let partial = try? await before.rows("SELECT COUNT(*) FROM \(before.tableRef("events"))")
        #expect((partial?.first?.first?.int ?? 0) < Int64(n), "killed mid-file")
        let (status, out) = try await runMend(["ingest", file, "--table", "events", "--db", url])
        #expect(status == 0, "\(out)")
        let engine = try await Backend.postgres.engine(url: url)
        let rows = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id), MIN(id), MAX(id) FROM \(engine.tableRef("events"))")
        #expect(rows.first?[0].int == Int64(n), "rows after resume")
        #expect(rows.first?[1].int == Int64(n), "distinct ids")
        #expect(rows.first?[3].int == Int64(n))
        let stats = try await engine.stats().first
        #expect(stats?.input == Int64(n) && stats?.loaded == Int64(n))
    }

    /// Two processes meet the same drift at once: one ALTER, every record accounted for.
    @Test func twoProcessesOneMigration() async throws {
        let url = Backend.postgres.freshURL()
        let dir = Paths.tempDir()
        let base = eventsFile(100, dir: dir)
        #expect(try await runMend(["ingest", base, "--table", "events", "--db", url]).0 == 0)
        let a = eventsFile(20_000, from: 1_000, extra: #", "coupon": "A", "is_vip": false"#, name: "a.jsonl", dir: dir)
        let b = eventsFile(20_000, from: 100_000, extra: #", "coupon": "B", "is_vip": true"#, name: "b.jsonl", dir: dir)
        async let ra = runMend(["ingest", a, "--table", "events", "--db", url])
        async let rb = runMend(["ingest", b, "--table", "events", "--db", url])
        let (outA, outB) = try await (ra, rb)
        #expect(outA.0 == 0, "\(outA.1)")
        #expect(outB.0 == 0, "\(outB.1)")
        let engine = try await Backend.postgres.engine(url: url)
        let versions = try await engine.schema(table: "events")?.2 ?? []
        let alters = versions.filter { $0.ddl.contains("ALTER TABLE") }
        #expect(alters.count == 1, "exactly one ALTER: \(alters.map(\.ddl))")
        let stats = try #require(try await engine.stats().first)
        #expect(stats.input == 40_100)
        #expect(stats.loaded + stats.parked + stats.quarantined == 40_100)
        #expect(stats.loaded == 40_100, "both drifts healed and replayed")
        let counted = try await engine.rows("SELECT COUNT(*), COUNT(DISTINCT id) FROM \(engine.tableRef("events"))")
        #expect(counted.first?[0].int == 40_100 && counted.first?[1].int == 40_100)
    }

    /// A row the database refuses although validation passed is isolated and parked
    /// with PostgreSQL's error text; the rest of the batch loads.
    @Test func copyFailureIsolatesTheRow() async throws {
        let url = Backend.postgres.freshURL()
        let engine = try await Backend.postgres.engine(url: url)
        _ = try await engine.ingest(path: eventsFile(10), table: "events")
        try await engine.warehouse.transaction { s in
            try await s.execute("ALTER TABLE \(engine.tableRef("events")) ADD CONSTRAINT small_amount CHECK (amount < 100)", [])
        }
        let lines = (1...50).map { i in
            #"{"id": \#(1000 + i), "user_id": 1, "kind": "x", "amount": \#(i == 17 ? 500.0 : 1.0), "ts": "2026-03-01T10:00:01Z"}"#
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded == 49)
        #expect(s.parked == 1)
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        let (_, samples, _) = try await engine.incidentDetail(incident.id)
        #expect(samples.first?.reason.contains("small_amount") == true, "\(samples.first?.reason ?? "")")
        #expect(samples.first?.record.contains("1017") == true)
    }

    /// Someone adds a column by hand and drops another: the stale cache is refreshed.
    @Test func columnDroppedByHandHeals() async throws {
        let url = Backend.postgres.freshURL()
        let engine = try await Backend.postgres.engine(url: url)
        _ = try await engine.ingest(path: eventsFile(10), table: "events")
        // Drop a column behind Mend's back while the next ingest already has its schema cached.
        try await engine.warehouse.transaction { s in
            try await s.execute("ALTER TABLE \(engine.tableRef("events")) DROP COLUMN kind", [])
        }
        let s = try await engine.ingest(path: eventsFile(10, from: 50, name: "more.jsonl"), table: "events")
        #expect(s.lines == 10)
        #expect(s.loaded + s.parked == 10)
        let stats = try #require(try await engine.stats().first)
        #expect(stats.input == 20)
    }

    /// Binary COPY stores exactly what text COPY stores, for every value shape the
    /// validator lets through; values the encoder is unsure of make the batch go as text.
    @Test func binaryCopyStoresWhatTextCopyStores() async throws {
        let engine = try await Backend.postgres.engine()
        try await engine.bootstrap()
        let w = engine.warehouse
        let columns = [
            ("id", "bigint"), ("d", "double precision"), ("b", "boolean"), ("t", "text"), ("ts", "timestamptz"),
            ("day", "date"), ("u", "uuid"), ("j", "jsonb"), ("v", "character varying"),
        ]
        let ddl = columns.map { "\(Identifier.quote($0.0)) \($0.1)" }.joined(separator: ", ")
        let timestamps = [
            "2026-03-01T10:00:01Z", "2026-03-01t10:00:01z", "2026-03-01 10:00:01.5+02:00", "1999-12-31T23:59:59.999999-05:30",
            "0001-01-01T00:00:00Z", "2024-02-29T12:00:00.123+0530", "1970-01-01T00:00:00.000001+14", "2000-01-01T00:00:00-00:00",
            "9999-12-31T23:59:59.99999Z", "2026-03-01T10:00:01.1234565Z", "2026-12-31T23:59:59.9999995Z",
            "2026-03-01T10:00:01.000000500+01:00", "2026-03-01T10:00:01.123456789Z", "2026-03-01T10:00:01.0000015Z",
        ]
        let doubles: [Double] = [0, -0.0, 0.1, -1.5e-300, 1.7976931348623157e308, Double.leastNonzeroMagnitude, 123456.789]
        let texts = ["", "tab\there", "new\nline", "back\\slash", "\r", "ünïcødé ✓", "\\N", "quote\"s"]
        var built: [[SQLValue]] = []
        for i in 0..<40 {
            built.append([
                .int(Int64(i) * (i % 2 == 0 ? 1 : -1) * 1_000_000_007), i % 9 == 8 ? .null : .double(doubles[i % doubles.count]),
                i % 7 == 6 ? .null : .bool(i % 2 == 0), .text(texts[i % texts.count]), .text(timestamps[i % timestamps.count]),
                .text(["2026-03-01", "1999-12-31", "0001-01-01", "2024-02-29"][i % 4]),
                .text(i % 2 == 0 ? "0b5c2a1e-4c1f-4f7e-9d2a-3c4b5a6d7e8f" : "FFFFFFFF-0000-4000-8000-00000000000A"),
                .text(#"{"a":[1,2.5,"x"],"b":{"c":null}}"#), i % 5 == 4 ? .null : .text(texts[(i + 3) % texts.count]),
            ])
        }
        let rows = built
        let cols = columns.map {
            Column(
                name: $0.0, type: LogicalType(sqlTypeName: $0.1), declaredType: $0.1 == "timestamptz" ? "timestamp with time zone" : $0.1)
        }
        let schema = try #require(w.targetSchema)
        @Sendable func table(_ name: String) -> String { Identifier.qualified(schema, name) }
        try await w.transaction { s in
            for name in ["as_binary", "as_text", "as_stream", "as_parts", "odd_binary", "odd_text", "odd_isolated"] {
                try await s.execute("CREATE TABLE \(table(name)) (\(ddl))", [])
            }
            let binary = try #require(w.prepareLoad(columns: cols, rows: rows))
            #expect(binary.binary, "these columns and values all have a binary form")
            try await s.load(table: "as_binary", columns: cols, rows: rows, prepared: binary)
            try await s.load(table: "as_text", columns: cols, rows: rows, prepared: nil)
            try await s.loadFast(table: "as_stream", columns: cols, rows: rows)
            // Parts encoded apart (parallel parsing) join into one payload; `load` with a
            // prepared payload has no fallback, so a bad join fails here.
            let parts = try [rows[0..<7], rows[7..<25], rows[25...]].map { try #require(w.prepareLoad(columns: cols, rows: Array($0))) }
            let joined = try #require(PreparedLoad.concatenating(parts))
            #expect(joined.binary && joined.rowCount == rows.count)
            try await s.load(table: "as_parts", columns: cols, rows: rows, prepared: joined)
            // PostgreSQL rolls a leap second over: the text format decides that one.
            var odd = rows
            odd[5][4] = .text("2016-12-31T23:59:60Z")
            let fallback = try #require(w.prepareLoad(columns: cols, rows: odd))
            #expect(!fallback.binary, "a value without a sure binary form sends the batch as text")
            // PostgreSQL refuses offsets beyond 15 hours; the text format must be the one to say so.
            var far = rows
            far[2][4] = .text("2024-01-01T00:00:00+16:00")
            #expect(w.prepareLoad(columns: cols, rows: far)?.binary == false)
            try await s.load(table: "odd_binary", columns: cols, rows: odd, prepared: fallback)
            try await s.load(table: "odd_text", columns: cols, rows: odd, prepared: nil)
            // The streamed binary COPY gives up at the leap second; the batch still loads, as text.
            let rejected = try await s.loadIsolating(table: "odd_isolated", columns: cols, rows: odd)
            #expect(rejected.isEmpty)
        }
        func dump(_ name: String) async throws -> [[SQLValue]] {
            try await w.transaction { s in
                try await s.query("SELECT CAST(t.* AS text) FROM \(table(name)) t ORDER BY id", [])
            }
        }
        let viaBinary = try await dump("as_binary")
        #expect(viaBinary.count == rows.count)
        #expect(viaBinary == (try await dump("as_text")))
        #expect(viaBinary == (try await dump("as_stream")))
        #expect(viaBinary == (try await dump("as_parts")))
        #expect((try await dump("odd_binary")) == (try await dump("odd_text")))
        #expect((try await dump("odd_isolated")) == (try await dump("odd_text")))
    }

    /// A numeric column has no binary form here: the whole batch goes as text, and loads.
    @Test func columnsWithoutABinaryFormLoadAsText() async throws {
        let url = Backend.postgres.freshURL()
        let engine = try await Backend.postgres.engine(url: url)
        _ = try await engine.ingest(path: eventsFile(10), table: "events")
        try await engine.warehouse.transaction { s in
            try await s.execute("ALTER TABLE \(engine.tableRef("events")) ADD COLUMN price numeric(10, 2)", [])
        }
        let lines = (1...20).map {
            #"{"id": \#(100 + $0), "user_id": 1, "kind": "x", "amount": 1.0, "ts": "2026-03-01T10:00:01Z", "price": 12.5}"#
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded == 20)
        let sum = try await engine.warehouse.transaction { s in
            try await s.scalarInt("SELECT CAST(SUM(price) AS bigint) FROM \(engine.tableRef("events"))")
        }
        #expect(sum == 250)
    }

    /// Parsing in parallel parts encodes binary COPY per part and joins the parts into
    /// one payload (one header, one trailer): the table holds every record once.
    @Test func parallelPartsJoinIntoOneBinaryCopy() async throws {
        let url = Backend.postgres.freshURL()
        // The table exists first, so the reader validates and encodes ahead in 3 parts per batch.
        #expect(try await runMend(["ingest", eventsFile(10), "--table", "events", "--db", url, "--quiet"]).0 == 0)
        let file = eventsFile(2990, from: 11, name: "more.jsonl")
        let (status, out) = try await runMend(
            ["ingest", file, "--table", "events", "--db", url, "--quiet", "--batch-size", "1000"], env: ["MEND_PARSE_THREADS": "3"])
        #expect(status == 0, "\(out)")
        let engine = try await Backend.postgres.engine(url: url)
        let (count, sum) = try await engine.warehouse.transaction { s in
            (
                try await s.scalarInt("SELECT COUNT(DISTINCT id) FROM \(engine.tableRef("events"))"),
                try await s.scalarInt("SELECT SUM(id) FROM \(engine.tableRef("events"))")
            )
        }
        #expect(count == 3000)
        #expect(sum == 3000 * 3001 / 2)
    }

    /// Binary COPY has no type check of its own: a column retyped behind Mend's back
    /// (bigint bytes read as numeric would be another number) is caught in the same
    /// transaction, as a stale schema, and nothing is stored.
    @Test func binaryCopyNoticesAColumnRetypedBehindItsBack() async throws {
        let engine = try await Backend.postgres.engine()
        try await engine.bootstrap()
        let w = engine.warehouse
        let ref = await engine.tableRef("retyped")
        try await w.transaction { s in try await s.execute("CREATE TABLE \(ref) (id bigint, amount numeric)", []) }
        // What the cache still says: amount is bigint. The 8 bytes of 42 are a valid
        // numeric on the wire (no digits, scale 42): without the check, 0 would be stored.
        let cached = [
            Column(name: "id", type: .bigint, declaredType: "bigint"), Column(name: "amount", type: .bigint, declaredType: "bigint"),
        ]
        let rows: [[SQLValue]] = [[.int(1), .int(42)], [.int(2), .int(7)]]
        for prepared in [true, false] {
            do {
                _ = try await w.transaction { s in
                    try await s.loadIsolating(
                        table: "retyped", columns: cached, rows: rows, prepared: prepared ? w.prepareLoad(columns: cached, rows: rows) : nil
                    )
                }
                Issue.record("the retyped column went unnoticed (prepared: \(prepared))")
            } catch StoreError.staleSchema(let why) {
                #expect(why.contains("amount"), "\(why)")
            }
        }
        let count = try await w.transaction { s in try await s.scalarInt("SELECT COUNT(*) FROM \(ref)") }
        #expect(count == 0)
    }
}
