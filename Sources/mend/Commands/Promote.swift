import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

/// `mend promote`: a field that loaded into `_mend_overflow` gets a column of its own, through
/// a typed `promote_field` plan that waits for approval like any other.
struct Promote: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Propose moving a field out of _mend_overflow into a column of its own (applied once approved).",
        discussion: """
            The incident must be one that records fields loaded into _mend_overflow (`mend show N` lists
            them). The plan adds the column, then moves the values that fit its type without loss; the
            others stay in _mend_overflow. A table at its column budget (max_table_columns) has no room:
            raise the budget for the table first (tables.NAME.max_columns in the policy).
            """)
    @OptionGroup var incident: IncidentArgument
    @Option(help: "The field's key path in _mend_overflow, as the incident lists it (for example data.order.id).")
    var field: String
    @Option(
        help:
            "The column's type (default: the type the incident observed): \(LogicalType.allCases.map(\.rawValue).joined(separator: ", ")).")
    var type: String?
    @Option(help: "The column's name (default: the name Mend gives the field).") var column: String?
    @Option(help: "Who asks (recorded in the audit log). Defaults to $USER.") var by: String?
    @OptionGroup var options: RepairOptions

    func run() async throws {
        let engine = try await options.engine()
        let id = incident.id.value
        let (i, _, _) = try await engine.incidentDetail(id, samples: 0)
        guard let drift = i.drifts.first(where: { $0.kind == .overflow && $0.sourceKey == field }) else {
            let recorded = i.drifts.filter { $0.kind == .overflow }.map(\.sourceKey)
            let listed = recorded.prefix(5)
            throw ValidationError(
                listed.isEmpty
                    ? "incident #\(id) records no field loaded into \(Overflow.column); `mend incidents` lists the ones that do"
                    : "incident #\(id) records no field '\(field)' in \(Overflow.column); it records \(listed.joined(separator: ", "))\(recorded.count > 5 ? ", …" : "")"
            )
        }
        var chosen = drift.observed
        if let type {
            guard let t = LogicalType(rawValue: type) else {
                throw ValidationError("--type \(type): use one of \(LogicalType.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            chosen = t
        }
        let budget = await engine.policy.maxColumns(table: i.table)
        if let (schema, _, _) = try await engine.schema(table: i.table), schema.column(named: column ?? drift.column) == nil,
            schema.columns.count >= budget
        {
            throw ValidationError(
                "table \(i.table) has \(schema.columns.count) columns, at its budget of \(budget) (policy max_table_columns): raise it for this table first (tables: {\(i.table): {max_columns: \(schema.columns.count + 1)}})"
            )
        }
        let who = by ?? currentUser
        let op = PlanOperation(kind: .promoteField, column: column ?? drift.column, type: chosen, source: field)
        let plan = Plan(
            incidentID: id, table: i.table, operations: [op], rationale: "\(who) asked to promote \(field) to its own column",
            confidence: 1, plannedBy: "mend:\(who)")
        switch try await engine.advance(incidentID: id, .plan(plan), by: "mend:\(who)") {
        case .applied(let p): print("plan #\(p) applied")
        case .pending(let p): print("plan #\(p): \(op.summary); it waits for approval: run `mend approve \(id)`")
        case .refused(let p, let why): throw PipelineError.refused("plan #\(p) refused: \(why)")
        case .rejected(let p): throw PipelineError.state("plan #\(p) was rejected")
        }
    }
}
