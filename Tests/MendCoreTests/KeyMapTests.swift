import Foundation
import MendCore
import Testing

@Suite struct KeyMapTests {
    static func members(_ keys: [String], value: Int) -> [(key: String, value: JSONValue)] {
        keys.map { ($0, .number(JSONNumber(int: Int64(value)))) }
    }

    /// Keys that all normalize to `user_id` (case, separators, leading underscores, Unicode forms)
    /// or to its suffixes.
    static let colliding = [
        "userId", "user_id", "UserId", "USER_ID", "user-id", "user id", "_user_id", "__userId", "user.id", "user_id_2",
        "usér_id", "use\u{301}r_id", "ÜserId", "U\u{308}serId", "user__id", "user_Id",
    ]

    /// Random sets of colliding keys in random orders, flattened by the flatteners of several
    /// workers one batch after the other, each settling its batch against the map the last one
    /// stored: every key has one column in every record, and no two keys share one.
    @Test func eachKeyHasOneColumnAcrossAllRecords() {
        var rng = SystemRandomNumberGenerator()
        for round in 0..<200 {
            let keys = Array(Self.colliding.shuffled(using: &rng).prefix(Int.random(in: 2...Self.colliding.count, using: &rng)))
            var stored = KeyMap()
            var seen: [String: String] = [:]
            for batch in 0..<Int.random(in: 1...4, using: &rng) {
                var f = Flattener(keys: stored, assigns: true)
                for _ in 0..<Int.random(in: 1...8, using: &rng) {
                    let subset = keys.shuffled(using: &rng).prefix(Int.random(in: 1...keys.count, using: &rng))
                    let fields = f.flatten(Self.members(Array(subset), value: round))
                    // NFC and NFD spellings of one key are one key to Swift (and to the map): count keys so.
                    #expect(
                        Set(fields.map(\.column)).count == Set(fields.map(\.sourceKey)).count,
                        "two keys of one record share a column: \(fields)")
                    for field in fields {
                        if let before = seen[field.sourceKey] {
                            #expect(before == field.column, "round \(round) batch \(batch): \(field.sourceKey) moved")
                        }
                        seen[field.sourceKey] = field.column
                    }
                }
                for (key, column) in f.added { stored.assign(key, to: column) }
            }
            let owners = Dictionary(grouping: seen, by: \.value)
            // Swift compares strings by canonical equivalence: NFC and NFD spellings are one key.
            #expect(owners.values.allSatisfy { $0.count == 1 }, "a column with two keys: \(owners.filter { $0.value.count > 1 })")
        }
    }

    /// The reader's flatteners propose names without storing them; the commit's settles them.
    @Test func proposalsDoNotAssign() {
        var reader = Flattener(keys: KeyMap(["_path": "path"]))
        let proposed = reader.flatten(Self.members(["path"], value: 1))
        #expect(proposed.map(\.column) == ["path_2"] && proposed.map(\.isNew) == [true])
        #expect(reader.added.isEmpty && reader.keys.count == 1)
        var commit = Flattener(keys: KeyMap(["_path": "path"]), assigns: true)
        _ = commit.flatten(Self.members(["path"], value: 1))
        let again = commit.flatten(Self.members(["_path", "path"], value: 2))
        #expect(again.map(\.column) == ["path", "path_2"])
        #expect(again.map(\.isNew) == [false, false])
        #expect(commit.added.map(\.column) == ["path_2"])
    }

    @Test func keyPathTextEscapesDotsAndBackslashes() {
        #expect(KeyPath.join(nil, "id.orig_h") == #"id\.orig_h"#)
        #expect(KeyPath.join("id", "orig_h") == "id.orig_h")
        #expect(KeyPath.join(nil, #"a\b"#) == #"a\\b"#)
        for segments in [["id", "orig_h"], ["id.orig_h"], [#"a\"#, "b."], ["", "x"], [#"\."#]] {
            #expect(KeyPath.segments(KeyPath.text(segments)) == segments)
        }
    }
}
