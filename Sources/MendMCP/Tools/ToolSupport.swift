import Foundation
import MCP
import MendCore
import MendPipeline
import MendPlanFormat
import MendStore

// Helpers every tool shares: reading arguments, writing schemas, encoding domain values.

/// A tool call's arguments, read with messages that tell the agent what to send instead.
struct ToolArguments: Sendable {
    var values: [String: Value]

    init(_ values: [String: Value]) { self.values = values }

    subscript(key: String) -> Value? { values[key] }

    func incidentID() throws -> Int64 {
        guard let id = values.int("incident_id"), id > 0 else {
            throw ToolError.invalidArgument("incident_id: required, a positive integer; list_incidents shows the ids")
        }
        return Int64(id)
    }

    /// A non-blank string, or nil; `required` says why it is needed when it must be there.
    func string(_ key: String, required: String? = nil) throws -> String? {
        switch values[key] {
        case .string(let s) where !s.trimmingCharacters(in: .whitespaces).isEmpty: return s
        case nil, .null, .string:
            if let why = required { throw ToolError.invalidArgument("\(key): required, \(why)") }
            return nil
        case let v?: throw ToolError.invalidArgument("\(key): expected a string, got \(PlanFormat.jsonKind(v))")
        }
    }

    func bounded(_ key: String, default d: Int, in range: ClosedRange<Int>) throws -> Int {
        guard values[key] != nil, values[key] != .null else { return d }
        guard let n = values.int(key), range.contains(n) else {
            throw ToolError.invalidArgument("\(key): expected an integer from \(range.lowerBound) to \(range.upperBound)")
        }
        return n
    }

    /// The optional `plan` argument in the shared wire format; null is the same as absent.
    func plan(plannedBy: String) throws -> Plan? {
        try values["plan"].flatMap { $0 == .null ? nil : try PlanFormat.decode($0, plannedBy: plannedBy) }
    }
}

/// Pieces of input schemas and annotations.
enum ToolSchema {
    static let incidentID: Value = .object([
        "type": "integer", "minimum": 1, "description": "Incident id, as list_incidents shows it.",
    ])

    static func object(_ properties: [String: Value], required: [String] = []) -> Value {
        .object([
            "type": "object", "properties": .object(properties), "required": .array(required.map(Value.string)),
            "additionalProperties": false,
        ])
    }

    /// Annotations are hints for clients deciding when to ask the user; they say what
    /// each tool changes. Every call is audited, which is bookkeeping, not a change.
    static func readOnly(_ title: String) -> Tool.Annotations {
        .init(title: title, readOnlyHint: true, destructiveHint: false, idempotentHint: true, openWorldHint: false)
    }

    static func writes(_ title: String, destructive: Bool, idempotent: Bool) -> Tool.Annotations {
        .init(title: title, readOnlyHint: false, destructiveHint: destructive, idempotentHint: idempotent, openWorldHint: false)
    }
}

/// Domain values as tools and resources answer them (snake_case keys).
enum ToolValue {
    /// The incident's one view (`IncidentView`), as MCP's structured content.
    static func incident(_ i: Incident) -> Value { encoded(IncidentView(i)) }

    /// A view type as an MCP value, through its own Encodable conformance.
    static func encoded<T: Encodable>(_ view: T) -> Value {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        return (try? e.encode(view)).flatMap { try? JSONDecoder().decode(Value.self, from: $0) } ?? .null
    }

    static func drift(_ d: Drift) -> Value {
        .object([
            "kind": .string(d.kind.rawValue), "column": .string(d.column), "source_key": .string(d.sourceKey),
            "observed": d.observed.map { .string($0.rawValue) } ?? .null,
            "expected": d.expected.map { .string($0.rawValue) } ?? .null, "reason": .string(d.reason),
        ])
    }

    static func storedPlan(_ p: StoredPlan) -> Value { encoded(PlanView(p)) }

    /// The schema as tools and the schema resource show it.
    static func schema(
        table: String, _ s: (TableSchema, [String: [String]], [StateStore.SchemaVersion]), children: [ChildTable] = []
    ) -> Value {
        let (schema, keys, history) = s
        return .object([
            "table": .string(table), "version": .int(Int(history.last?.version ?? 1)),
            "columns": .array(
                schema.columns.map { c in
                    .object([
                        "name": .string(c.name), "type": c.type.map { .string($0.rawValue) } ?? .null,
                        "declared_type": .string(c.declaredType), "nullable": .bool(c.nullable),
                        "source_keys": .array((keys[c.name] ?? []).map(Value.string)),
                        "source_paths": .array((keys[c.name] ?? []).map { .array(KeyPath.segments($0).map(Value.string)) }),
                    ])
                }),
            "mappings": .object(schema.mappings.mapValues(Value.string)),
            "conversions": .object(schema.conversions.mapValues { .string($0.name) }),
            "history": .array(
                history.map {
                    .object([
                        "version": .int(Int($0.version)), "plan_id": $0.planID.map { .int(Int($0)) } ?? .null, "ddl": .string($0.ddl),
                    ])
                }),
            "children": .array(
                children.map {
                    .object([
                        "table": .string($0.table), "depth": .int($0.depth), "foreign_key_to": $0.foreignKeyTo.map(Value.string) ?? .null,
                    ])
                }),
        ])
    }
}
