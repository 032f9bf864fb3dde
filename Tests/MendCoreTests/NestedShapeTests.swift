import Foundation
import MendCore
import Testing

/// The nested shape fast path must give exactly the general path's rows (cut, flattened,
/// fit), in the same order with the same ids, or nothing.
@Suite struct NestedShapeTests {
    /// The general path's tables for `lines`: one flattener and validator per table, every key
    /// path of the lines known (as once the batch that first saw them committed).
    struct Tree {
        let rule: NestingRule
        var index: [String: Int] = [:]
        var flatteners: [Flattener] = []
        var validators: [Validator] = []

        init(_ lines: [String], rule: NestingRule = NestingRule(), limits: RecordLimits = RecordLimits()) throws {
            self.rule = rule
            var fields: [[[FlatField]]] = []
            for line in lines {
                for (row, f) in try general(line) {
                    let i = table(row)
                    if fields.count <= i { fields.append([]) }
                    fields[i].append(f)
                }
            }
            let names = index.sorted { $0.value < $1.value }.map(\.key)
            for (i, name) in names.enumerated() {
                let schema = TableSchema(name: name, columns: SchemaInference.columns(from: fields[i]))
                validators.append(Validator(schema: schema, limits: limits))
            }
        }

        mutating func table(_ row: NestedRow) -> Int {
            if let i = index[row.table] { return i }
            index[row.table] = flatteners.count
            flatteners.append(Flattener(maxDepth: rule.flattenDepth(budget: row.budget), assigns: true))
            return flatteners.count - 1
        }

        static func rootID(_ key: String?) -> String { key.map { "key:" + $0 } ?? "pos" }
        static func childID(_ parent: String, _ path: String, _ i: Int) -> String { "\(parent)/\(path)[\(i)]" }

        func members(_ line: String) throws -> [(key: String, value: JSONValue)] {
            guard case .object(let members) = try JSONParser.parse(line) else { throw NotAnObject() }
            return members
        }

        /// Cut and flattened, links first, as the engine does.
        mutating func general(_ line: String) throws -> [(NestedRow, [FlatField])] {
            let members = try members(line)
            let key = rule.primaryKey.isEmpty ? nil : Unnester.naturalKey(members, paths: rule.primaryKey)
            let rows = Unnester.unnest(members, table: "events", rootID: Self.rootID(key), rule: rule, childID: Self.childID)
            return rows.map { row in
                let i = table(row)
                return (row, row.links + flatteners[i].flatten(row.members))
            }
        }

        /// The general path's rows as (table, values), or nil when a row does not fit exactly.
        mutating func fitted(_ line: String) throws -> [(Int, [SQLValue])]? {
            var out: [(Int, [SQLValue])] = []
            for (row, fields) in try general(line) {
                let i = table(row)
                guard case .row(let values, 0) = validators[i].fit(fields) else { return nil }
                out.append((i, values))
            }
            return out
        }

        mutating func learn(_ line: String, into shapes: inout NestedShapes) throws {
            let members = try members(line)
            let cut = try general(line)
            shapes.learn(
                members, rows: cut.map(\.0), fields: cut.map(\.1), tables: cut.map { table($0.0) }, validators: validators,
                primaryKey: rule.primaryKey)
        }

        func fast(_ line: String, _ shapes: inout NestedShapes) -> [(Int, [SQLValue])]? {
            var copy = line
            return copy.withUTF8 { bytes in
                shapes.rows(bytes, rootID: Self.rootID, childID: Self.childID)?.map { ($0.table, $0.sqlValues(bytes)) }
            }
        }

        /// Fast and general agree: the fast path gives the general rows, or gives up.
        /// Returns whether the fast path took the line.
        @discardableResult
        mutating func agree(_ line: String, _ shapes: inout NestedShapes, sourceLocation: SourceLocation = #_sourceLocation) throws
            -> Bool
        {
            guard let fast = fast(line, &shapes) else { return false }
            let general = try fitted(line)
            #expect(
                general != nil, "the fast path took a line the general path does not fit exactly: \(line)", sourceLocation: sourceLocation)
            guard let general else { return true }
            #expect(fast.map(\.0) == general.map(\.0), "tables, in order: \(line)", sourceLocation: sourceLocation)
            #expect(fast.map(\.1) == general.map(\.1), "values: \(line)", sourceLocation: sourceLocation)
            return true
        }
    }

