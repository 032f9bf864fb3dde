/// dlt-style schema contract: what a kind of change may do to a table.
public enum Contract: String, Codable, Sendable, CaseIterable {
    /// Let the schema change (subject to autonomy).
    case evolve
    /// Never change: records that need the change stay parked, the plan is refused.
    case freeze
    /// Records that need the change are quarantined with the reason (kept, not loaded).
    case discardRow = "discard_row"
    /// The offending values are dropped and the rest of the record loads.
    case discardValue = "discard_value"
}

/// How much a change may happen without a person.
public enum Autonomy: String, Codable, Sendable, CaseIterable, Comparable {
    case auto, approve, deny
    private var rank: Int { self == .auto ? 0 : self == .approve ? 1 : 2 }
    public static func < (a: Autonomy, b: Autonomy) -> Bool { a.rank < b.rank }
}

public struct Contracts: Codable, Sendable, Equatable {
    public var tables: Contract?
    public var columns: Contract?
    public var dataType: Contract?

    enum CodingKeys: String, CodingKey {
        case tables, columns
        case dataType = "data_type"
    }

    public init(tables: Contract? = nil, columns: Contract? = nil, dataType: Contract? = nil) {
        self.tables = tables
        self.columns = columns
        self.dataType = dataType
    }
}

/// Overrides for one table: its contracts, autonomy, and per-column contracts.
public struct TablePolicy: Codable, Sendable, Equatable {
    public var contracts: Contracts?
    public var autonomy: [String: Autonomy]?
    /// column name → contract for changes to that column's type.
    public var columns: [String: Contract]?
    public var maxAutoRisk: Risk?
    /// This table's column budget (`max_columns`), over the policy's `max_table_columns`.
    public var maxColumns: Int?
    /// This table's overflow depth, over the policy's `overflow_depth`.
    public var overflowDepth: Int?

    enum CodingKeys: String, CodingKey {
        case contracts, autonomy, columns
        case maxAutoRisk = "max_auto_risk"
        case maxColumns = "max_columns"
        case overflowDepth = "overflow_depth"
    }

    public init(
        contracts: Contracts? = nil, autonomy: [String: Autonomy]? = nil, columns: [String: Contract]? = nil,
        maxAutoRisk: Risk? = nil, maxColumns: Int? = nil, overflowDepth: Int? = nil
    ) {
        self.contracts = contracts
        self.autonomy = autonomy
        self.columns = columns
        self.maxAutoRisk = maxAutoRisk
        self.maxColumns = maxColumns
        self.overflowDepth = overflowDepth
    }
}

/// What each kind of change may do, and how much autonomy it has.
///
/// The default matches the scenarios: new tables and nullable new columns apply on
/// their own; type changes, mappings and conversions wait for a person; anything the
/// guard calls forbidden is refused whatever the policy says.
public struct Policy: Codable, Sendable, Equatable {
    public var contracts: Contracts
    public var autonomy: [String: Autonomy]
    /// Above this guard risk an "auto" change waits for approval instead.
    public var maxAutoRisk: Risk
    public var tables: [String: TablePolicy]
    /// Largest string value loaded, in bytes; larger ones are parked as value_too_large.
    public var maxValueBytes: Int
    /// Most fields one record may have; larger records are parked as record_too_large.
    public var maxRecordFields: Int
    /// Most new columns one plan may add on its own; a plan that adds more waits for a person.
    public var maxAutoNewColumns: Int
    /// MCP clients whose approval counts as an approval (elicitation or `approve_plan`).
    /// Empty by default: an agent's answer is recorded as its own, never as a person's.
    public var mcpApprovers: Set<String>
    /// Most columns a table may have, the overflow column included (`max_table_columns`);
    /// fields past it load into `_mend_overflow` (ColumnBudget.swift).
    public var maxTableColumns: Int
    /// Nested objects deeper than this many levels load into `_mend_overflow` under their key
    /// path (`overflow_depth`); nil keeps them whole in a json column at depth 4.
    public var overflowDepth: Int?

