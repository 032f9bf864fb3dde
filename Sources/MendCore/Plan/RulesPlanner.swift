/// The deterministic planner: additive, conservative, no network.
///
/// - a new field becomes a nullable column of its inferred type, unless the evidence
///   says it is an old key renamed: then it maps onto the old column (RenameDetector);
/// - a number that outgrows its numeric column asks for a widening to `numeric`;
/// - any other type conflict asks for a variant column (`col__v_<type>`, as dlt names it),
///   so nothing already loaded changes meaning;
/// - a field that loaded into the overflow column may be promoted to a column of its own;
/// - what no column can fix (missing required values, nameless keys, oversized
///   values) asks for quarantine.
public struct RulesPlanner: Planner {
    public let name = "rules"
    public init() {}

    public func plan(incident: Incident, schema: TableSchema?) async throws -> Plan {
        planSync(incident: incident, schema: schema)
    }

    public var readsRenameEvidence: Bool { true }
    public var isPure: Bool { true }

    public func plan(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding]) async throws -> Plan {
        planSync(incident: incident, schema: schema, renames: renames)
    }

    /// `renames`: per new field's column, what RenameDetector found (the engine reads the
    /// samples; without them every new field is a new column).
    public func planSync(incident: Incident, schema: TableSchema?, renames: [String: RenameDetector.Finding] = [:]) -> Plan {
        var ops: [PlanOperation] = []
        var evidence: [RenameEvidence] = []
        var mappedOnto = Set<String>()
        var mappedFields = Set<String>()
        var notes: [String] = []
        var quarantine = false
        var seen = Set<String>()
        // Positions by column, so each drift costs one lookup: a record with 100,000 new
        // keys must not make the plan quadratic.
        var addAt: [String: Int] = [:]
        var columns = Set<String>()
        var widened = Set<String>()
        for d in incident.drifts where seen.insert(d.signature).inserted {
            switch d.kind {
            case .unknownField:
                // A column another worker added meanwhile still gets its operation: apply
                // skips what the catalog already has, and the replay then loads the records.
                guard let t = d.observed else { continue }
                let finding = renames[d.column]
                if mappedFields.contains(d.column) { continue }  // one mapping per field, whatever its types
                if let e = finding?.evidence, addAt[d.column] == nil, mappedOnto.insert(e.oldColumn).inserted {
                    evidence.append(e)
                    mappedFields.insert(d.column)
                    ops.append(PlanOperation(kind: .mapField, column: e.oldColumn, source: d.column))
                    notes.append(e.summary + ": map \(d.sourceKey) onto \(e.oldColumn), which keeps its name and data")
                    continue
                }
                if let miss = finding?.nearMiss { notes.append("not a rename: \(miss)") }
                if let i = addAt[d.column] {
                    ops[i].type = ops[i].type.map { $0.join(t) } ?? t
                } else {
                    addAt[d.column] = ops.count
                    columns.insert(d.column)
                    ops.append(.addColumn(d.column, t))
                }
                notes.append("\(d.sourceKey) is new (\(t.rawValue)): add it as a nullable column")
            case .typeMismatch:
                guard let expected = d.expected, let observed = d.observed else {
                    quarantine = true
                    notes.append("\(d.column): \(d.reason)")
                    continue
                }
                let numeric: Set<LogicalType> = [.bigint, .double, .numeric]
                if numeric.contains(expected), numeric.contains(observed) {
                    let target: LogicalType = .numeric
                    if widened.insert(d.column).inserted {
                        columns.insert(d.column)
                        ops.append(.widen(d.column, from: expected, to: target))
                    }
                    notes.append(
                        "\(d.column) holds \(expected.rawValue) but \(observed.rawValue) arrived: widen to numeric, which holds both exactly"
                    )
                } else {
                    let variant = Identifier.shorten("\(d.column)__v_\(observed.rawValue)")
                    if columns.insert(variant).inserted {
                        ops.append(PlanOperation(kind: .addVariantColumn, column: variant, type: observed, of: d.column))
                    }
                    notes.append(
                        "\(d.column) is \(expected.rawValue) but \(observed.rawValue) arrived and cannot be coerced without loss: keep such values in \(variant)"
                    )
                }
            case .overflow:
                // Loaded already, into the overflow column: a column of its own is a person's call.
                guard let t = d.observed, d.column != Overflow.column, columns.insert(d.column).inserted else { continue }
                ops.append(PlanOperation(kind: .promoteField, column: d.column, type: t, source: d.sourceKey))
                notes.append("\(d.sourceKey) loaded into \(Overflow.column) (\(t.rawValue)): promote it to its own column")
            case .missingRequired, .invalidIdentifier, .valueTooLarge, .unparseable, .recordTooLarge:
                quarantine = true
                notes.append("\(d.kind.rawValue) on \(d.column): no schema change fixes it")
            }
        }
        if quarantine || ops.isEmpty {
            return Plan(
                incidentID: incident.id, table: incident.table, operations: [PlanOperation(kind: .quarantine)],
                rationale: (notes + ["quarantine the records with their reasons; nothing is dropped"]).joined(separator: "; "),
                confidence: 0.9, plannedBy: name)
        }
        // A rename is a judgement from samples: its confidence is its score, never above 0.9.
        let confidence = evidence.isEmpty ? 0.95 : min(0.9, evidence.map(\.score).min() ?? 0.9)
        return Plan(
            incidentID: incident.id, table: incident.table, operations: ops, rationale: notes.joined(separator: "; "),
            confidence: confidence, plannedBy: name, evidence: evidence.isEmpty ? nil : evidence)
    }
}
