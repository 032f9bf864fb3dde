import Foundation

/// The kinds of change a plan can ask for. Each has its own autonomy in the policy.
public enum OperationKind: String, Codable, Sendable, CaseIterable {
    case createTable = "create_table"
    case addColumn = "add_column"
    case widenColumn = "widen_column"
    case addVariantColumn = "add_variant_column"
    case mapField = "map_field"
    case convertValue = "convert_value"
    /// A field that loaded into the overflow column gets its own column: add it, then move
    /// the values out of `_mend_overflow` (`source` is the field's key path there).
    case promoteField = "promote_field"
    case quarantine
}

/// One typed operation. A flat struct (rather than an enum with payloads) so that an
/// agent can write it as plain JSON against a published schema; `validate` says
/// what is missing.
public struct PlanOperation: Codable, Sendable, Equatable {
    public var kind: OperationKind
    /// The column the operation creates or changes (for map_field: the target column).
    public var column: String?
    /// New type (add_column, add_variant_column, widen_column's target).
    public var type: LogicalType?
    /// Current type (widen_column).
    public var from: LogicalType?
    /// map_field: the incoming (normalized) field name that should land in `column`;
    /// promote_field: the field's key path in the overflow column (`payload.id`).
    public var source: String?
    /// add_variant_column: the column whose conflicting values go to the variant.
    public var of: String?
    public var conversion: ValueConversion?
    /// create_table: the columns.
    public var columns: [Column]?
    /// create_table under `foreign_keys: true` on PostgreSQL: the table's keys (D29). Set by
    /// Mend only; the plan format an agent writes has no such field.
    public var keys: TableKeys?

    public init(
        kind: OperationKind, column: String? = nil, type: LogicalType? = nil, from: LogicalType? = nil,
        source: String? = nil, of: String? = nil, conversion: ValueConversion? = nil, columns: [Column]? = nil,
        keys: TableKeys? = nil
    ) {
        self.keys = keys
        self.kind = kind
        self.column = column
        self.type = type
        self.from = from
        self.source = source
        self.of = of
        self.conversion = conversion
        self.columns = columns
    }

    public static func addColumn(_ c: String, _ t: LogicalType) -> Self { .init(kind: .addColumn, column: c, type: t) }
    public static func widen(_ c: String, from: LogicalType, to: LogicalType) -> Self {
        .init(kind: .widenColumn, column: c, type: to, from: from)
    }

    /// Why this operation cannot be carried out as written, or nil when it is complete.
    public func problem() -> String? {
        func name(_ c: String?, _ what: String) -> String? {
            guard let c else { return "\(kind.rawValue) needs '\(what)'" }
            if !Identifier.isWellFormed(c) {
                return "'\(c)' is not a column name Mend writes (lowercase snake_case, at most 63 bytes)"
            }
            return nil
        }
        switch kind {
        case .createTable:
            guard let cols = columns, !cols.isEmpty else { return "create_table needs 'columns'" }
            return cols.lazy.compactMap { name($0.name, "columns[].name") }.first
        case .addColumn:
            return name(column, "column") ?? (type == nil ? "add_column needs 'type'" : nil)
        case .widenColumn:
            if let p = name(column, "column") { return p }
            guard let from, let type else { return "widen_column needs 'from' and 'type'" }
            return from.widens(to: type) ? nil : "\(from.rawValue) → \(type.rawValue) is not a widening: some values would change"
        case .addVariantColumn:
            return name(column, "column") ?? name(of, "of") ?? (type == nil ? "add_variant_column needs 'type'" : nil)
        case .mapField:
            return name(column, "column") ?? name(source, "source")
        case .convertValue:
            return name(column, "column") ?? (conversion == nil ? "convert_value needs 'conversion'" : nil)
        case .promoteField:
            if let p = name(column, "column") { return p }
            if column == Overflow.column { return "promote_field cannot target the overflow column itself" }
            guard let source, !source.isEmpty else { return "promote_field needs 'source', the field's key in \(Overflow.column)" }
            return type == nil ? "promote_field needs 'type'" : nil
        case .quarantine:
            return nil
        }
    }

    public var summary: String {
        switch kind {
        case .createTable:
            "create table with \(columns?.count ?? 0) columns"
                + (keys.map { k in
                    ", \(Unnester.idColumn) unique"
                        + (k.parent.map { ", \(Unnester.parentColumn) references \($0).\(Unnester.idColumn)" } ?? "")
                } ?? "")
        case .addColumn: "add nullable column \(column ?? "?") \(type?.rawValue ?? "?")"
        case .widenColumn: "widen \(column ?? "?") from \(from?.rawValue ?? "?") to \(type?.rawValue ?? "?")"
        case .addVariantColumn: "add variant column \(column ?? "?") \(type?.rawValue ?? "?") for conflicting values of \(of ?? "?")"
        case .mapField: "map incoming field \(source ?? "?") onto column \(column ?? "?")"
        case .convertValue: "convert values of \(column ?? "?") with \(conversion?.name ?? "?")"
        case .promoteField:
            "promote \(source ?? "?") out of \(Overflow.column) into a nullable column \(column ?? "?") \(type?.rawValue ?? "?")"
        case .quarantine: "quarantine the incident's records"
        }
    }
}

public enum PlanStatus: String, Codable, Sendable {
    case proposed, pendingApproval = "pending_approval", approved, applied, rejected, refused, failed
}

/// A typed repair proposal. It never carries SQL: only Mend's compiler writes SQL.
public struct Plan: Codable, Sendable, Equatable {
    public var id: Int64
    public var incidentID: Int64
    public var table: String
    public var operations: [PlanOperation]
    public var rationale: String
    public var confidence: Double
    /// "rules", "llm:<model>", "mcp:<client>".
    public var plannedBy: String
    public var status: PlanStatus
    /// Why a `map_field` is a rename, as data (RenameDetector); nil for other plans.
    public var evidence: [RenameEvidence]?

    public init(
        id: Int64 = 0, incidentID: Int64, table: String, operations: [PlanOperation], rationale: String,
        confidence: Double, plannedBy: String, status: PlanStatus = .proposed, evidence: [RenameEvidence]? = nil
    ) {
        self.id = id
        self.incidentID = incidentID
        self.table = table
        self.operations = operations
        self.rationale = rationale
        self.confidence = confidence
        self.plannedBy = plannedBy
        self.status = status
        self.evidence = evidence
    }

    public func problem() -> String? {
        if operations.isEmpty { return "the plan has no operations" }
        if !(0...1).contains(confidence) { return "confidence must be between 0 and 1" }
        for (i, op) in operations.enumerated() {
            if let p = op.problem() { return "operation \(i + 1): \(p)" }
        }
        return nil
    }
}
