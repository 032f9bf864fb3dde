import Foundation
import MendCore
import MendPipeline
import MendStore
import MendTestSupport
import Testing

/// Nested lists as child tables (issue 31, D26), on SQLite and PostgreSQL: payload shapes of
/// public APIs, the linking columns, exactly-once across a resume, a record as one unit.
@Suite struct NestedTests {
    static func policy(_ extra: String = "") throws -> Policy { try PolicyLoader.parse("nested_lists: tables\n" + extra) }

    /// GitHub push events: commits with an author object, and a list of added files.
    static func push(_ i: Int, commits: Int) -> String {
        let list = (0..<commits).map { c in
            #"{"sha":"s\#(i)_\#(c)","message":"m\#(c)","author":{"name":"dev\#(c)","email":"d\#(c)@example.com"},"distinct":true,"added":["a\#(c).swift","b\#(c).swift"]}"#
        }
        return
            #"{"id":"\#(i)","type":"PushEvent","actor":{"login":"u\#(i)"},"repo":{"name":"o/r"},"payload":{"push_id":\#(i),"size":\#(commits),"ref":"refs/heads/main","commits":[\#(list.joined(separator: ","))]}}"#
    }

    static func count(_ engine: Engine, _ table: String) async throws -> Int64 {
        try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef(table))").first?.first?.int ?? -1
    }

    /// Rows of `child` whose parent is missing from `parent`: must be 0.
    static func orphans(_ engine: Engine, _ child: String, _ parent: String) async throws -> Int64 {
        try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef(child)) c LEFT JOIN \(engine.tableRef(parent)) p ON p._mend_id = c._mend_parent_id WHERE p._mend_id IS NULL"
        ).first?.first?.int ?? -1
    }

    /// Parents whose children's `_mend_list_idx` do not run 0..n-1: must be 0.
    static func badRuns(_ engine: Engine, _ child: String) async throws -> Int64 {
        try await engine.rows(
            "SELECT COUNT(*) FROM (SELECT _mend_parent_id FROM \(engine.tableRef(child)) GROUP BY _mend_parent_id "
                + "HAVING MIN(_mend_list_idx) <> 0 OR MAX(_mend_list_idx) <> COUNT(*) - 1 OR COUNT(DISTINCT _mend_list_idx) <> COUNT(*)) x"
        ).first?.first?.int ?? -1
    }

    static func duplicates(_ engine: Engine, _ table: String) async throws -> Int64 {
        try await engine.rows("SELECT COUNT(*) - COUNT(DISTINCT _mend_id) FROM \(engine.tableRef(table))").first?.first?.int ?? -1
    }

    @Test(arguments: Backend.available)
    func pushEventsBecomeJoinableTables(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        let lines = (1...300).map { Self.push($0, commits: $0 % 4) }  // 0..3 commits, 450 in all
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded == 300 && s.parked == 0 && s.quarantined == 0, "\(s)")
        #expect(try await Self.count(engine, "events") == 300)
        #expect(try await Self.count(engine, "events__payload__commits") == 450)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 900)
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits__added", "events__payload__commits") == 0)
        #expect(try await Self.badRuns(engine, "events__payload__commits") == 0)
        #expect(try await Self.badRuns(engine, "events__payload__commits__added") == 0)
        // The author object flattened into the child's columns; the root id reaches every row.
        let joined = try await engine.rows(
            "SELECT e.id, c.author__name, a.value FROM \(engine.tableRef("events")) e "
                + "JOIN \(engine.tableRef("events__payload__commits")) c ON c._mend_parent_id = e._mend_id "
                + "JOIN \(engine.tableRef("events__payload__commits__added")) a ON a._mend_root_id = e._mend_id AND a._mend_parent_id = c._mend_id "
                + "WHERE e.id = '7' ORDER BY c._mend_list_idx, a._mend_list_idx")
        #expect(joined.map { $0[1].string ?? "" } == ["dev0", "dev0", "dev1", "dev1", "dev2", "dev2"])
        #expect(joined.map { $0[2].string ?? "" } == ["a0.swift", "b0.swift", "a1.swift", "b1.swift", "a2.swift", "b2.swift"])
        // The root keeps its scalars and objects, not the list.
        let (root, _, _) = try #require(try await engine.schema(table: "events"))
        let names = root.columns.map(\.name)
        #expect(names.contains("payload__push_id") && names.contains("_mend_id") && !names.contains("payload__commits"), "\(names)")
        var children = try await engine.childTables(of: "events")
        #expect(children.map(\.table) == ["events__payload__commits", "events__payload__commits__added"])
        #expect(children.map(\.depth) == [1, 2])
        #expect(children.allSatisfy { $0.foreignKeyTo == nil }, "no keys without foreign_keys: true")
        // A flat table named under the root, loaded on its own, has no link to a parent: not a child.
        _ = try await engine.ingest(path: writeLines([#"{"a":1}"#]), table: "events__notes")
        children = try await engine.childTables(of: "events")
        #expect(children.map(\.table) == ["events__payload__commits", "events__payload__commits__added"])
        // Conservation counts records.
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 300 && stats.loaded == 300, "\(stats)")
        // A child table's line counts its rows.
        let child = try #require(try await engine.stats().first { $0.table == "events__payload__commits" })
        #expect(child.input == 450 && child.loaded == 450 && child.conserved, "\(child)")
    }

    @Test(arguments: Backend.available)
    func jsonStaysTheDefault(_ backend: Backend) async throws {
        let engine = try await backend.engine()
        _ = try await engine.ingest(path: writeLines([Self.push(1, commits: 2)]), table: "events")
        #expect(try await engine.childTables(of: "events").isEmpty)
        let (root, _, _) = try #require(try await engine.schema(table: "events"))
        #expect(root.columns.map(\.name).contains("payload__commits"))
        #expect(!root.columns.map(\.name).contains("_mend_id"))
    }

    /// Issues with labels and assignees, Stripe invoices with line items, blocks with
    /// transactions and their logs and integers wider than 64 bits at every level.
    @Test(arguments: Backend.available)
    func publicAPIShapes(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        let issues = (1...20).map { i in
            #"{"action":"opened","issue":{"number":\#(i),"title":"t\#(i)","labels":[\#((0..<(i % 3)).map { #"{"id":\#($0),"name":"l\#($0)","color":"fff"}"# }.joined(separator: ","))],"assignees":[\#((0..<(i % 2)).map { #"{"login":"a\#($0)"}"# }.joined(separator: ","))]}}"#
        }
        _ = try await engine.ingest(path: writeLines(issues), table: "issues")
        #expect(try await Self.count(engine, "issues__issue__labels") == 21)  // i % 3 labels for i in 1...20
        #expect(try await Self.count(engine, "issues__issue__assignees") == 10)
        #expect(try await Self.orphans(engine, "issues__issue__labels", "issues") == 0)

        let invoices = (1...10).map { i in
            #"{"id":"in_\#(i)","object":"invoice","amount_due":\#(i * 100),"lines":{"object":"list","data":[{"id":"il_\#(i)_0","amount":\#(i * 60),"price":{"id":"price_1","unit_amount":60},"discount_amounts":[]},{"id":"il_\#(i)_1","amount":\#(i * 40),"price":{"id":"price_2","unit_amount":40},"discount_amounts":[{"amount":5,"discount":"di_1"}]}],"has_more":false}}"#
        }
        _ = try await engine.ingest(path: writeLines(invoices), table: "invoices")
        #expect(try await Self.count(engine, "invoices__lines__data") == 20)
        #expect(try await Self.count(engine, "invoices__lines__data__discount_amounts") == 10, "empty lists give no rows")
        let sums = try await engine.rows(
            "SELECT SUM(l.amount), COUNT(DISTINCT i._mend_id) FROM \(engine.tableRef("invoices")) i JOIN \(engine.tableRef("invoices__lines__data")) l ON l._mend_parent_id = i._mend_id"
        )
        #expect(sums.first?[0].int == 5_500 && sums.first?[1].int == 10)

        let big = "1234567890123456789012345678901234567890"
        let blocks = (1...5).map { b in
            #"{"number":\#(b),"totalDifficulty":\#(big),"transactions":[{"hash":"0x\#(b)a","value":\#(big)\#(b),"logs":[{"logIndex":0,"topics":["0xddf2","0x0000"],"data":"0x"},{"logIndex":1,"topics":[],"data":"0x01"}]},{"hash":"0x\#(b)b","value":0,"logs":[]}]}"#
        }
        _ = try await engine.ingest(path: writeLines(blocks), table: "blocks")
        #expect(try await Self.count(engine, "blocks__transactions") == 10)
        #expect(try await Self.count(engine, "blocks__transactions__logs") == 10)
        #expect(try await Self.count(engine, "blocks__transactions__logs__topics") == 10)
        #expect(try await Self.orphans(engine, "blocks__transactions__logs", "blocks__transactions") == 0)
        #expect(try await Self.orphans(engine, "blocks__transactions__logs__topics", "blocks__transactions__logs") == 0)
        #expect(try await Self.badRuns(engine, "blocks__transactions__logs__topics") == 0)
        // Exact numbers hold in child rows: numeric on PostgreSQL, the exact text on SQLite.
        let values = try await engine.rows(
            "SELECT CAST(value AS TEXT) FROM \(engine.tableRef("blocks__transactions")) WHERE hash = '0x3a'")
        #expect(values.first?.first?.string == big + "3", "\(values)")
        let root = try await engine.rows("SELECT CAST(total_difficulty AS TEXT) FROM \(engine.tableRef("blocks")) WHERE number = 1")
        #expect(root.first?.first?.string == big)
    }

    @Test(arguments: Backend.available)
    func scalarsListsOfListsAndMixedLists(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        let lines = [
            #"{"id":1,"tags":["a","b","c"],"matrix":[[1,2],[3]],"mixed":[1,"two",{"three":3},[4]]}"#,
            #"{"id":2,"tags":[],"matrix":[],"mixed":[null]}"#,
        ]
        let s = try await engine.ingest(path: writeLines(lines), table: "t")
        #expect(s.loaded == 2, "\(s)")
        #expect(try await Self.count(engine, "t__tags") == 3)
        #expect(try await Self.count(engine, "t__matrix") == 2)
        #expect(try await Self.count(engine, "t__matrix__list") == 3)
        #expect(try await Self.orphans(engine, "t__matrix__list", "t__matrix") == 0)
        #expect(try await Self.count(engine, "t__mixed") == 5)
        #expect(try await Self.count(engine, "t__mixed__list") == 1)
        let (mixed, _, _) = try #require(try await engine.schema(table: "t__mixed"))
        #expect(
            Set(mixed.columns.map(\.name)).isSuperset(of: [
                "value", "three", "_mend_id", "_mend_parent_id", "_mend_list_idx", "_mend_root_id",
            ]))
    }

    @Test(arguments: Backend.available)
    func maxNestingAndKeepJSON(_ backend: Backend) async throws {
        let line = #"{"id":1,"l":[{"x":1,"g":[{"z":[1,2]}]}],"keep":[1,2]}"#
        for (n, tables) in [(0, [String]()), (1, ["t__l"]), (2, ["t__l", "t__l__g"]), (-1, ["t__l", "t__l__g", "t__l__g__z"])] {
            let extra = (n >= 0 ? "max_nesting: \(n)\n" : "") + "keep_json: [keep]\n"
            let engine = try await backend.engine(policy: try Self.policy(extra))
            _ = try await engine.ingest(path: writeLines([line]), table: "t")
            #expect(try await engine.childTables(of: "t").map(\.table) == tables, "max_nesting \(n)")
            let (root, _, _) = try #require(try await engine.schema(table: "t"))
            #expect(root.columns.contains { $0.name == "keep" }, "keep_json keeps the list in a column")
        }
    }

    /// A natural key gives the root the same id whatever the position.
    @Test(arguments: Backend.available)
    func primaryKeyIds(_ backend: Backend) async throws {
        let policy = try PolicyLoader.parse("tables:\n  events:\n    nested_lists: tables\n    primary_key: [id]\n")
        let a = try await backend.engine(policy: policy)
        let b = try await backend.engine(policy: policy)
        _ = try await a.ingest(path: writeLines([Self.push(1, commits: 1), Self.push(2, commits: 2)]), table: "events")
        _ = try await b.ingest(path: writeLines([Self.push(2, commits: 2)]), table: "events")
        let ida = try await a.rows("SELECT _mend_id FROM \(a.tableRef("events")) WHERE id = '2'")
        let idb = try await b.rows("SELECT _mend_id FROM \(b.tableRef("events")) WHERE id = '2'")
        #expect(ida.first?.first?.string != nil && ida.first?.first?.string == idb.first?.first?.string)
        let ca = try await a.rows(
            "SELECT _mend_id FROM \(a.tableRef("events__payload__commits")) WHERE _mend_root_id = ? ORDER BY _mend_list_idx",
            [ida.first?.first ?? .null])
        let cb = try await b.rows("SELECT _mend_id FROM \(b.tableRef("events__payload__commits")) ORDER BY _mend_list_idx")
        #expect(ca.count == 2 && ca.map { $0.first?.string } == cb.map { $0.first?.string }, "child ids follow the root's")
    }

    /// The id scheme (D26) is part of the data: a resume, a redelivery or a replay after an
    /// upgrade must write the same ids, so they are pinned here, computed outside Mend as the
    /// first 128 bits of SHA-256 over NUL-ended parts (`python3 -c "import hashlib; ..."`): the
    /// root from ("mend.root.key", table, key text), a child from ("mend.child", parent id,
    /// list path, index). Record 7 comes last, after 600 of the same shape, so it is read by
    /// shape on both databases (the general path reads the first window).
    @Test(arguments: Backend.available)
    func idsArePinned(_ backend: Backend) async throws {
        let policy = try PolicyLoader.parse("tables:\n  events:\n    nested_lists: tables\n    primary_key: [id]\n")
        let engine = try await backend.engine(policy: policy)
        await engine.setBatchSize(300)
        func line(_ id: Int) -> String { #"{"id":\#(id),"lines":[{"sku":"a"},{"sku":"b","tags":["x"]}]}"# }
        let lines = (100..<700).map(line) + [line(7)]
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded == 601, "\(s)")
        let root = try await engine.rows("SELECT _mend_id FROM \(engine.tableRef("events")) WHERE id = 7")
        #expect(root.first?.first?.string == "cdd23609f168e494fa0cff6a982a7198")
        let children = try await engine.rows(
            "SELECT _mend_id FROM \(engine.tableRef("events__lines")) WHERE _mend_root_id = 'cdd23609f168e494fa0cff6a982a7198' ORDER BY _mend_list_idx"
        )
        #expect(children.map { $0.first?.string } == ["d607ff494c287b87963b300f63b258ac", "c6750aa469c8ad4f61963e0bb822d082"])
        let grandchild = try await engine.rows(
            "SELECT _mend_id, _mend_parent_id FROM \(engine.tableRef("events__lines__tags")) WHERE _mend_root_id = 'cdd23609f168e494fa0cff6a982a7198'"
        )
        #expect(grandchild.first?.first?.string == "851a3719e64f61a8cc6fb6d408962bda")
        #expect(grandchild.first?.last?.string == "c6750aa469c8ad4f61963e0bb822d082")
    }

    /// A resumed ingest of the same file (more lines appended): no row twice at any level.
    @Test(arguments: Backend.available)
    func resumeWritesNothingTwice(_ backend: Backend) async throws {
        let url = backend.freshURL()
        let dir = Paths.tempDir()
        let path = writeLines((1...50).map { Self.push($0, commits: 2) }, in: dir)
        _ = try await backend.engine(policy: try Self.policy(), url: url).ingest(path: path, table: "events")
        try ((1...80).map { Self.push($0, commits: 2) }.joined(separator: "\n") + "\n").write(
            toFile: path, atomically: true, encoding: .utf8)
        let engine = try await backend.engine(policy: try Self.policy(), url: url)
        let s = try await engine.ingest(path: path, table: "events")
        #expect(s.skippedByResume == 50 && s.loaded == 30, "\(s)")
        #expect(try await Self.count(engine, "events") == 80)
        #expect(try await Self.count(engine, "events__payload__commits") == 160)
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
    }

    /// Drift inside a child element: the incident is on the child table, the whole record
    /// parks (its root row too), and after approval it replays whole.
    @Test(arguments: Backend.available)
    func driftInAChildParksTheWholeRecord(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy("autonomy:\n  add_column: approve\n"))
        _ = try await engine.ingest(path: writeLines((1...10).map { Self.push($0, commits: 2) }), table: "events")
        var drifting = Self.push(11, commits: 2)
        drifting = drifting.replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"verified":"yes""#)
        let s = try await engine.ingest(path: writeLines([drifting, Self.push(12, commits: 1)]), table: "events")
        #expect(s.loaded == 1 && s.parked == 1, "\(s)")
        #expect(s.pendingApproval.count == 1, "\(s)")
        #expect(try await Self.count(engine, "events") == 11, "the drifting record's root row did not load")
        #expect(try await Self.count(engine, "events__payload__commits") == 21)
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        #expect(incident.table == "events__payload__commits", "the incident is on the child table")
        var stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 12 && stats.loaded == 11 && stats.parked == 1, "\(stats)")
        _ = try await engine.approve(incidentID: incident.id, by: "alice")
        #expect(try await Self.count(engine, "events") == 12)
        #expect(try await Self.count(engine, "events__payload__commits") == 23)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 46)
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        let verified = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits")) WHERE verified = 'yes'")
        #expect(verified.first?.first?.int == 2)
        stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 12 && stats.loaded == 12 && stats.parked == 0, "\(stats)")
        let child = try #require(try await engine.stats().first { $0.table == "events__payload__commits" })
        #expect(child.loaded == 23 && child.conserved, "the replayed rows are counted too: \(child)")
    }

    /// SIGKILL during a nested ingest, then the same command again: every record once, at
    /// every level, and no child row without its parent.
    @Test(arguments: Backend.available)
    func killDuringNestedIngestThenResume(_ backend: Backend) async throws {
        _ = try await Self.killAndResume(backend, policy: "nested_lists: tables\n")
    }

    /// `mend ingest` under `policy`, killed with SIGKILL once a few batches have committed, then
    /// run again: every record once at every level, no orphan, conservation on the root.
    static func killAndResume(_ backend: Backend, policy: String) async throws -> Engine {
        let n = 40_000
        let dir = Paths.tempDir()
        let file = writeLines((1...n).map { Self.push($0, commits: 3) }, in: dir)
        let policyFile = dir.appendingPathComponent("policy.yaml").path
        try policy.write(toFile: policyFile, atomically: true, encoding: .utf8)
        var url = backend.freshURL()
        var args: [String] = []
        var p = Process()
        var watcher = try await backend.engine(url: url)
        var partial: Int64 = 0
        // Kill once the first batch has committed, wherever the process is then. A loaded
        // machine can be slow to look while mend runs fast: a run that finished first is tried
        // again, into a database of its own.
        for _ in 0..<3 {
            url = backend.freshURL()
            args = ["ingest", file, "--table", "events", "--db", url, "--policy", policyFile, "--quiet", "--batch-size", "500"]
            p = Process()
            p.executableURL = Paths.repo.appendingPathComponent(".build/debug/mend")
            p.arguments = args
            p.standardOutput = FileHandle.nullDevice
            p.standardError = FileHandle.nullDevice
            try p.run()
            watcher = try await backend.engine(url: url)
            for _ in 0..<6000 where p.isRunning {
                if ((try? await Self.count(watcher, "events")) ?? 0) > 0 { break }
                try await Task.sleep(for: .milliseconds(10))
            }
            kill(p.processIdentifier, SIGKILL)
            let running = p
            try await offPool { running.waitUntilExit() }
            partial = try await Self.count(watcher, "events")
            if p.terminationReason == .uncaughtSignal && partial < Int64(n) { break }
        }
        #expect(p.terminationReason == .uncaughtSignal, "killed before it finished")
        #expect(partial > 0 && partial < Int64(n), "killed mid-file: \(partial)")
        #expect(try await Self.count(watcher, "events__payload__commits") == partial * 3, "the killed run left whole records only")
        let (status, out) = try await runMend(Array(args.dropLast(3)))
        #expect(status == 0, "\(out)")
        let engine = try await backend.engine(url: url)
        #expect(try await Self.count(engine, "events") == Int64(n))
        #expect(try await Self.count(engine, "events__payload__commits") == Int64(3 * n))
        #expect(try await Self.count(engine, "events__payload__commits__added") == Int64(6 * n))
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits__added", "events__payload__commits") == 0)
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == Int64(n) && stats.loaded == Int64(n), "\(stats)")
        let all = try await engine.stats()
        #expect(all.filter { !$0.conserved }.isEmpty, "\(all)")
        return engine
    }

    /// Under the roles `mend setup-roles` creates: the loader creates child tables through the
    /// repair role's create_table function, loads them, and a child's new column is added the
    /// same way; the loader cannot drop a child table.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func childTablesUnderTheRoles() async throws {
        let admin = Backend.postgresURL ?? ""
        // Mend runs as the loader, repairing through the repair role.
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "nested")
        let (schema, url) = (roles.schema, roles.url)
        let engine = try await Backend.postgres.engine(policy: try Self.policy(), url: url)
        let first = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        #expect(first.loaded == 20, "\(first)")
        let drifting = Self.push(21, commits: 1).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"verified":1"#)
        let second = try await engine.ingest(path: writeLines([drifting]), table: "events")
        #expect(second.repaired == 1 && second.replayedLoaded == 1, "\(second)")
        #expect(try await Self.count(engine, "events__payload__commits") == 41)
        let error = await #expect(throws: StoreError.self) {
            try await engine.warehouse.transaction { s in try await s.execute("DROP TABLE \(schema).events__payload__commits", []) }
        }
        #expect("\(error.map { "\($0)" } ?? "")".contains("must be owner"), "\(error.map { "\($0)" } ?? "")")
    }

    /// Under the roles, drift in a child table and in the root: the repair unit's DDL runs on the
    /// repair role's connection while the unit's transaction is open. It must not wait on a lock
    /// of that transaction (SQLSTATE 55P03): the rename evidence is read without keeping its
    /// lock, and a round replays only once all its DDL has run. Two incidents of one child table
    /// (one with an integer field, so rename candidates are read) and one of the root.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func childDriftUnderTheRoles() async throws {
        let admin = Backend.postgresURL ?? ""
        // Mend runs as the loader, repairing through the repair role.
        let roles = try await SchemaUnderTheRoles(admin: admin, prefix: "nested")
        let url = roles.url
        let engine = try await Backend.postgres.engine(policy: try Self.policy(), url: url)
        _ = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        let verified = Self.push(21, commits: 2).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"verified":1"#)
        let signed = Self.push(22, commits: 1).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"signed":"yes""#)
        let org = Self.push(23, commits: 1).replacingOccurrences(of: #""type":"PushEvent""#, with: #""type":"PushEvent","org":"x""#)
        let s = try await engine.ingest(path: writeLines([verified, signed, org]), table: "events")
        #expect(s.parked == 3 && s.repaired == 3 && s.stillParked == 0, "\(s)")
        #expect(try await Self.count(engine, "events") == 23)
        #expect(try await Self.count(engine, "events__payload__commits") == 44)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 88)
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        #expect(try await engine.incidents().allSatisfy { $0.status == .resolved })
        #expect(try await engine.verifyAudit(full: true).ok)
    }

    /// Drift in a child table and in the root, repaired by the repair unit after the batch: two
    /// incidents of one child table applied in one unit, and the root's in its own; every parked
    /// record replays whole through the nested path (its root row and all its child rows), with
    /// the same ids, nothing twice and nothing left parked.
    @Test(arguments: Backend.available)
    func childDriftReplaysWholeInTheUnit(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        _ = try await engine.ingest(path: writeLines((1...5).map { Self.push($0, commits: 2) }), table: "events")
        let verified = (6...7).map {
            Self.push($0, commits: 2).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"verified":1"#)
        }
        let signed = Self.push(8, commits: 3).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"signed":"yes""#)
        let org = Self.push(9, commits: 1).replacingOccurrences(of: #""type":"PushEvent""#, with: #""type":"PushEvent","org":"x""#)
        let s = try await engine.ingest(path: writeLines(verified + [signed, org]), table: "events")
        #expect(s.parked == 4 && s.repaired == 3 && s.stillParked == 0, "\(s)")
        #expect(try await Self.count(engine, "events") == 9)
        let commits: Int64 = 18  // 5 records of 2 commits, 2 of 2, 1 of 3, 1 of 1
        #expect(try await Self.count(engine, "events__payload__commits") == commits)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 2 * commits)
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits__added", "events__payload__commits") == 0)
        #expect(try await Self.badRuns(engine, "events__payload__commits") == 0)
        let verifiedRows = try await engine.rows(
            "SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits")) WHERE verified IS NOT NULL")
        #expect(verifiedRows.first?.first?.int == 4)
        #expect(try await engine.incidents().allSatisfy { $0.status == .resolved && $0.parked == 0 })
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.conserved && stats.loaded == 9 && stats.parked == 0, "\(stats)")
        #expect(try await engine.verifyAudit(full: true).ok)
    }

    /// A new field on the root parks the whole record too (its child rows wait with it), and
    /// the replay after the repair brings the children back with it.
    @Test(arguments: Backend.available)
    func driftInTheRootParksTheChildrenToo(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy("autonomy:\n  add_column: approve\n"))
        _ = try await engine.ingest(path: writeLines((1...5).map { Self.push($0, commits: 1) }), table: "events")
        let drifting = Self.push(6, commits: 3).replacingOccurrences(of: #""type":"PushEvent""#, with: #""type":"PushEvent","org":"x""#)
        let s = try await engine.ingest(path: writeLines([drifting]), table: "events")
        #expect(s.parked == 1, "\(s)")
        #expect(try await Self.count(engine, "events__payload__commits") == 5, "no child row of the parked record loaded")
        let incident = try #require(try await engine.incidents().first { $0.status != .resolved })
        #expect(incident.table == "events")
        _ = try await engine.approve(incidentID: incident.id, by: "alice")
        #expect(try await Self.count(engine, "events__payload__commits") == 8)
        #expect(try await Self.badRuns(engine, "events__payload__commits") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
    }

    /// The discard contracts hold for child tables: discard_value loads the record without the
    /// value, discard_row quarantines the whole record (no root row, no child row).
    @Test(arguments: Backend.available)
    func discardContractsInChildTables(_ backend: Backend) async throws {
        let extra =
            "tables:\n  events__payload__commits:\n    contracts:\n      columns: discard_value\n"
            + "  events__payload__commits__added:\n    contracts:\n      columns: discard_row\n"
        let engine = try await backend.engine(policy: try Self.policy(extra))
        _ = try await engine.ingest(path: writeLines([Self.push(1, commits: 1)]), table: "events")
        let newInCommit = Self.push(2, commits: 1).replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"x":1"#)
        let newInAdded = Self.push(3, commits: 1).replacingOccurrences(of: #"["a0.swift","b0.swift"]"#, with: #"[{"path":"a"}]"#)
        let s = try await engine.ingest(path: writeLines([newInCommit, newInAdded]), table: "events")
        #expect(s.loaded == 1 && s.quarantined == 1 && s.parked == 0, "\(s)")
        #expect(try await Self.count(engine, "events") == 2)
        #expect(try await Self.count(engine, "events__payload__commits") == 2)
        let stats = try #require(try await engine.stats().first { $0.table == "events" })
        #expect(stats.input == 3 && stats.loaded == 2 && stats.quarantined == 1, "\(stats)")
    }

    /// Records of a learned shape (D30) go from bytes to rows on the reader; whatever a shape does
    /// not hold goes the general way and is decided there: drift inside a child element parks
    /// the whole record into an incident of the child table, a list turned null loads no child
    /// rows, and the counts and links are those of the general path (NestedShapeTests compares
    /// the two paths row by row).
    @Test(arguments: Backend.available)
    func recordsOfALearnedShapeAndWhatTheShapeDoesNotHold(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        _ = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        await engine.setBatchSize(300)
        let drifting = Set(stride(from: 500, through: 2020, by: 500))
        let nulls = Set(stride(from: 700, through: 2020, by: 700))
        let lines = (21...2020).map { i -> String in
            if nulls.contains(i) {
                return
                    #"{"id":"\#(i)","type":"PushEvent","actor":{"login":"u\#(i)"},"repo":{"name":"o/r"},"payload":{"push_id":\#(i),"size":0,"ref":"refs/heads/main","commits":null}}"#
            }
            let line = Self.push(i, commits: 1 + i % 3)
            // A boolean column meets a text in the last commit's element only.
            guard drifting.contains(i), let last = line.range(of: #""distinct":true"#, options: .backwards) else { return line }
            return line.replacingCharacters(in: last, with: #""distinct":"maybe""#)
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded + s.replayedLoaded + s.stillParked == 2000 && s.quarantined == 0, "\(s)")
        #expect(s.parked >= Int64(drifting.count), "each drifting record parks whole: \(s)")
        let incidents = try await engine.incidents()
        #expect(incidents.contains { $0.table == "events__payload__commits" }, "the incident is the child table's")
        #expect(!incidents.contains { $0.table == "events" }, "the root did not drift")
        // Every record is loaded whole or not at all.
        let loadedIDs = Set(try await engine.rows("SELECT id FROM \(engine.tableRef("events"))").compactMap { $0[0].string })
        #expect(Int64(loadedIDs.count) + s.stillParked == 2020)
        let expected = (1...2020).filter { loadedIDs.contains(String($0)) }.reduce(0) { sum, i in
            sum + (i <= 20 ? 2 : nulls.contains(i) ? 0 : 1 + i % 3)
        }
        #expect(try await Self.count(engine, "events__payload__commits") == Int64(expected))
        #expect(try await Self.count(engine, "events__payload__commits__added") == Int64(2 * expected))
        for (child, parent) in [("events__payload__commits", "events"), ("events__payload__commits__added", "events__payload__commits")] {
            #expect(try await Self.orphans(engine, child, parent) == 0, "\(child)")
            #expect(try await Self.badRuns(engine, child) == 0, "\(child)")
        }
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
    }

    /// A tree of 20 push events on PostgreSQL whose commits table refuses the message "bad" by a
    /// CHECK added by hand, which the catalog's columns do not show.
    static func treeRefusingBadMessages() async throws -> Engine {
        let engine = try await Backend.postgres.engine(policy: try Self.policy())
        _ = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        _ = try await engine.rows(
            "ALTER TABLE \(engine.tableRef("events__payload__commits")) ADD CONSTRAINT no_bad CHECK (message <> 'bad')")
        return engine
    }

    /// Batches whose records all take a learned shape are encoded by the reader, which keeps no
    /// values (PostgreSQL). A row the database refuses there (a CHECK added by hand, which the
    /// catalog's columns do not show): the batch is cut again the general way, the records at
    /// fault park whole, and every other record of the batch loads with all its rows.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func aRowRefusedInABatchReadByShapeParksItsRecordWhole() async throws {
        let engine = try await Self.treeRefusingBadMessages()
        await engine.setBatchSize(100)
        let bad: Set<Int> = [450, 777, 778]
        let lines = (21...1020).map { i -> String in
            let line = Self.push(i, commits: 1 + i % 3)
            // The last commit's message, "m<index>", becomes "bad": the same keys and types.
            guard bad.contains(i) else { return line }
            return line.replacingOccurrences(of: #""message":"m\#(i % 3)""#, with: #""message":"bad""#)
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded + s.stillParked == 1000 && s.stillParked == Int64(bad.count) && s.quarantined == 0, "\(s)")
        let loadedIDs = Set(try await engine.rows("SELECT id FROM \(engine.tableRef("events"))").compactMap { $0[0].string })
        #expect(loadedIDs.intersection(bad.map(String.init)).isEmpty, "a refused record has no row anywhere")
        let expected = (21...1020).filter { !bad.contains($0) }.reduce(40) { $0 + 1 + $1 % 3 }
        #expect(try await Self.count(engine, "events__payload__commits") == Int64(expected))
        #expect(try await Self.count(engine, "events__payload__commits__added") == Int64(2 * expected))
        for (child, parent) in [("events__payload__commits", "events"), ("events__payload__commits__added", "events__payload__commits")] {
            #expect(try await Self.orphans(engine, child, parent) == 0, "\(child)")
        }
        let parked = try await engine.rows("SELECT reason FROM \(engine.warehouse.stateTable("parked"))")
        #expect(parked.count == bad.count && parked.allSatisfy { ($0[0].string ?? "").contains("no_bad") }, "\(parked)")
    }

    /// A parked record whose repair lands, and whose replay the database refuses (a CHECK added
    /// by hand): the replay loads the others, the refused record stays parked whole under an
    /// incident with the database's words, and the ingest ends normally (it stopped with the
    /// database's error before).
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG"))
    func aReplayTheDatabaseRefusesKeepsTheRecordParked() async throws {
        let engine = try await Self.treeRefusingBadMessages()
        // Records 30 and 31 gain a key in their commits (a drift a repair adds a column for);
        // record 31's message is also one the CHECK refuses.
        let lines = (21...60).map { i -> String in
            let line = Self.push(i, commits: 2)
            switch i {
            case 30: return line.replacingOccurrences(of: #""message":"m1""#, with: #""message":"m1","verified":"yes""#)
            case 31: return line.replacingOccurrences(of: #""message":"m1""#, with: #""message":"bad","verified":"yes""#)
            default: return line
            }
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.parked == 2 && s.repaired >= 1 && s.replayedLoaded == 1 && s.stillParked == 1, "\(s)")
        #expect(try await Self.count(engine, "events") == 59)
        #expect(try await Self.count(engine, "events__payload__commits") == 118)
        #expect(try await Self.orphans(engine, "events__payload__commits", "events") == 0)
        let parked = try await engine.rows("SELECT line, reason FROM \(engine.warehouse.stateTable("parked"))")
        #expect(parked.count == 1 && (parked.first?[1].string ?? "").contains("no_bad"), "\(parked)")
        let incidents = try await engine.incidents()
        #expect(incidents.contains { $0.table == "events__payload__commits" && $0.signature.hasPrefix("type_mismatch") }, "\(incidents)")
    }

    /// Many small batches against existing tables: rows validated ahead by the reader (SQLite
    /// parses in parallel parts) and rows validated at the commit load the same; a key path new
    /// mid-stream (a null first, then a value) and a new column both settle.
    @Test(arguments: Backend.available)
    func manyBatchesValidatedAhead(_ backend: Backend) async throws {
        let engine = try await backend.engine(policy: try Self.policy())
        _ = try await engine.ingest(path: writeLines((1...20).map { Self.push($0, commits: 2) }), table: "events")
        await engine.setBatchSize(300)
        let lines = (21...3020).map { i -> String in
            var line = Self.push(i, commits: i % 4)
            if i > 1500 { line = line.replacingOccurrences(of: #""distinct":true"#, with: #""distinct":true,"tag":null"#) }
            if i > 2500 { line = line.replacingOccurrences(of: #""tag":null"#, with: #""tag":"t\#(i)""#) }
            return line
        }
        let s = try await engine.ingest(path: writeLines(lines), table: "events")
        #expect(s.loaded + s.replayedLoaded == 3000 && s.stillParked == 0, "\(s)")
        #expect(try await Self.count(engine, "events") == 3020)
        let commits = Int64(40 + (21...3020).reduce(0) { $0 + $1 % 4 })
        #expect(try await Self.count(engine, "events__payload__commits") == commits)
        #expect(try await Self.count(engine, "events__payload__commits__added") == 2 * commits)
        let tagged = try await engine.rows("SELECT COUNT(*) FROM \(engine.tableRef("events__payload__commits")) WHERE tag IS NOT NULL")
        #expect(tagged.first?.first?.int == Int64((2501...3020).reduce(0) { $0 + $1 % 4 }))
        for t in ["events", "events__payload__commits", "events__payload__commits__added"] {
            #expect(try await Self.duplicates(engine, t) == 0, "\(t)")
        }
        #expect(try await Self.badRuns(engine, "events__payload__commits__added") == 0)
        #expect(try await Self.orphans(engine, "events__payload__commits__added", "events__payload__commits") == 0)
    }

    @Test func policyRefusesWhatSaysNothing() throws {
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("nested_lists: table\n") }
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("max_nesting: 2\n") }
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("nested_lists: tables\nmax_nesting: -1\n") }
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("tables:\n  t:\n    keep_json: [a]\n") }
        #expect(throws: PipelineError.self) { try PolicyLoader.parse("tables:\n  t:\n    nested_lists: tables\n    primary_key: []\n") }
        do {
            _ = try PolicyLoader.parse("nested_lists: table\n")
        } catch {
            #expect("\(error)".contains("did you mean 'tables'"), "\(error)")
        }
        do {
            _ = try PolicyLoader.parse("tables:\n  t:\n    max_nesting: 1\n")
        } catch {
            #expect("\(error)".contains("nested_lists: tables"), "\(error)")
        }
        let ok = try PolicyLoader.parse(
            "max_nesting: 2\nkeep_json: [a.b]\ntables:\n  t:\n    nested_lists: tables\n    primary_key: [id]\n")
        #expect(ok.nesting(table: "t") == NestingRule(maxNesting: 2, keepJSON: ["a.b"], primaryKey: ["id"]))
        #expect(ok.nesting(table: "other") == nil)
        #expect(PolicyLoader.effective(ok).contains("nested_lists: tables (max_nesting 2"))
    }
}
