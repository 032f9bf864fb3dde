import Foundation
import MCP
import MendCore
import MendMCP
import MendPipeline
import MendTestSupport
import Testing

/// Every tool declares an output schema, publishes it as a resource, and answers in its
/// shape. The Python end-to-end tests validate with the `jsonschema` package; these check
/// the same in process, with the subset of JSON Schema Mend's schemas use.
@Suite struct OutputSchemaTests {
    @Test func everyToolDeclaresAStrictSnakeCaseOutputSchema() throws {
        #expect(MendTools.definitions.count == 12)
        for tool in MendTools.definitions {
            let schema = try #require(tool.outputSchema?.objectValue, "\(tool.name) declares an outputSchema")
            #expect(schema["type"] == "object", "MCP requires an object at the top: \(tool.name)")
            #expect(schema["$schema"] == "https://json-schema.org/draft/2020-12/schema")
            #expect(schema["$id"] == .string("mend://schemas/tools/\(tool.name)"))
            #expect(schema["additionalProperties"] == false, "\(tool.name) is strict")
            let keys = propertyNames(try #require(tool.outputSchema))
            #expect(!keys.isEmpty)
            let notSnake = keys.filter { $0.range(of: "^[a-z][a-z0-9]*(_[a-z0-9]+)*$", options: .regularExpression) == nil }
            #expect(notSnake.isEmpty, "\(tool.name): keys not in snake_case: \(notSnake)")
        }
    }

    @Test func schemasArePublishedAsResources() async throws {
        let c = try await Connected.make(try await engineWithIncidents([]))
        defer { Task { await c.close() } }
        let listed = try await c.client.listResources().resources
        let tools = try await c.client.listTools().tools
        for tool in tools {
            let uri = "mend://schemas/tools/\(tool.name)"
            #expect(listed.contains { $0.uri == uri && $0.mimeType == "application/schema+json" }, "\(uri) is listed")
            let text = try #require(try await c.client.readResource(uri: uri).first?.text)
            #expect(try JSONDecoder().decode(Value.self, from: Data(text.utf8)) == tool.outputSchema, "\(uri) is the declared schema")
        }
        let error = try #require(try await c.client.readResource(uri: "mend://schemas/tool-error").first?.text)
        #expect(error.contains(#""required" : ["#) && error.contains("\"error\""))
        await #expect(throws: MCPError.self) { try await c.client.readResource(uri: "mend://schemas/tools/drop_table") }
    }

    /// get_table_schema names a table's child tables (nested_lists: tables), in its declared shape.
    @Test func tableSchemaListsChildTables() async throws {
        let engine = try await Backend.sqlite.engine(policy: try PolicyLoader.parse("nested_lists: tables\n"))
        _ = try await engine.ingest(
            path: writeLines([#"{"id":1,"payload":{"commits":[{"sha":"a","files":["x"]}]}}"#]), table: "events")
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let r = try await c.call("get_table_schema", ["table": "events"])
        let schema = try #require(try await c.client.listTools().tools.first { $0.name == "get_table_schema" }?.outputSchema)
        #expect(SchemaSubset.problems(try #require(r.structuredContent), against: schema).isEmpty)
        #expect(
            r.object["children"]
                == .array([
                    .object(["table": "events__payload__commits", "depth": 1, "foreign_key_to": .null]),
                    .object(["table": "events__payload__commits__files", "depth": 2, "foreign_key_to": .null]),
                ]))
    }

    /// One pass over every tool, each result checked against its tool's schema, each
    /// error against the error schema.
    @Test func everyAnswerHasTheShapeItsToolDeclares() async throws {
        let engine = try await engineWithIncidents(coupon + tenAsText)
        let c = try await Connected.make(engine)
        defer { Task { await c.close() } }
        let schemas = Dictionary(uniqueKeysWithValues: try await c.client.listTools().tools.map { ($0.name, $0.outputSchema ?? .null) })
        let errorSchema = try JSONDecoder().decode(
            Value.self, from: Data(try #require(try await c.client.readResource(uri: "mend://schemas/tool-error").first?.text).utf8))
        var answered: Set<String> = []
        func call(_ name: String, _ args: [String: Value] = [:], error: Bool = false) async throws -> [String: Value] {
            let r = try await c.call(name, args)
            #expect((r.isError ?? false) == error, "\(name) \(args): \(r.text)")
            let value = try #require(r.structuredContent, "\(name) returns structuredContent")
            let problems = SchemaSubset.problems(value, against: error ? errorSchema : schemas[name] ?? .null)
            #expect(problems.isEmpty, "\(name) \(args): \(problems)\n\(r.text)")
            if !error { answered.insert(name) }
            return r.object
        }
        let incidents = try await call("list_incidents")["incidents"]?.arrayValue ?? []
        #expect(incidents.count == 2)
        _ = try await call("get_incident", ["incident_id": 1, "samples": 50])
        _ = try await call("get_table_schema", ["table": "events"])
        _ = try await call("sample_records", ["table": "events"])
        _ = try await call("propose_plan", ["incident_id": 1, "plan": couponPlan])
        #expect(try await call("apply_plan", ["incident_id": 1, "plan": couponPlan])["outcome"] == "applied")
        #expect(try await call("apply_plan", ["incident_id": 2])["outcome"] == "pending_approval")
        #expect(try await call("approve_plan", ["incident_id": 2], error: true)["error"]?.stringValue?.contains("needs a person") == true)
        #expect(
            try await call("reject_plan", ["incident_id": 2, "reason": "source fixes it"]) == ["outcome": "rejected", "incident_id": 2])
        #expect(try await call("replay_incident", ["incident_id": 2])["still_parked"] == 2)
        _ = try await call("quarantine_records", ["incident_id": 2, "parked_ids": [999_999], "reason": "x"], error: true)
        #expect(try await call("quarantine_records", ["incident_id": 2, "reason": "not numbers"])["not_found"] == [])
        let audit = try await call("query_audit", ["verify": true, "limit": 5])
        #expect(audit["verification"]?.objectValue?["ok"] == true && audit["verification"]?.objectValue?["first_broken"] == .null)
        _ = try await call("pipeline_stats")
        _ = try await call("get_incident", ["incident_id": 99], error: true)
        _ = try await call("apply_plan", ["incident_id": 1], error: true)
        _ = try await call("no_such_tool", error: true)

        // approve_plan's answer: a second pipeline whose policy lists this client as an approver.
        let listing = try await engineWithIncidents(tenAsText)
        await listing.setPolicy(Policy(mcpApprovers: ["swift-test"]))
        let approver = try await Connected.make(listing)
        defer { Task { await approver.close() } }
        #expect(try await approver.call("apply_plan", ["incident_id": 1]).object["outcome"] == "pending_approval")
        let approved = try await approver.call("approve_plan", ["incident_id": 1, "note": "schema test"])
        #expect(approved.isError != true, "\(approved.text)")
        let value = try #require(approved.structuredContent, "approve_plan returns structuredContent")
        #expect(SchemaSubset.problems(value, against: schemas["approve_plan"] ?? .null).isEmpty, "\(approved.text)")
        #expect(approved.object["outcome"] == "applied")
        answered.insert("approve_plan")

        // A rename plan's evidence is data in get_incident, in the shape the schema declares.
        let renaming = try await engineWithIncidents([], ingestPolicy: .default)
        let lines = (6...45).map { #"{"id": \#($0), "client": "click", "amount": 10}"# }
        _ = try await renaming.ingest(
            path: writeLines((1...40).map { #"{"id": \#($0 + 100), "kind": "click", "amount": 10}"# }), table: "events")
        _ = try await renaming.ingest(path: writeLines(lines), table: "events")
        let third = try await Connected.make(renaming)
        defer { Task { await third.close() } }
        let detail = try await third.call("get_incident", ["incident_id": 1])
        let content = try #require(detail.structuredContent)
        #expect(SchemaSubset.problems(content, against: schemas["get_incident"] ?? .null).isEmpty, "\(detail.text)")
        let plan = detail.object["plans"]?.arrayValue?.last?.objectValue?["plan"]?.objectValue
        let evidence = plan?["evidence"]?.arrayValue?.first?.objectValue
        #expect(evidence?["old_column"] == "kind" && evidence?["new_key"] == "client", "\(detail.text)")
        #expect(answered == Set(schemas.keys), "not answered: \(Set(schemas.keys).subtracting(answered))")

        // The check can fail: a missing key, an unknown key and a value off the enum.
        let listed = try await c.call("list_incidents").structuredContent ?? .null
        let schema = schemas["list_incidents"] ?? .null
        #expect(SchemaSubset.problems(listed, against: schema).isEmpty)
        guard case .object(var top) = listed, case .array(var items) = top["incidents"], case .object(var first) = items.first
        else { Issue.record("no incidents to alter"); return }
        first["openedAt"] = first.removeValue(forKey: "opened_at")
        items[0] = .object(first)
        top["incidents"] = .array(items)
        let problems = SchemaSubset.problems(.object(top), against: schema)
        #expect(problems.contains { $0.contains("opened_at") } && problems.contains { $0.contains("openedAt") }, "\(problems)")
        #expect(!SchemaSubset.problems(.object(["incidents": [], "count": "two"]), against: schema).isEmpty)
    }
}

/// Every property name a schema lists, at any depth.
func propertyNames(_ schema: Value) -> [String] {
    guard case .object(let o) = schema else { return [] }
    var out: [String] = []
    if case .object(let props) = o["properties"] {
        for (k, v) in props {
            out.append(k)
            out += propertyNames(v)
        }
    }
    for key in ["items", "additionalProperties", "not"] { out += o[key].map(propertyNames) ?? [] }
    for key in ["oneOf", "anyOf", "allOf"] { out += (o[key]?.arrayValue ?? []).flatMap(propertyNames) }
    return out
}

/// The JSON Schema keywords Mend's output schemas use: type, properties, required,
/// additionalProperties, items, enum, const, oneOf, anyOf, not. Not a general validator:
/// the Python tests run the real one.
enum SchemaSubset {
    static func problems(_ v: Value, against schema: Value, at path: String = "$") -> [String] {
        guard case .object(let s) = schema else { return schema == false ? ["\(path): not allowed"] : [] }
        var out: [String] = []
        if let t = s["type"] {
            let types = t.arrayValue?.compactMap(\.stringValue) ?? [t.stringValue ?? ""]
            if !types.contains(where: { matches(v, $0) }) { out.append("\(path): expected \(types), got \(v)") }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(v) { out.append("\(path): \(v) is not one of \(options)") }
        if let c = s["const"], c != v { out.append("\(path): expected \(c)") }
        if case .object(let o) = v {
            let props = s["properties"]?.objectValue ?? [:]
            for r in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[r] == nil {
                out.append("\(path): required key \(r) is missing")
            }
            for (k, value) in o {
                if let p = props[k] {
                    out += problems(value, against: p, at: "\(path).\(k)")
                } else if let extra = s["additionalProperties"] {
                    out += extra == false ? ["\(path): key \(k) is not in the schema"] : problems(value, against: extra, at: "\(path).\(k)")
                }
            }
        }
        if case .array(let items) = v, let each = s["items"] {
            for (i, item) in items.enumerated() { out += problems(item, against: each, at: "\(path)[\(i)]") }
        }
        if let options = s["oneOf"]?.arrayValue, options.filter({ problems(v, against: $0, at: path).isEmpty }).count != 1 {
            out.append("\(path): matches not exactly one of oneOf")
        }
        if let options = s["anyOf"]?.arrayValue, !options.contains(where: { problems(v, against: $0, at: path).isEmpty }) {
            out.append("\(path): matches none of anyOf")
        }
        if let not = s["not"], problems(v, against: not, at: path).isEmpty { out.append("\(path): matches what `not` forbids") }
        return out
    }

    static func matches(_ v: Value, _ type: String) -> Bool {
        switch (type, v) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("null", .null), ("integer", .int),
            ("number", .int), ("number", .double):
            true
        case ("integer", .double(let d)): d.rounded() == d
        default: false
        }
    }
}