    struct NotAnObject: Error {}

    static func push(_ id: Int, commits: Int, extra: String = "") -> String {
        let list = (0..<commits).map { i in
            #"{"sha":"s\#(id)_\#(i)","author":{"email":"d\#(i)@e.com","name":"Dev \#(i)"},"message":"m \"q\" \u00e9","distinct":\#(i % 2 == 0),"url":"u/\#(i)"}"#
        }
        return
            #"{"id":"\#(id)","type":"PushEvent","actor":{"id":\#(id * 7),"login":"u\#(id)"},"payload":{"size":\#(commits),"commits":[\#(list.joined(separator: ","))]\#(extra)},"public":true,"created_at":"2026-03-01T10:00:01Z"}"#
    }

    @Test func listsOfAnyLengthTakeTheFastPathWithTheGeneralRows() throws {
        let lines = (0..<6).map { Self.push($0, commits: $0) }
        var tree = try Tree(lines)
        var shapes = NestedShapes()
        #expect(tree.fast(lines[2], &shapes) == nil, "nothing learned yet")
        try tree.learn(lines[2], into: &shapes)
        for line in lines {
            #expect(try tree.agree(line, &shapes), "\(line)")
        }
        // Whitespace anywhere JSON allows it.
        let spaced = lines[3].replacingOccurrences(of: #",""#, with: " ,\n \"").replacingOccurrences(of: #"":"#, with: "\" : ")
            .replacingOccurrences(of: "[", with: "[ ").replacingOccurrences(of: "{", with: "{\t")
        #expect(try tree.agree(" " + spaced + " ", &shapes))
    }

    @Test func anEmptyListIsNotLearnedFromButReadAsNoRows() throws {
        let lines = [Self.push(1, commits: 0), Self.push(2, commits: 2)]
        var tree = try Tree(lines)
        var shapes = NestedShapes()
        try tree.learn(lines[0], into: &shapes)
        #expect(shapes.isEmpty, "an empty list does not say which table its elements go to")
        try tree.learn(lines[1], into: &shapes)
        #expect(try tree.agree(lines[0], &shapes))
    }

    @Test func anythingTheShapeDoesNotHoldGoesTheGeneralWay() throws {
        let base = Self.push(1, commits: 2)
        let variants = [
            Self.push(2, commits: 2, extra: #","before":"x""#),  // a key the shape lacks
            base.replacingOccurrences(of: #""commits":["#, with: #""commits":[{"sha":"new","extra":1},"#),  // another element layout
            base.replacingOccurrences(of: #""actor":{"id":7,"login":"u1"}"#, with: #""actor":null"#),  // an object turned null
            base.replacingOccurrences(of: #""size":2"#, with: #""size":"2""#),  // a type that coerces
            base.replacingOccurrences(of: #""size":2"#, with: #""size":{"n":2}"#),  // an object where a scalar was
            base.replacingOccurrences(of: #""public":true"#, with: #""public":[true]"#),  // a list where a scalar was
            base.replacingOccurrences(of: #""type":"PushEvent","#, with: ""),  // a key missing
            base.replacingOccurrences(of: #""id":"1","type""#, with: #""type":"PushEvent","id":"1","dup""#),  // keys reordered
            base.replacingOccurrences(of: #""commits":["#, with: #""commits":[["a"],"#),  // a list of lists
            base + " x",  // trailing bytes
        ]
        var tree = try Tree([base, Self.push(2, commits: 2, extra: #","before":"x""#)])
        var shapes = NestedShapes()
        try tree.learn(base, into: &shapes)
        #expect(try tree.agree(base, &shapes))
        for line in variants {
            #expect(tree.fast(line, &shapes) == nil, "\(line)")
        }
    }

    @Test func scalarAndMixedListsAndGrandchildren() throws {
        // A block: transactions with logs (grandchildren), topics as a list of scalars, and a
        // mixed list whose elements are objects and scalars (two layouts of one table).
        func block(_ n: Int, txs: Int, logs: Int) -> String {
            let tx = (0..<txs).map { t in
                let lg = (0..<logs).map { l in #"{"address":"0x\#(l)","topics":["t\#(l)","u\#(l)"],"data":"0x"}"# }
                return #"{"hash":"h\#(t)","value":\#(t + 1)000000000000000000000000,"logs":[\#(lg.joined(separator: ","))]}"#
            }
            return #"{"number":\#(n),"transactions":[\#(tx.joined(separator: ","))],"mixed":[1,{"a":2},3]}"#
        }
        let lines = [block(1, txs: 2, logs: 2), block(2, txs: 3, logs: 1), block(3, txs: 1, logs: 0), block(4, txs: 0, logs: 0)]
        var tree = try Tree(lines)
        #expect(
            tree.index.keys.sorted() == [
                "events", "events__mixed", "events__transactions", "events__transactions__logs",
                "events__transactions__logs__topics",
            ])
        var shapes = NestedShapes()
        try tree.learn(lines[0], into: &shapes)
        for line in lines { #expect(try tree.agree(line, &shapes), "\(line)") }
        // Integers past 64 bits stay exact in the child rows.
        let tx = tree.index["events__transactions"] ?? -1
        let rows = tree.fast(lines[1], &shapes) ?? []
        let valuePosition = tree.validators[tx].schema.position(of: "value") ?? -1
        #expect(tree.validators[tx].schema.columns[valuePosition].type == .numeric)
        #expect(rows.filter { $0.0 == tx }.map { $0.1[valuePosition] }.last == .text("3000000000000000000000000"))
    }

    @Test func theNaturalKeyNamesTheRootAsOnTheGeneralPath() throws {
        let rule = NestingRule(primaryKey: ["id", "actor.login"])
        let lines = [Self.push(1, commits: 1), Self.push(2, commits: 3)]
        var tree = try Tree(lines, rule: rule)
        var shapes = NestedShapes()
        try tree.learn(lines[0], into: &shapes)
        #expect(try tree.agree(lines[1], &shapes))
        let rows = tree.fast(lines[1], &shapes) ?? []
        let id = tree.validators[0].schema.position(of: Unnester.idColumn) ?? -1
        #expect(rows.first?.1[id] == .text("key:\"2\"\u{0}\"u2\""))
        // A key part null: the root's id comes from its position, as on the general path.
        let nullKey = lines[1].replacingOccurrences(of: #""login":"u2""#, with: #""login":null"#)
        #expect(try tree.agree(nullKey, &shapes))
        #expect(tree.fast(nullKey, &shapes)?.first?.1[id] == .text("pos"))
    }

    @Test func limitsAndRequiredColumnsGiveUp() throws {
        let lines = [Self.push(1, commits: 1)]
        var tree = try Tree(lines, limits: RecordLimits(maxValueBytes: 40))
        var shapes = NestedShapes()
        try tree.learn(lines[0], into: &shapes)
        #expect(try tree.agree(lines[0], &shapes))
        let long = lines[0].replacingOccurrences(of: #""message":"m"#, with: #""message":"\#(String(repeating: "x", count: 50))"#)
        #expect(tree.fast(long, &shapes) == nil, "a value over max_value_bytes is the general path's to park")
    }

    /// Random values and list lengths over one learned shape: whenever the fast path takes a
    /// line, it gives the general path's rows.
    @Test func randomVariantsAgree() throws {
        var rng = SystemRandomNumberGenerator()
        let values = [#""s""#, "1", "-2.5", "true", "null", "12345678901234567890123", #""2026-03-01T10:00:01Z""#, "{}", "[]", #"{"k":1}"#]
        let base = Self.push(1, commits: 2)
        var lines: [String] = []
        for _ in 0..<300 {
            var line = Self.push(Int.random(in: 1...99, using: &rng), commits: Int.random(in: 0...4, using: &rng))
            for key in ["\"size\":", "\"login\":", "\"distinct\":", "\"public\":", "\"name\":"] where Bool.random(using: &rng) {
                guard let r = line.range(of: key) else { continue }
                let end = line[r.upperBound...].firstIndex(where: { $0 == "," || $0 == "}" }) ?? line.endIndex
                line.replaceSubrange(r.upperBound..<end, with: values.randomElement(using: &rng) ?? "null")
            }
            lines.append(line)
        }
        var tree = try Tree([base] + lines)
        var shapes = NestedShapes()
        try tree.learn(base, into: &shapes)
        var taken = 0
        for line in lines where try tree.agree(line, &shapes) { taken += 1 }
        #expect(taken > 0)
    }
}
