import Foundation
public import MendCore
import Yams

/// The shape of a policy file, checked before it is decoded: a key Mend does not know, or a
/// value of the wrong kind, is refused with its key path, its line and the nearest valid key.
/// A misspelt gate (`autonmy:`) would otherwise be ignored, and the gate the user wrote would
/// not be there.
enum PolicyShape {
    /// What a value may be.
    indirect case map([String: PolicyShape])
    /// A map whose keys are the caller's (table and column names), or one of `keys`.
    indirect case dictionary(keys: [String]?, of: PolicyShape)
    indirect case list(of: PolicyShape)
    case oneOf([String])
    case integer
    case boolean
    case text
    /// Checked by its own reader (`notify:`, NotifyEndpoint).
    case any

    static var contract: PolicyShape { .oneOf(Contract.allCases.map(\.rawValue)) }
    static var autonomy: PolicyShape {
        .dictionary(keys: OperationKind.allCases.map(\.rawValue), of: .oneOf(Autonomy.allCases.map(\.rawValue)))
    }
    static var nestedLists: PolicyShape { .oneOf(NestedLists.allCases.map(\.rawValue)) }
    static var risk: PolicyShape { .oneOf(Risk.allCases.map(\.rawValue)) }
    static var contracts: PolicyShape { .map(["tables": contract, "columns": contract, "data_type": contract]) }

    static var table: PolicyShape {
        .map([
            "contracts": contracts, "autonomy": autonomy, "columns": .dictionary(keys: nil, of: contract), "max_auto_risk": risk,
            "max_columns": .integer, "overflow_depth": .integer, "nested_lists": nestedLists, "max_nesting": .integer,
            "keep_json": .list(of: .text), "primary_key": .list(of: .text), "foreign_keys": .boolean,
        ])
    }

    static var policy: PolicyShape {
        .map([
            "contracts": contracts, "autonomy": autonomy, "max_auto_risk": risk, "tables": .dictionary(keys: nil, of: table),
            "max_value_bytes": .integer, "max_record_fields": .integer, "max_auto_new_columns": .integer,
            "mcp_approvers": .list(of: .text), "max_table_columns": .integer, "overflow_depth": .integer, "notify": .any,
            "nested_lists": nestedLists, "max_nesting": .integer, "keep_json": .list(of: .text), "foreign_keys": .boolean,
        ])
    }

    /// The first problem of `node` against this shape, as "line N: path: what to do".
    func problem(_ node: Node, at path: String) -> String? {
        let line = node.mark.map { "line \($0.line): " } ?? ""
        let shown = path.isEmpty ? "the file" : path
        switch self {
        case .any:
            return nil
        case .map(let fields):
            guard let mapping = node.mapping else { return "\(line)\(shown) must be a map with keys \(Self.list(fields.keys))" }
            for (k, v) in mapping {
                let key = k.string ?? ""
                let at = path.isEmpty ? key : path + "." + key
                guard let shape = fields[key] else {
                    let keyLine = k.mark.map { "line \($0.line): " } ?? line
                    return "\(keyLine)unknown key '\(at)'" + Self.suggestion(key, among: Array(fields.keys))
                        + "; \(shown) takes \(Self.list(fields.keys))"
                }
                if let p = shape.problem(v, at: at) { return p }
            }
            return nil
        case .dictionary(let keys, let value):
            guard let mapping = node.mapping else { return "\(line)\(shown) must be a map" }
            for (k, v) in mapping {
                let key = k.string ?? ""
                let at = path + "." + key
                if let keys, !keys.contains(key) {
                    let keyLine = k.mark.map { "line \($0.line): " } ?? line
                    return "\(keyLine)unknown change kind '\(key)' at \(at)" + Self.suggestion(key, among: keys)
                        + "; use one of \(Self.list(keys))"
                }
                if let p = value.problem(v, at: at) { return p }
            }
            return nil
        case .list(let item):
            guard let sequence = node.sequence else { return "\(line)\(shown) must be a list" }
            for (i, n) in sequence.enumerated() {
                if let p = item.problem(n, at: "\(path)[\(i)]") { return p }
            }
            return nil
        case .oneOf(let values):
            guard let s = node.scalar?.string, values.contains(s) else {
                let given = node.scalar.map { "'\($0.string)'" } ?? "a \(node.mapping != nil ? "map" : "list")"
                return "\(line)\(shown) is \(given)" + Self.suggestion(node.scalar?.string ?? "", among: values)
                    + "; use one of \(Self.list(values))"
            }
            return nil
        case .integer:
            guard node.scalar != nil, node.int != nil else {
                return "\(line)\(shown) must be a whole number, not \(node.scalar.map { "'\($0.string)'" } ?? "a map or list")"
            }
            return nil
        case .boolean:
            guard node.scalar != nil, node.bool != nil else {
                return "\(line)\(shown) must be true or false, not \(node.scalar.map { "'\($0.string)'" } ?? "a map or list")"
            }
            return nil
        case .text:
            guard node.scalar != nil else { return "\(line)\(shown) must be text" }
            return nil
        }
    }

