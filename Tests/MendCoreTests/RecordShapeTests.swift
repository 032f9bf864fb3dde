import MendCore
import Testing

/// The shape fast path must give exactly the general path's row, or nothing.
@Suite struct RecordShapeTests {
    static let schema = TableSchema(
        name: "events",
        columns: [
            Column(name: "id", type: .bigint, nullable: false),
            Column(name: "name", type: .text),
            Column(name: "amount", type: .double),
            Column(name: "at", type: .timestamptz),
            Column(name: "ok", type: .boolean),
            Column(name: "ref", type: .uuid),
            Column(name: "tags", type: .json),
            Column(name: "price", type: .numeric),
            Column(name: "user_id", type: .bigint),
            Column(name: "extra__a", type: .bigint),
        ])

    /// Flattened against a key map that knows the record's keys, as every record is once the
    /// batch that first saw its keys committed (a new key path is never learned).
    static func known(_ members: [(key: String, value: JSONValue)]) -> [FlatField] {
        var f = Flattener(assigns: true)
        _ = f.flatten(members)
        return f.flatten(members)
    }

    /// The general path: parse, flatten, fit.
    static func general(_ line: String, _ v: inout Validator) -> Fit? {
        guard case .object(let members)? = try? JSONParser.parse(line) else { return nil }
        return v.fit(Self.known(members))
    }

    static func learn(_ line: String, _ v: inout Validator) {
        guard case .object(let members)? = try? JSONParser.parse(line) else {
            Issue.record("not an object: \(line)")
            return
        }
        let fields = Self.known(members)
        guard case .row(_, 0) = v.fit(fields) else {
            Issue.record("the learning record must fit exactly: \(line)")
            return
        }
        v.learnShape(members: members, fields: fields)
    }

    static func fast(_ line: String, _ v: inout Validator) -> [SQLValue]? {
        var copy = line
        return copy.withUTF8 { v.fastRow($0) }
    }

    static let seed =
        #"{"id":1,"name":"a","amount":1.5,"at":"2026-03-01T10:00:01Z","ok":true,"ref":"0b5c2a1e-4c1f-4f7e-9d2a-3c4b5a6d7e8f","tags":[1,2],"price":12.50,"userId":3}"#

    @Test func sameShapeTakesTheFastPathWithTheGeneralPathsRow() throws {
        var v = Validator(schema: Self.schema)
        #expect(Self.fast(Self.seed, &v) == nil, "nothing learned yet")
        Self.learn(Self.seed, &v)
        let lines = [
            #"{"id":2,"name":"b \"quoted\" \u00e9\n","amount":-3e2,"at":"2026-03-01 10:00:01.123+02:00","ok":false,"ref":"0B5C2A1E-4C1F-4F7E-9D2A-3C4B5A6D7E8F","tags":{"x":[]},"price":1e3,"userId":-9}"#,
            #" { "id" : 3 , "name" : null , "amount" : 7 , "at" : null , "ok" : null , "ref" : null , "tags" : "s" , "price" : 0 , "userId" : null } "#,
            #"{"id":4,"name":"","amount":0.1,"at":"2026-03-01T10:00:01z","ok":true,"ref":"0b5c2a1e-4c1f-4f7e-9d2a-3c4b5a6d7e8f","tags":[{"a":1}],"price":-0.5,"userId":123456789012345678}"#,
        ]
        for line in lines {
            let general = Self.general(line, &v)
            let fast = Self.fast(line, &v)
            if line.contains(#""tags":{"#) {
                // An object where the shape has a scalar flattens into other columns.
                #expect(fast == nil, "\(line)")
            } else {
                #expect(fast != nil, "\(line)")
                #expect(general == fast.map { .row($0, coerced: 0) }, "\(line)")
            }
        }
    }