    public static let defaultMaxAutoNewColumns = 50
    /// The largest budget Mend accepts: under PostgreSQL's hard limit of 1,600 columns.
    public static let maxTableColumnsCeiling = 1_500

    enum CodingKeys: String, CodingKey {
        case contracts, autonomy, tables
        case maxAutoRisk = "max_auto_risk"
        case maxValueBytes = "max_value_bytes"
        case maxRecordFields = "max_record_fields"
        case maxAutoNewColumns = "max_auto_new_columns"
        case mcpApprovers = "mcp_approvers"
        case maxTableColumns = "max_table_columns"
        case overflowDepth = "overflow_depth"
    }

    /// The limits validation applies to the records of `table`.
    public func recordLimits(table: String) -> RecordLimits {
        RecordLimits(maxValueBytes: maxValueBytes, maxFields: maxRecordFields, maxColumns: maxColumns(table: table))
    }

    public func maxColumns(table: String) -> Int { tables[table]?.maxColumns ?? maxTableColumns }
    public func overflowDepth(table: String) -> Int? { tables[table]?.overflowDepth ?? overflowDepth }

    public static let defaultAutonomy: [OperationKind: Autonomy] = [
        .createTable: .auto, .addColumn: .auto, .widenColumn: .approve, .addVariantColumn: .approve,
        .mapField: .approve, .convertValue: .approve, .promoteField: .approve, .quarantine: .approve,
    ]

    public static let `default` = Policy()

    public init(
        contracts: Contracts = Contracts(tables: .evolve, columns: .evolve, dataType: .evolve),
        autonomy: [String: Autonomy] = [:], maxAutoRisk: Risk = .low, tables: [String: TablePolicy] = [:],
        maxValueBytes: Int = RecordLimits.defaultMaxValueBytes, maxRecordFields: Int = RecordLimits.defaultMaxFields,
        maxAutoNewColumns: Int = Policy.defaultMaxAutoNewColumns, mcpApprovers: Set<String> = [],
        maxTableColumns: Int = RecordLimits.defaultMaxColumns, overflowDepth: Int? = nil
    ) {
        self.maxTableColumns = maxTableColumns
        self.overflowDepth = overflowDepth
        self.contracts = contracts
        self.autonomy = autonomy
        self.maxAutoRisk = maxAutoRisk
        self.tables = tables
        self.maxValueBytes = maxValueBytes
        self.maxRecordFields = maxRecordFields
        self.maxAutoNewColumns = maxAutoNewColumns
        self.mcpApprovers = mcpApprovers
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        contracts = try c.decodeIfPresent(Contracts.self, forKey: .contracts) ?? Contracts()
        autonomy = try c.decodeIfPresent([String: Autonomy].self, forKey: .autonomy) ?? [:]
        maxAutoRisk = try c.decodeIfPresent(Risk.self, forKey: .maxAutoRisk) ?? .low
        tables = try c.decodeIfPresent([String: TablePolicy].self, forKey: .tables) ?? [:]
        maxValueBytes = try c.decodeIfPresent(Int.self, forKey: .maxValueBytes) ?? RecordLimits.defaultMaxValueBytes
        maxRecordFields = try c.decodeIfPresent(Int.self, forKey: .maxRecordFields) ?? RecordLimits.defaultMaxFields
        maxAutoNewColumns = try c.decodeIfPresent(Int.self, forKey: .maxAutoNewColumns) ?? Policy.defaultMaxAutoNewColumns
        mcpApprovers = try c.decodeIfPresent(Set<String>.self, forKey: .mcpApprovers) ?? []
        maxTableColumns = try c.decodeIfPresent(Int.self, forKey: .maxTableColumns) ?? RecordLimits.defaultMaxColumns
        overflowDepth = try c.decodeIfPresent(Int.self, forKey: .overflowDepth)
        for (key, value) in [("max_table_columns", maxTableColumns)]
            + tables.compactMap({ t in t.value.maxColumns.map { ("tables.\(t.key).max_columns", $0) } })
        where !(2...Policy.maxTableColumnsCeiling).contains(value) {
            throw PolicyError.badLimit(
                key, "\(value) is outside 2…\(Policy.maxTableColumnsCeiling) (PostgreSQL allows 1,600 columns per table)")
        }
        for (key, value) in [("overflow_depth", overflowDepth)]
            + tables.map({ t in ("tables.\(t.key).overflow_depth", t.value.overflowDepth) })
        where (value ?? 1) < 1 {
            throw PolicyError.badLimit(key, "\(value ?? 0) must be 1 or more (the number of nesting levels flattened into columns)")
        }
        if let bad = (autonomy.keys + tables.values.flatMap { ($0.autonomy ?? [:]).keys })
            .first(where: { OperationKind(rawValue: $0) == nil })
        {
            throw PolicyError.unknownChangeKind(bad)
        }
    }