    static func list(_ keys: some Collection<String>) -> String { keys.sorted().joined(separator: ", ") }

    /// " (did you mean 'x'?)" for the nearest of `candidates` within a few edits, else "".
    static func suggestion(_ given: String, among candidates: [String]) -> String {
        var best: (key: String, edits: Int)? = nil
        for c in candidates.sorted() {
            let edits = distance(given.lowercased(), c)
            if edits < (best?.edits ?? Int.max) { best = (c, edits) }
        }
        guard let (best, d) = best, d <= max(2, best.count / 3) else { return "" }
        return " (did you mean '\(best)'?)"
    }

    /// Levenshtein distance, by characters.
    static func distance(_ a: String, _ b: String) -> Int {
        let x = Array(a)
        let y = Array(b)
        if x.isEmpty || y.isEmpty { return max(x.count, y.count) }
        var previous = Array(0...y.count)
        for i in 1...x.count {
            var current = [i] + Array(repeating: 0, count: y.count)
            for j in 1...y.count {
                let substitution: Int = previous[j - 1] + (x[i - 1] == y[j - 1] ? 0 : 1)
                let edit: Int = min(previous[j], current[j - 1]) + 1
                current[j] = min(edit, substitution)
            }
            previous = current
        }
        return previous[y.count]
    }
}

extension PolicyLoader {
    /// The policy's shape problem, or nil (the YAML parses and every key and value is one Mend
    /// knows). Values are checked for their kind here; their ranges by Policy's decoder.
    static func shapeProblem(_ yaml: String) -> String? {
        let node: Node?
        do { node = try Yams.compose(yaml: yaml) } catch { return "not valid YAML: \(error)" }
        guard let node else { return nil }
        return PolicyShape.policy.problem(node, at: "")
    }

    /// The effective policy, defaults included: one block for every table the file names and
    /// one for all other tables. What `mend policy check` prints.
    public static func effective(_ policy: Policy) -> String {
        var out: [String] = []
        func block(_ title: String, table: String) {
            out.append(title)
            out.append(
                "  contracts: tables \(policy.contract(for: .createTable, table: table, column: nil).rawValue), "
                    + "columns \(policy.contract(for: .addColumn, table: table, column: nil).rawValue), "
                    + "data_type \(policy.contract(for: .widenColumn, table: table, column: nil).rawValue)")
            for (column, c) in (policy.tables[table]?.columns ?? [:]).sorted(by: { $0.key < $1.key }) {
                out.append("  column \(column): \(c.rawValue)")
            }
            out.append(
                "  autonomy: "
                    + OperationKind.allCases.map { "\($0.rawValue) \(policy.autonomy(for: $0, table: table).rawValue)" }.joined(
                        separator: ", "))
            out.append("  max_auto_risk: \(policy.maxAutoRisk(table: table).rawValue)")
            out.append("  max_columns: \(policy.maxColumns(table: table))")
            out.append(
                "  overflow_depth: \(policy.overflowDepth(table: table).map(String.init) ?? "none (objects deeper than 4 levels stay whole)")"
            )
            if let rule = policy.nesting(table: table) {
                let budget = rule.maxNesting >= NestingRule.unlimited ? "unlimited" : String(rule.maxNesting)
                out.append(
                    "  nested_lists: tables (max_nesting \(budget), keep_json \(rule.keepJSON.isEmpty ? "none" : rule.keepJSON.sorted().joined(separator: ", ")), "
                        + "root id from \(rule.primaryKey.isEmpty ? "the source position" : "primary_key " + rule.primaryKey.joined(separator: ", ")))"
                )
                if policy.foreignKeys(table: table) {
                    out.append("  foreign_keys: true (\(TableKeys.policyNote))")
                }
            } else {
                out.append("  nested_lists: json (lists stay whole in a json column)")
            }
        }
        out.append(
            "limits: max_value_bytes \(policy.maxValueBytes), max_record_fields \(policy.maxRecordFields), "
                + "max_auto_new_columns \(policy.maxAutoNewColumns)")
        out.append("mcp_approvers: \(policy.mcpApprovers.isEmpty ? "none" : policy.mcpApprovers.sorted().joined(separator: ", "))")
        for table in policy.tables.keys.sorted() { block("table \(table):", table: table) }
        // A name no table can have: the policy's own values, for every table not named above.
        block(policy.tables.isEmpty ? "every table:" : "every other table:", table: "\u{0}")
        return out.joined(separator: "\n")
    }
}
