import Foundation
import MendCore
import MendStore

extension Engine {
    enum ContractOutcome {
        case load([SQLValue], Int)
        case quarantine(String)
        case park
    }

    /// dlt-style contracts at load time: discard_row sets the record aside (quarantine,
    /// with the reason: Mend never deletes input), discard_value loads the record
    /// without the values that do not fit, freeze and evolve park it for a plan.
    func applyContracts(table: String, drifts: inout [Drift], fields: [FlatField], validator: inout Validator?) -> ContractOutcome {
        var discard = Set<String>()
        for d in drifts {
            let kind: OperationKind
            switch d.kind {
            case .unknownField: kind = .addColumn
            case .typeMismatch: kind = .widenColumn
            default: return .park
            }
            switch policy.contract(for: kind, table: table, column: d.column) {
            case .discardRow:
                return .quarantine(
                    "discarded by policy (\(kind == .addColumn ? "columns" : "data_type") contract discard_row): \(d.reason)")
            case .discardValue: discard.insert(d.column)
            case .evolve, .freeze: return .park
            }
        }
        guard let mappings = validator?.schema.mappings else { return .park }
        let kept = fields.filter { !discard.contains(mappings[$0.column] ?? $0.column) }
        if case .row(let row, let c)? = validator?.fit(kept) { return .load(row, c) }
        return .park
    }
}