    /// The contract that governs a change of `kind` to `column` of `table`.
    public func contract(for kind: OperationKind, table: String, column: String?) -> Contract {
        let t = tables[table]
        switch kind {
        case .createTable:
            return t?.contracts?.tables ?? contracts.tables ?? .evolve
        case .addColumn, .addVariantColumn, .mapField, .promoteField:
            return t?.contracts?.columns ?? contracts.columns ?? .evolve
        case .widenColumn, .convertValue:
            if let column, let c = t?.columns?[column] { return c }
            return t?.contracts?.dataType ?? contracts.dataType ?? .evolve
        case .quarantine:
            return .evolve
        }
    }

    public func autonomy(for kind: OperationKind, table: String) -> Autonomy {
        tables[table]?.autonomy?[kind.rawValue] ?? autonomy[kind.rawValue] ?? Policy.defaultAutonomy[kind] ?? .approve
    }

    public func maxAutoRisk(table: String) -> Risk { tables[table]?.maxAutoRisk ?? maxAutoRisk }

    /// Decides a plan given the guard's risk for each operation (nil for operations
    /// that compile to no SQL, such as map_field).
    public func decide(_ plan: Plan, risks: [Risk?]) -> PolicyDecision {
        var outcome = Autonomy.auto
        var reasons: [String] = []
        for (i, op) in plan.operations.enumerated() {
            let risk = i < risks.count ? risks[i] : nil
            let contract = contract(for: op.kind, table: plan.table, column: op.column ?? op.of)
            var a = autonomy(for: op.kind, table: plan.table)
            var why = "\(op.kind.rawValue) is \(a.rawValue) by policy"
            if contract == .freeze {
                a = .deny
                why = "\(op.kind.rawValue) on \(plan.table): contract is freeze"
            }
            if risk == .forbidden {
                a = .deny
                why = "the guard forbids \(op.summary)"
            } else if let risk, a == .auto, risk > maxAutoRisk(table: plan.table) {
                a = .approve
                why = "\(op.summary) is \(risk.rawValue) risk, above the auto limit (\(maxAutoRisk(table: plan.table).rawValue))"
            }
            reasons.append(why)
            outcome = max(outcome, a)
        }
        let added = plan.operations.filter { [.addColumn, .addVariantColumn, .promoteField].contains($0.kind) }.count
        if added > maxAutoNewColumns, outcome == .auto {
            outcome = .approve
            reasons.append(
                "the plan adds \(added) columns, more than the \(maxAutoNewColumns) a plan may add on its own (policy max_auto_new_columns)"
            )
        }
        return PolicyDecision(autonomy: outcome, reasons: reasons)
    }
}

public struct PolicyDecision: Codable, Sendable, Equatable {
    public var autonomy: Autonomy
    public var reasons: [String]
    public init(autonomy: Autonomy, reasons: [String]) {
        self.autonomy = autonomy
        self.reasons = reasons
    }
}

public enum PolicyError: Error, Sendable, CustomStringConvertible {
    case unknownChangeKind(String)
    case badLimit(String, String)
    public var description: String {
        switch self {
        case .badLimit(let key, let why): "policy \(key): \(why)"
        case .unknownChangeKind(let k):
            "unknown change kind '\(k)' in policy autonomy; use one of: \(OperationKind.allCases.map(\.rawValue).joined(separator: ", "))"
        }
    }
}
