import Foundation
import MendCore
import MendStore

/// Reads what RenameDetector compares: the new fields' values in the incident's parked
/// records, and the existing columns' values in the table's most recent rows. Two reads per
/// incident with a new field, none otherwise.
extension Engine {
    /// Parked records and recent rows looked at, at most.
    static let renameParkedSample = 200
    static let renameRecentRows = 500

    /// Per new field's column, what the detector found. A table the loader cannot read
    /// back (a role with INSERT only) gets no findings: every new field stays a new column.
    func findRenames(_ incident: Incident, schema: TableSchema?) async -> [String: RenameDetector.Finding] {
        guard let schema else { return [:] }
        var newFields: [String: (sourceKey: String, type: LogicalType)] = [:]
        for d in incident.drifts where d.kind == .unknownField && schema.mappings[d.column] == nil {
            if let t = d.observed, newFields[d.column] == nil { newFields[d.column] = (d.sourceKey, t) }
        }
        if newFields.isEmpty { return [:] }
        let candidates = schema.columns.filter { c in
            newFields[c.name] == nil && newFields.values.contains { RenameDetector.compatible($0.type, c.type) }
        }
        if candidates.isEmpty { return [:] }
        let chosen = Array(candidates.prefix(100))
        do {
            let parked = try await state.transaction { tx in
                try await tx.parkedRecords(incidentID: incident.id, limit: Self.renameParkedSample)
            }
            let recent = try await recentValues(table: incident.table, columns: chosen.map { $0.name })
            return Self.findings(
                newFields: newFields, parked: parked, candidates: chosen, recent: recent, mappings: schema.mappings, keys: schema.keys)
        } catch {
            return [:]
        }
    }

    /// The pure half: parses the parked records and runs the detector per new field.
    static func findings(
        newFields: [String: (sourceKey: String, type: LogicalType)], parked: [ParkedRecord], candidates: [Column],
        recent: [[String?]], mappings: [String: String], keys: KeyMap = KeyMap()
    ) -> [String: RenameDetector.Finding] {
        var values: [String: [String]] = [:]
        var records: [String: Int] = [:]
        var first: [String: String] = [:]
        var also: [String: [String: Int]] = [:]
        let names = Set(candidates.map(\.name))
        var flattener = Flattener(keys: keys)
        for r in parked {
            guard case .object(let members)? = try? JSONParser.parse(r.record) else { continue }
            var present: [String: JSONValue] = [:]
            for f in flattener.flatten(members) where f.value != .null {
                present[mappings[f.column] ?? f.column] = f.value
            }
            for (column, _) in newFields {
                guard let v = present[column] else { continue }
                values[column, default: []].append(text(v))
                records[column, default: 0] += 1
                if first[column] == nil { first[column] = "\(r.source):\(r.line)" }
                for name in names where present[name] != nil { also[column, default: [:]][name, default: 0] += 1 }
            }
        }
        let columns = candidates.enumerated().map { i, c in
            RenameDetector.Candidate(column: c.name, type: c.type, recent: recent.map { i < $0.count ? $0[i] : nil })
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

    /// The newest rows' values of `columns`, newest first, as text. SQLite reads by rowid;
    /// PostgreSQL reads the table's last pages by ctid (a TID range scan, not a sort of the
    /// whole table): rows loaded by COPY and INSERT sit in the order they came.
    func recentValues(table: String, columns: [String]) async throws -> [[String?]] {
        let w = warehouse
        let qualified = Identifier.qualified(w.targetSchema, table)
        let limit = Int64(Self.renameRecentRows)
        return try await state.transaction { tx in
            let rows: [[SQLValue]]
            if w.dialect == .sqlite {
                let list = columns.map(Identifier.quote).joined(separator: ", ")
                rows = try await tx.session.query("SELECT \(list) FROM \(qualified) ORDER BY rowid DESC LIMIT ?", [.int(limit)])
            } else {
                let list = columns.map { "CAST(\(Identifier.quote($0)) AS TEXT)" }.joined(separator: ", ")
                rows = try await tx.session.query(
                    "SELECT \(list) FROM \(qualified) WHERE ctid >= CAST(format('(%s,0)', GREATEST(pg_relation_size(CAST(? AS regclass)) "
                        + "/ current_setting('block_size')::bigint - 64, 0)) AS tid) ORDER BY ctid DESC LIMIT ?",
                    [.text(qualified), .int(limit)])
            }
            return rows.map { $0.map(\.textForm) }
        }
    }
}
