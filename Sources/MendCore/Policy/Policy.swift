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

/// How lists inside records load (`nested_lists`): kept whole in a JSON column, or as
/// child tables `parent__field` with one row per element (Unnester.swift, D26).
public enum NestedLists: String, Codable, Sendable, CaseIterable {
    case json, tables
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
    /// Lists as JSON or as child tables, over the policy's `nested_lists`.
    public var nestedLists: NestedLists?
    /// The nesting budget of this table's rows, over the policy's `max_nesting`.
    public var maxNesting: Int?
    /// Key paths of lists that stay JSON even under `nested_lists: tables`.
    public var keepJSON: [String]?
    /// The record's natural key (key paths): with child tables, the root row's `_mend_id`
    /// is derived from it instead of from the record's source position.
    public var primaryKey: [String]?
    /// Child tables created under `nested_lists: tables` reference their parent's `_mend_id`
    /// (PostgreSQL only; D29), over the policy's `foreign_keys`.
    public var foreignKeys: Bool?

    enum CodingKeys: String, CodingKey {
        case contracts, autonomy, columns
        case maxAutoRisk = "max_auto_risk"
        case maxColumns = "max_columns"
        case overflowDepth = "overflow_depth"
        case nestedLists = "nested_lists"
        case maxNesting = "max_nesting"
        case keepJSON = "keep_json"
        case primaryKey = "primary_key"
        case foreignKeys = "foreign_keys"
    }

    public init(
        contracts: Contracts? = nil, autonomy: [String: Autonomy]? = nil, columns: [String: Contract]? = nil,
        maxAutoRisk: Risk? = nil, maxColumns: Int? = nil, overflowDepth: Int? = nil, nestedLists: NestedLists? = nil,
        maxNesting: Int? = nil, keepJSON: [String]? = nil, primaryKey: [String]? = nil, foreignKeys: Bool? = nil
    ) {
        self.foreignKeys = foreignKeys
        self.nestedLists = nestedLists
        self.maxNesting = maxNesting
        self.keepJSON = keepJSON
        self.primaryKey = primaryKey
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
    /// Lists as JSON (the default: tables keep their shape) or as child tables.
    public var nestedLists: NestedLists
    /// dlt's `max_table_nesting` budget; nil is unlimited (`NestingRule.unlimited`).
    public var maxNesting: Int?
    /// Key paths of lists that stay JSON in every table under `nested_lists: tables`.
    public var keepJSON: [String]
    /// Tables of a record tree created from now on get a UNIQUE `_mend_id` and child tables a
    /// deferrable foreign key to their parent (`foreign_keys`, PostgreSQL only, D29).
    public var foreignKeys: Bool

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
        case nestedLists = "nested_lists"
        case maxNesting = "max_nesting"
        case keepJSON = "keep_json"
        case foreignKeys = "foreign_keys"
    }

    /// Whether the tables of `table`'s record tree are created with their keys (`foreign_keys`);
    /// false when its lists stay JSON. The dialect decides whether they are built (D29).
    public func foreignKeys(table: String) -> Bool {
        nesting(table: table) != nil && (tables[table]?.foreignKeys ?? foreignKeys)
    }

    /// How `table`'s lists load: nil when they stay JSON (`nested_lists: json`), else the rule
    /// the Unnester follows for it.
    public func nesting(table: String) -> NestingRule? {
        let t = tables[table]
        guard (t?.nestedLists ?? nestedLists) == .tables else { return nil }
        return NestingRule(
            maxNesting: t?.maxNesting ?? maxNesting ?? NestingRule.unlimited,
            keepJSON: Set(keepJSON + (t?.keepJSON ?? [])), objectDepth: overflowDepth(table: table) ?? 4,
            primaryKey: t?.primaryKey ?? [])
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
        maxTableColumns: Int = RecordLimits.defaultMaxColumns, overflowDepth: Int? = nil, nestedLists: NestedLists = .json,
        maxNesting: Int? = nil, keepJSON: [String] = [], foreignKeys: Bool = false
    ) {
        self.foreignKeys = foreignKeys
        self.nestedLists = nestedLists
        self.maxNesting = maxNesting
        self.keepJSON = keepJSON
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
        nestedLists = try c.decodeIfPresent(NestedLists.self, forKey: .nestedLists) ?? .json
        maxNesting = try c.decodeIfPresent(Int.self, forKey: .maxNesting)
        keepJSON = try c.decodeIfPresent([String].self, forKey: .keepJSON) ?? []
        foreignKeys = try c.decodeIfPresent(Bool.self, forKey: .foreignKeys) ?? false
        if let problem = nestingProblem() { throw PolicyError.badLimit(problem.key, problem.why) }
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

    /// The first nesting setting that is out of range or says nothing (a budget or a
    /// `keep_json` where every list stays JSON anyway): refused rather than ignored.
    func nestingProblem() -> (key: String, why: String)? {
        let anyTables = nestedLists == .tables || tables.values.contains { $0.nestedLists == .tables }
        var settings: [(key: String, table: String?, nesting: Int?, keep: [String]?)] = [
            ("", nil, maxNesting, keepJSON.isEmpty ? nil : keepJSON)
        ]
        for (name, t) in tables.sorted(by: { $0.key < $1.key }) {
            settings.append(("tables.\(name).", name, t.maxNesting, t.keepJSON))
            if let pk = t.primaryKey, pk.isEmpty || pk.contains(where: \.isEmpty) {
                return ("tables.\(name).primary_key", "list one or more key paths (for example [id]), none empty")
            }
        }
        for s in settings {
            let tablesHere = s.table.map { (tables[$0]?.nestedLists ?? nestedLists) == .tables } ?? anyTables
            if let n = s.nesting, n < 0 {
                return (s.key + "max_nesting", "\(n) must be 0 or more (0 keeps every nested value as JSON in its row)")
            }
            if let keep = s.keep, keep.contains(where: \.isEmpty) {
                return (s.key + "keep_json", "a key path is empty; write paths like payload.pull_request.labels")
            }
            let pk = s.table.flatMap { tables[$0]?.primaryKey }
            let fk = s.table.map { tables[$0]?.foreignKeys == true } ?? foreignKeys
            if !tablesHere, s.nesting != nil || s.keep != nil || pk != nil || fk {
                let what = s.nesting != nil ? "max_nesting" : s.keep != nil ? "keep_json" : pk != nil ? "primary_key" : "foreign_keys"
                return (
                    s.key + what,
                    "has no effect while lists load as JSON (nested_lists: json\(s.table.map { " for table \($0)" } ?? " everywhere")); "
                        + "set nested_lists: tables, or remove \(what)"
                )
            }
        }
        return nil
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
