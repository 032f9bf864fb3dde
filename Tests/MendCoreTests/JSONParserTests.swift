import MendCore
import Testing

@Suite struct JSONParserTests {
    @Test func keepsBooleansApartFromNumbers() throws {
        let v = try JSONParser.parse(#"{"a": true, "b": 1, "c": 1.50, "d": "x"}"#)
        #expect(v["a"] == .bool(true))
        #expect(v["b"]?.inferredType == .bigint)
        guard case .number(let n)? = v["c"] else { Issue.record("c is not a number"); return }
        #expect(n.text == "1.50")
    }

    @Test func reportsWhereItStopped() {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(#"{"id": 22, "user_id": "#) }
    }
}
