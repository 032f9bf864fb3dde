import MendCore
import Testing

/// `nested_lists: tables`: a record cut into its root row and child rows (D26).
@Suite struct UnnesterTests {
    /// Ids that show their derivation, so a test can read parent links off them.
    static func cut(_ json: String, table: String = "events", rule: NestingRule = NestingRule()) throws -> [NestedRow] {
        guard case .object(let members) = try JSONParser.parse(json) else {
            Issue.record("not an object: \(json)")
            return []
        }
        return Unnester.unnest(members, table: table, rootID: "r", rule: rule) { parent, path, i in "\(parent)/\(path)[\(i)]" }
    }

    static func keys(_ row: NestedRow) -> [String] { row.members.map(\.key) }

    static let push = #"""
        {"id":"1","type":"PushEvent","payload":{"size":2,"commits":[{"sha":"a","author":{"name":"x","email":"x@e"}},{"sha":"b","author":{"name":"y","email":"y@e"},"files":["f1","f2"]}]}}
        """#

    @Test func listUnderANestedObjectIsAChildOfTheRowsTable() throws {
        let rows = try Self.cut(Self.push)
        #expect(
            rows.map(\.table) == [
                "events", "events__payload__commits", "events__payload__commits", "events__payload__commits__files",
                "events__payload__commits__files",
            ])
        #expect(Self.keys(rows[0]) == ["id", "type", "payload"])
        #expect(rows[0].members[2].value == .object([("size", .number(JSONNumber(text: "2")))]), "the list left the object")
        #expect(rows[1].id == "r/payload.commits[0]")
        #expect(rows[1].parentID == "r" && rows[1].index == 0 && rows[1].rootID == "r")
        #expect(Self.keys(rows[1]) == ["sha", "author"], "objects inside an element stay for the flattener")
        #expect(rows[3].parentID == "r/payload.commits[1]" && rows[3].index == 0)
        #expect(rows[3].members[0].key == "value" && rows[3].members[0].value == .string("f1"))
        #expect(rows[4].rootID == "r" && rows[4].index == 1)
        #expect(rows[0].links.map(\.column) == ["_mend_id"], "the root row has an id only")
        #expect(rows[1].links.map(\.column) == ["_mend_id", "_mend_parent_id", "_mend_list_idx", "_mend_root_id"])
    }

    @Test func listsOfListsGoThroughAListTable() throws {
        let rows = try Self.cut(#"{"m":[[1,2],[],[3]]}"#)
        #expect(
            rows.map(\.table) == ["events", "events__m", "events__m__list", "events__m__list", "events__m", "events__m", "events__m__list"])
        #expect(rows[1].members.isEmpty, "the in-between row stands for the inner list")
        #expect(rows[2].parentID == rows[1].id && rows[2].index == 0)
        #expect(rows[3].index == 1)
        #expect(rows[6].parentID == rows[5].id && rows[6].index == 0)
        #expect(Self.keys(rows[0]).isEmpty)
    }

    @Test func emptyListsGiveNoRowsAndMixedListsShareATable() throws {
        let rows = try Self.cut(#"{"id":1,"tags":[],"mixed":[1,{"a":"x"},null,["y"]]}"#)
        #expect(Self.keys(rows[0]) == ["id"], "an empty list leaves nothing: no rows, no column")
        #expect(rows.filter { $0.table == "events__mixed" }.map { $0.index ?? -1 } == [0, 1, 2, 3])
        #expect(rows[1].members[0].key == "value")
        #expect(Self.keys(rows[2]) == ["a"])
        #expect(rows[3].members[0].value == .null)
        #expect(rows.last?.table == "events__mixed__list")
    }

    @Test(arguments: [0, 1, 2, NestingRule.unlimited])
    func maxNestingIsABudget(_ n: Int) throws {
        let json = #"{"a":{"b":{"c":1}},"l":[{"x":{"y":1},"g":[{"z":[1]}]}]}"#
        let rows = try Self.cut(json, rule: NestingRule(maxNesting: n))
        let tables = Set(rows.map(\.table))
        switch n {
        case 0:
            #expect(tables == ["events"], "at 0 every nested value stays JSON")
            #expect(Self.keys(rows[0]) == ["a", "l"])
            #expect(NestingRule(maxNesting: 0).flattenDepth(budget: 0) == 1, "and objects are not flattened")
        case 1:
            #expect(tables == ["events", "events__l"])
            #expect(Self.keys(rows[1]) == ["x", "g"], "the grandchild list stays JSON in the child row")
            #expect(NestingRule(maxNesting: 1).flattenDepth(budget: 1) == 2)
        case 2:
            #expect(tables == ["events", "events__l", "events__l__g"])
            #expect(Self.keys(rows[2]) == ["z"], "the third level stays JSON")
        default:
            #expect(tables == ["events", "events__l", "events__l__g", "events__l__g__z"])
        }
    }

    /// As dlt: the row that holds an inner list costs one level of budget more.
    @Test func aListOfListsCostsALevel() throws {
        let json = #"{"m":[[1,2]]}"#
        let two = try Self.cut(json, rule: NestingRule(maxNesting: 2))
        #expect(two.map(\.table) == ["events", "events__m"])
        #expect(two[1].members.first?.key == "list", "the inner list stays JSON in the in-between row")
        let three = try Self.cut(json, rule: NestingRule(maxNesting: 3))
        #expect(three.map(\.table) == ["events", "events__m", "events__m__list", "events__m__list"])
        #expect(three[1].budget == 1 && three[2].budget == 0)
    }

    @Test func keepJSONKeepsAListWhole() throws {
        let rule = NestingRule(keepJSON: ["payload.labels", "items.tags"])
        let rows = try Self.cut(#"{"payload":{"labels":["a"],"more":[1]},"items":[{"tags":["t"],"n":[2]}]}"#, rule: rule)
        #expect(rows[0].members.first?.value == .object([("labels", .array([.string("a")]))]))
        #expect(Set(rows.map(\.table)) == ["events", "events__payload__more", "events__items", "events__items__n"])
        let item = try #require(rows.first { $0.table == "events__items" })
        #expect(Self.keys(item) == ["tags"])
    }

    @Test func longNamesAreShortenedStably() throws {
        let long = String(repeating: "very_long_field_name_", count: 4)
        let rows = try Self.cut(#"{"\#(long)":[{"\#(long)":[1]}]}"#)
        #expect(rows.allSatisfy { $0.table.utf8.count <= Identifier.maxBytes })
        #expect(Set(rows.map(\.table)).count == 3)
        let again = try Self.cut(#"{"\#(long)":[{"\#(long)":[1]}]}"#)
        #expect(again.map(\.table) == rows.map(\.table), "the same names every time")
    }

    @Test func naturalKeys() throws {
        guard case .object(let m) = try JSONParser.parse(#"{"id":7,"repo":{"name":"x"},"tags":[1]}"#) else { return }
        #expect(Unnester.naturalKey(m, paths: ["id", "repo.name"]) == "7\u{0}\"x\"")
        #expect(Unnester.naturalKey(m, paths: ["missing"]) == nil)
        #expect(Unnester.naturalKey(m, paths: ["tags"]) == nil, "a list is no key")
    }
}
