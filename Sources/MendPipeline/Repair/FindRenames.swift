import Foundation
import MendCore
import MendStore

/// What RenameDetector compares: the new fields' values in the incident's parked sample,
/// and the existing columns' values in the table's most recent rows. Both come with the
/// incident's context (RepairContext.swift), read once.
extension Engine {
    /// Parked records and recent rows looked at, at most.
    static let renameParkedSample = 200
    static let renameRecentRows = 500

    /// The new fields a planner may weigh as renames, and the columns to compare them with;
    /// nil when there is nothing to compare (no new field, or no column of a compatible type).
    static func renameCandidates(_ incident: Incident, schema: TableSchema?) -> (
        newFields: [String: (sourceKey: String, type: LogicalType)], columns: [Column]
    )? {
        guard let schema else { return nil }
        var newFields: [String: (sourceKey: String, type: LogicalType)] = [:]
        for d in incident.drifts where d.kind == .unknownField && schema.mappings[d.column] == nil {
            if let t = d.observed, newFields[d.column] == nil { newFields[d.column] = (d.sourceKey, t) }
        }
        if newFields.isEmpty { return nil }
        // Mend's own columns (a child row's links, the overflow object) hold no key of the
        // record: a small number in a new field looks like `_mend_list_idx`, and is no rename.
        let candidates = schema.columns.filter { c in
            newFields[c.name] == nil && !Unnester.linkColumns.contains(c.name) && c.name != Overflow.column
                && newFields.values.contains { RenameDetector.compatible($0.type, c.type) }
        }
        if candidates.isEmpty { return nil }
        return (newFields, Array(candidates.prefix(100)))
    }

    /// The candidate columns with their recent values, profiled: once per unit for all its
    /// incidents that look at the same columns (profiling them per incident was a tenth of a
    /// drifting run's repair work).
    static func profiled(_ candidates: [Column], recent: [[String?]]) -> [RenameDetector.Candidate] {
        candidates.enumerated().map { i, c in
            RenameDetector.Candidate(column: c.name, type: c.type, recent: recent.map { i < $0.count ? $0[i] : nil })
        }
    }

    /// What the detector looks at in an incident's parked sample: each record's members with
    /// where it came from, and the flattener that names their columns. A record with child
    /// tables (D26, parked whole under its root) gives the rows it holds for the incident's
    /// table, cut as its ingest cut them: a key renamed inside a list's elements is looked for
    /// there, and a root's own fields without its lists.
    struct RenameSample {
        var records: [(members: [(key: String, value: JSONValue)], at: String)] = []
        var flattener: Flattener

        init(_ parked: [ParkedRecord], table: String, schema: TableSchema, policy: Policy) {
            flattener = Flattener(keys: schema.keys)
            for r in parked {
                guard case .object(let members)? = try? JSONParser.parse(r.record) else { continue }
                let at = "\(r.source):\(r.line)"
                guard let rule = policy.nesting(table: r.table) else {
                    records.append((members, at))
                    continue
                }
                for row in Engine.rows(members, table: r.table, rule: rule, source: r.source, line: r.line) where row.table == table {
                    if records.isEmpty {
                        flattener = Engine.nestedFlattener(
                            budget: row.budget, rule: rule, overflowDepth: policy.overflowDepth(table: r.table), keys: schema.keys)
                    }
                    records.append((row.members, at))
                }
            }
        }
    }

    /// The pure half: flattens the sample's records and runs the detector per new field.
    static func findings(
        newFields: [String: (sourceKey: String, type: LogicalType)], sample: RenameSample, candidates columns: [RenameDetector.Candidate],
        mappings: [String: String]
    ) -> [String: RenameDetector.Finding] {
        var values: [String: [String]] = [:]
        var records: [String: Int] = [:]
        var first: [String: String] = [:]
        var also: [String: [String: Int]] = [:]
        let names = Set(columns.map(\.column))
        var flattener = sample.flattener
        for (members, at) in sample.records {
            var present: [String: JSONValue] = [:]
            for f in flattener.flatten(members) where f.value != .null {
                present[mappings[f.column] ?? f.column] = f.value
            }
            for (column, _) in newFields {
                guard let v = present[column] else { continue }
                values[column, default: []].append(text(v))
                records[column, default: 0] += 1
                if first[column] == nil { first[column] = at }
                for name in names where present[name] != nil { also[column, default: [:]][name, default: 0] += 1 }
            }
        }
        var out: [String: RenameDetector.Finding] = [:]
        for (column, field) in newFields {
            guard let n = records[column], n > 0 else { continue }
            let new = RenameDetector.NewKey(
                sourceKey: field.sourceKey, column: column, type: field.type, values: values[column] ?? [], records: n,
                firstSeen: first[column] ?? "?", alsoCarrying: also[column] ?? [:])
            out[column] = RenameDetector.detect(new, among: columns.filter { RenameDetector.compatible(field.type, $0.type) })
        }
        return out
    }

    /// A value as text, the way the table's text form shows it: strings bare, numbers as written.
    static func text(_ v: JSONValue) -> String {
        switch v {
        case .string(let s): return s
        case .number(let n): return n.text
        case .bool(let b): return b ? "true" : "false"
        case .null: return ""
        case .array, .object: return v.jsonText
        }
    }
}