    @Test func anythingUnusualGoesTheGeneralWay() throws {
        var v = Validator(schema: Self.schema, limits: RecordLimits(maxValueBytes: 8))
        Self.learn(#"{"id":1,"name":"a","userId":2}"#, &v)
        #expect(Self.fast(#"{"id":1,"name":"b","userId":2}"#, &v) != nil)
        let general = [
            #"{"name":"b","id":1,"userId":2}"#,  // keys in another order
            #"{"id":1,"name":"b"}"#,  // a key missing
            #"{"id":1,"name":"b","userId":2,"x":1}"#,  // a new key
            #"{"id":"1","name":"b","userId":2}"#,  // coerced: counted by the general path
            #"{"id":null,"name":"b","userId":2}"#,  // NOT NULL column
            #"{"id":1.5,"name":"b","userId":2}"#,  // mismatch
            #"{"id":1,"name":true,"userId":2}"#,  // coerced bool to text
            #"{"id":1,"name":"123456789","userId":2}"#,  // over max_value_bytes
            #"{"id":1,"n\u0061me":"b","userId":2}"#,  // escaped key
            #"{"id":1,"name":{"x":1},"userId":2}"#,  // nested object
            #"{"id":1,"name":"b","userId":2} x"#,  // trailing garbage
            #"{"id":1,"name":"b","userId":2"#,  // truncated
            #"{"id":1,"name":"b""userId":2}"#,  // missing comma
            #"{"id":01,"name":"b","userId":2}"#,  // not JSON
            #"[1]"#,
        ]
        for line in general {
            #expect(Self.fast(line, &v) == nil, "\(line)")
        }
    }

    /// Objects the flattener walks are part of the shape: their keys land in `parent__child`
    /// columns on the fast path as on the general one; an object where the shape has another
    /// layout (null, a key more, another order, empty, a scalar) goes the general way.
    @Test func objectsFlattenOnTheFastPathAsOnTheGeneralOne() throws {
        let schema = TableSchema(
            name: "events",
            columns: [
                Column(name: "id", type: .bigint), Column(name: "actor__login", type: .text), Column(name: "actor__id", type: .bigint),
                Column(name: "payload__head", type: .text), Column(name: "payload__repo__name", type: .text),
                Column(name: "payload__commits", type: .json), Column(name: "public", type: .boolean),
            ])
        var v = Validator(schema: schema)
        let seed =
            #"{"id":1,"actor":{"login":"a","id":2},"payload":{"head":"h","repo":{"name":"o/r"},"commits":[{"sha":"x"}]},"public":true}"#
        Self.learn(seed, &v)
        let same = [
            #"{"id":2,"actor":{"login":"b \"q\"","id":null},"payload":{"head":"h2","repo":{"name":null},"commits":[]},"public":false}"#,
            #" { "id" : 3 , "actor" : { "login" : "c" , "id" : 4 } , "payload" : { "head" : "" , "repo" : { "name" : "x" } , "commits" : [ 1 , { "a" : [ ] } ] } , "public" : null } "#,
        ]
        for line in same {
            let fast = Self.fast(line, &v)
            #expect(fast != nil, "\(line)")
            #expect(Self.general(line, &v) == fast.map { .row($0, coerced: 0) }, "\(line)")
        }
        let other = [
            #"{"id":2,"actor":null,"payload":{"head":"h","repo":{"name":"o/r"},"commits":[]},"public":true}"#,
            #"{"id":2,"actor":{"login":"a","id":2,"x":1},"payload":{"head":"h","repo":{"name":"o/r"},"commits":[]},"public":true}"#,
            #"{"id":2,"actor":{"id":2,"login":"a"},"payload":{"head":"h","repo":{"name":"o/r"},"commits":[]},"public":true}"#,
            #"{"id":2,"actor":{},"payload":{"head":"h","repo":{"name":"o/r"},"commits":[]},"public":true}"#,
            #"{"id":2,"actor":"a","payload":{"head":"h","repo":{"name":"o/r"},"commits":[]},"public":true}"#,
            #"{"id":2,"actor":{"login":"a","id":2},"payload":{"head":"h","repo":{"name":{"first":"o"}},"commits":[]},"public":true}"#,
        ]
        for line in other {
            #expect(Self.fast(line, &v) == nil, "\(line)")
        }
    }

    @Test func anObjectKeptWholeIsNotLearned() throws {
        let schema = TableSchema(name: "t", columns: [Column(name: "id", type: .bigint), Column(name: "a", type: .json)])
        var v = Validator(schema: schema)
        // The flattener keeps objects past its depth whole: the general path decides those.
        var f = Flattener(maxDepth: 1, assigns: true)
        guard case .object(let members) = try JSONParser.parse(#"{"id":1,"a":{"b":1}}"#) else { return }
        _ = f.flatten(members)
        let fields = f.flatten(members)
        guard case .row(_, 0) = v.fit(fields) else {
            Issue.record("the record must fit")
            return
        }
        v.learnShape(members: members, fields: fields)
        #expect(Self.fast(#"{"id":1,"a":{"b":1}}"#, &v) == nil)
    }

    @Test func aKeySeenOnlyAsNullStaysNullOnTheFastPath() throws {
        var v = Validator(schema: Self.schema)
        Self.learn(#"{"id":1,"later":null}"#, &v)
        #expect(Self.fast(#"{"id":2,"later":null}"#, &v) == Self.row(id: 2))
        #expect(Self.fast(#"{"id":2,"later":"now a value"}"#, &v) == nil)
        guard case .drifts(let d)? = Self.general(#"{"id":2,"later":"now a value"}"#, &v) else {
            Issue.record("expected a drift")
            return
        }
        #expect(d.first?.kind == .unknownField)
    }

    static func row(id: Int64) -> [SQLValue] {
        var r = [SQLValue](repeating: .null, count: schema.columns.count)
        r[0] = .int(id)
        return r
    }

    @Test func mappedKeysLandInTheirTargetColumn() throws {
        var s = Self.schema
        s.mappings = ["customer": "user_id"]
        var v = Validator(schema: s)
        Self.learn(#"{"id":1,"customer":5}"#, &v)
        var expected = Self.row(id: 2)
        expected[8] = .int(6)
        #expect(Self.fast(#"{"id":2,"customer":6}"#, &v) == expected)
    }

    @Test func aConvertedColumnIsNeverLearned() throws {
        var s = Self.schema
        s.conversions = ["user_id": .epochSecondsToTimestamp]
        var v = Validator(schema: s)
        guard case .object(let members) = try JSONParser.parse(#"{"id":1,"user_id":5}"#) else { return }
        let fields = Self.known(members)
        v.learnShape(members: members, fields: fields)
        #expect(Self.fast(#"{"id":1,"user_id":5}"#, &v) == nil)
    }

    @Test func upToFourShapesAreKept() throws {
        var v = Validator(schema: Self.schema)
        let shapes = [#"{"id":1}"#, #"{"id":1,"name":"a"}"#, #"{"id":1,"ok":true}"#, #"{"id":1,"amount":2}"#, #"{"id":1,"price":2}"#]
        for s in shapes { Self.learn(s, &v) }
        // The oldest shape was dropped; the four newest take the fast path.
        #expect(Self.fast(#"{"id":7}"#, &v) == nil)
        for s in shapes.dropFirst() { #expect(Self.fast(s, &v) != nil, "\(s)") }
    }

    /// Random records of random shapes and values: whenever the fast path answers, the
    /// general path gives the same row with no coercion.
    @Test func randomRecordsAgreeWithTheGeneralPath() throws {
        var rng = SplitMix(seed: 42)
        let keys = ["id", "name", "amount", "at", "ok", "ref", "tags", "price", "userId", "extra"]
        let values = [
            "1", "-7", "0", "1.5", "1e400", "12345678901234567890", "9007199254740993", "\"x\"", "\"\"", "\"5\"",
            "\"2026-03-01T10:00:01Z\"",
            "\"2026-02-30T10:00:01Z\"", "\"0b5c2a1e-4c1f-4f7e-9d2a-3c4b5a6d7e8f\"", "true", "false", "null", "[]", "[1,\"a\"]", "{}",
            "{\"a\":1}",
            "\"\\u0000\"", "\"a\\\"b\"", "-0", "0.10",
        ]
        let typical: [String: [String]] = [
            "id": ["1", "-7"], "name": ["\"x\"", "\"a\\\"b\""], "amount": ["1.5", "3"], "at": ["\"2026-03-01T10:00:01Z\"", "null"],
            "ok": ["true", "false"], "ref": ["\"0b5c2a1e-4c1f-4f7e-9d2a-3c4b5a6d7e8f\"", "null"], "tags": ["[1,\"a\"]", "\"s\""],
            "price": ["0.10", "-0"], "userId": ["5", "null"], "extra": ["{\"a\":1}", "null"],
        ]
        var v = Validator(schema: Self.schema)
        var agreed = 0
        for _ in 0..<5000 {
            // Mostly a few recurring layouts, as real sources have, sometimes any subset.
            let layouts = [keys, Array(keys.prefix(5)), ["id", "userId", "tags", "at"]]
            var chosen = rng.next() % 5 == 0 ? ["id"] + keys.dropFirst().filter { _ in rng.next() % 3 != 0 } : layouts[Int(rng.next() % 3)]
            if rng.next() % 10 == 0 { chosen.shuffle(using: &rng) }
            // Mostly values of the key's own type, sometimes anything.
            let line =
                "{"
                + chosen.map { key in
                    let wild = rng.next() % 4 == 0
                    let pick = wild ? values[Int(rng.next() % UInt64(values.count))] : typical[key, default: ["null"]][Int(rng.next() % 2)]
                    return "\"\(key)\":\(pick)"
                }.joined(separator: ",") + "}"
            let general = Self.general(line, &v)
            if let fast = Self.fast(line, &v) {
                #expect(general == .row(fast, coerced: 0), "\(line)")
                agreed += 1
            } else if case .row(_, 0)? = general, case .object(let members)? = try? JSONParser.parse(line) {
                v.learnShape(members: members, fields: Self.known(members))
            }
        }
        #expect(agreed > 50, "the fast path should answer some of the random records")
    }
}

/// A small deterministic generator, so a failure reproduces.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
