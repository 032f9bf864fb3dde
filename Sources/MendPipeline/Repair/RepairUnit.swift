import Foundation
import MendCore
import MendStore

/// The repair unit of work (issue 29): after a batch commits, one transaction plans every
/// open incident of the table that has no live plan, stores each plan with the policy's
/// decision, applies those the policy lets through, replays their parked records and
/// writes the audit, with each incident's context read once and carried through
/// propose → decide → apply → replay. Each incident's plan and apply run in a savepoint: a
/// plan that fails rolls back alone and is recorded failed; the others still apply. The
/// replays come after every apply of the round (a repair role's DDL must not wait on their
/// loads, D27). Records with child tables replay whole (`replayNestedChunk`). A planner that
/// calls out (a model, an agent) plans between a read and this transaction, never inside it.
extension Engine {
    /// The engine's repair tools as values, so a transaction body uses them off the actor
    /// (and stays re-runnable: nothing in it reaches outside the database).
    struct RepairKit: Sendable {
        var policy: Policy
        var compiler: PlanCompiler
        var judge: any StatementJudge
        var rules: RulesPlanner
        var dialect: SQLDialect
        var targetSchema: String?
        var readsRenames: Bool
        /// DDL runs on a connection of its own (the repair role of `mend setup-roles`), outside
        /// the unit's transaction: it waits on any lock the unit holds on the table.
        var repairsElsewhere: Bool
    }

    var repairKit: RepairKit {
        RepairKit(
            policy: policy, compiler: compiler, judge: judge, rules: rules, dialect: warehouse.dialect,
            targetSchema: warehouse.targetSchema, readsRenames: planner.readsRenameEvidence,
            repairsElsewhere: warehouse.repairsOnOwnConnection)
    }

    /// An incident's context, read once: its lifecycle, every drift, the table's schema, what
    /// the guard judges against, and the rename evidence from its parked sample.
    struct RepairContext: Sendable {
        var state: StateTransaction.IncidentState
        var detail: Incident
        var schema: TableSchema?
        var judging: JudgeContext
        var renames: [String: RenameDetector.Finding]
        /// The table its records are parked under: a root table for a record with child
        /// tables (Nested.swift), which replays whole; nil when nothing is parked.
        var parkedUnder: String?
    }

    /// Reads the contexts of `states` in `tx`: the schema and managed tables once, every
    /// incident's parked sample in one statement, the newest rows once per set of rename
    /// candidates.
    static func contexts(
        _ states: [StateTransaction.IncidentState], others: [Incident], kit: RepairKit, in tx: StateTransaction
    ) async throws -> [RepairContext] {
        guard let table = states.first?.incident.table else { return [] }
        let schema = try await tx.schema(table)
        let managed = Set(try await tx.managedTables())
        let judging = judgeContext(table: table, schema: schema, managed: managed, kit: kit)
        let samples = try await tx.parkedSamples(incidentIDs: states.map(\.incident.id), limit: renameParkedSample)
        var byColumns: [[String]: [RenameDetector.Candidate]] = [:]
        var out: [RepairContext] = []
        for s in states {
            let sample = samples[s.incident.id] ?? []
            let detail = withAllDrifts(s.incident, sample: sample, others: others)
            var renames: [String: RenameDetector.Finding] = [:]
            if kit.readsRenames, let schema, let (newFields, columns) = renameCandidates(detail, schema: schema) {
                let names = columns.map(\.name)
                if byColumns[names] == nil {
                    // A table the loader cannot read back (a role with INSERT only) gives no
                    // evidence: every new field stays a new column. recentValues reads in a
                    // savepoint it rolls back, so a refusal does not end the transaction and
                    // the read's lock on the table is not held while a repair role's DDL runs.
                    let recent = (try? await tx.recentValues(table: table, columns: names, limit: renameRecentRows)) ?? []
                    byColumns[names] = profiled(columns, recent: recent)
                }
                renames = findings(
                    newFields: newFields, sample: RenameSample(sample, table: table, schema: schema, policy: kit.policy),
                    candidates: byColumns[names] ?? [], mappings: schema.mappings)
            }
            out.append(
                RepairContext(
                    state: s, detail: detail, schema: schema, judging: judging, renames: renames, parkedUnder: sample.first?.table))
        }
        return out
    }

    /// What a unit did, for the ingest summary and the notifications posted after its commit.
    struct UnitOutcome: Sendable {
        var outcome = RepairOutcome()
        var triggers: [NotifyTrigger] = []
        var overflow: [Drift] = []
        /// The table's schema after the unit, when a plan changed it.
        var schema: TableSchema?
        /// Incidents a replay opened that a planner calling out has not seen yet, or (with a
        /// repair role) that wait for the next unit's transaction.
        var morePlanning = false
        /// The incidents the unit planned: the next unit of the same call leaves them alone,
        /// so records a replay left in their incident are not planned again and again.
        var attempted = Set<Int64>()
        /// Why a plan failed to run: recorded failed in the unit, then thrown after its
        /// commit, as a failed apply always was.
        var failures: [any Error] = []
    }

    /// A plan the unit applied, carried to its replay: the unit replays a round's incidents
    /// once every DDL of the round has run.
    struct AppliedStep: Sendable {
        var context: RepairContext
        var machine: IncidentLifecycle
        var planID: Int64
        var quarantineReason: String?
        var schema: TableSchema
    }

    /// The unit's body, in the caller's transaction under the table's repair lock. With a
    /// pure planner it plans here, round after round while replays open new incidents;
    /// otherwise it stores the proposals made outside (`given`), for incidents that still
    /// need a plan. Each round plans and applies first and replays after: a replay's load
    /// locks the tables it writes until the commit, and with a repair role (`repairsElsewhere`)
    /// the DDL runs on another connection that would wait on that lock (SQLSTATE 55P03). So in
    /// that mode a round that replayed is the transaction's last; the caller runs another.
    static func repairUnit(
        table: String, kit: RepairKit, given: [Int64: (Proposal, PlannerUsage?)]?, limits: RecordLimits, overflowDepth: Int?,
        knownOverflow: Set<String>, attempted done: Set<Int64> = [], by who: String, in tx: StateTransaction
    ) async throws -> UnitOutcome {
        var unit = UnitOutcome()
        var known = knownOverflow
        var attempted = done
        var minutes: [String: StateStore.MinuteCounts] = [:]
        for _ in 0..<8 {
            let listing = try await tx.lifecycles(table: table)
            unit.outcome.waiting = Set(
                listing.filter { !$0.machine.needsPlan && ($0.incident.status == .pendingApproval || $0.incident.parked > 0) }.map(
                    \.incident.id))
            let candidates = listing.filter { $0.machine.needsPlan && !attempted.contains($0.incident.id) }
            if candidates.isEmpty { break }
            if let given, candidates.contains(where: { given[$0.incident.id] == nil }) { unit.morePlanning = true }
            let planned = given.map { g in candidates.filter { g[$0.incident.id] != nil } } ?? candidates
            if planned.isEmpty { break }
            // Locked before this round's audit entries: a batch parking into one of them waits for
            // this unit, or this unit for the batch, whose records the replay then sees.
            _ = try await tx.lockIncidents(planned.map(\.incident.id), exclusive: true)
            let contexts = try await Engine.contexts(planned, others: listing.map(\.incident), kit: kit, in: tx)
            // The schema as this transaction has made it, carried from one incident to the next.
            var current = contexts.first?.schema
            var applied: [AppliedStep] = []
            for read in contexts {
                var context = read
                if given == nil {
                    // Planned here: against the schema the incidents before it left, as if planned one by one.
                    context.schema = current
                    context.judging = Engine.judgeContext(
                        table: table, schema: current, managed: read.judging.managedTables, kit: kit)
                }
                let id = context.detail.id
                attempted.insert(id)
                let (proposal, usage) =
                    given?[id]
                    ?? (
                        Engine.proposal(
                            kit.rules.planSync(incident: context.detail, schema: context.schema, renames: context.renames),
                            context: context, kit: kit), nil
                    )
                do {
                    let step = try await tx.savepoint {
                        try await Engine.storeAndApply(proposal, usage: usage, context: context, schema: current, kit: kit, by: who, in: tx)
                    }
                    current = step.schema
                    unit.triggers += step.triggers
                    if let failure = step.failure { unit.failures.append(failure) }
                    switch step.result {
                    case .applied:
                        unit.outcome.applied += 1
                        minutes[table, default: .init()].repairs += 1
                        unit.schema = step.schema
                        if let a = step.applied { applied.append(a) }
                    case .pending: unit.outcome.pending.append(id)
                    case .refused, .rejected: unit.outcome.refused.append(id)
                    }
                } catch let error as StoreError where error.isConflict {
                    continue  // another worker moved this incident on first: its outcome stands
                } catch PipelineError.state {
                    continue
                }
            }
            for var a in applied {
                // Against the schema as the round's last DDL left it, not as its own plan did.
                if let current { a.schema = current }
                let step = a
                do {
                    let r = try await tx.savepoint {
                        try await Engine.replayApplied(
                            step, kit: kit, limits: limits, overflowDepth: overflowDepth, known: known, by: who, in: tx)
                    }
                    unit.overflow += r.overflow
                    known.formUnion(r.overflow.map(\.sourceKey))
                    minutes[r.minuteTable, default: .init()].loaded += r.replay.loaded
                    minutes[r.minuteTable, default: .init()].coerced += r.coerced
                    minutes[r.minuteTable, default: .init()].quarantined += r.replay.quarantined
                    unit.outcome.replayedLoaded += r.replay.loaded
                    unit.outcome.replayedQuarantined += r.replay.quarantined
                } catch let error as StoreError where error.isConflict {
                    continue  // another worker replayed or moved this incident first: its outcome stands
                } catch PipelineError.state {
                    continue
                }
            }
            // The key map as the replays left it, for the batches that follow.
            if var changed = unit.schema {
                changed.keys = try await tx.keyMap(table)
                unit.schema = changed
            }
            if given != nil { break }  // new incidents wait for the planner outside
            if kit.repairsElsewhere && !applied.isEmpty {
                // The replays hold locks on the tables they loaded: the next round's DDL runs in
                // the caller's next unit, in a transaction of its own.
                unit.morePlanning = true
                break
            }
        }
        for (t, counts) in minutes.sorted(by: { $0.key < $1.key }) { try await tx.recordMinute(table: t, counts) }
        unit.attempted = attempted
        return unit
    }

    /// One incident in the unit: store the plan as the lifecycle's `.planned` event; when it
    /// may run, apply it in a savepoint of its own (a failure rolls back the DDL and records
    /// `.runFailed`). An applied plan comes back with its machine, for `replayApplied`.
    static func storeAndApply(
        _ proposal: Proposal, usage: PlannerUsage?, context: RepairContext, schema carried: TableSchema?, kit: RepairKit,
        by who: String, in tx: StateTransaction
    ) async throws -> (
        result: RepairResult, applied: AppliedStep?, triggers: [NotifyTrigger], failure: (any Error)?, schema: TableSchema?
    ) {
        var machine = context.state.machine
        let incidentID = context.detail.id
        if let why = machine.refusesPlan { throw PipelineError.state(why) }
        var plan = proposal.plan
        plan.status = .proposed
        let planID = try await tx.insertPlan(plan, decision: proposal.decision, verdicts: proposal.statements)
        if let usage {
            try await tx.recordUsage(
                planID: planID, model: usage.model, tokensIn: usage.tokensIn, tokensOut: usage.tokensOut, cost: usage.cost)
        }
        try await step(&machine, .planned(plan: planID, facts(proposal, usage: usage, incident: incidentID)), by: who, in: tx)
        switch machine.state {
        case .awaitingApproval:
            return (
                .pending(planID: planID), nil, [NotifyTrigger(kind: .awaitingApproval, incident: incidentID, plan: planID)], nil, carried
            )
        case .approved:
            break
        default:
            let reason = proposal.decision.reasons.joined(separator: "; ")
            return (
                .refused(planID: planID, reason: reason), nil,
                [NotifyTrigger(kind: .refused, incident: incidentID, plan: planID, reason: reason)], nil, carried
            )
        }
        plan.id = planID
        let stored = plan
        let schema: TableSchema
        do {
            let (ran, after) = try await tx.savepoint {
                try await Engine.runOperations(stored, context: context.judging, kit: kit, schema: carried, in: tx)
            }
            schema = after
            try await step(&machine, .ran(ran), by: who, in: tx)
        } catch let error as StoreError where error.isConflict || error.isOutage {
            throw error
        } catch {
            let message = "\(error)"
            try await step(&machine, .runFailed(error: message), by: who, in: tx)
            return (
                .refused(planID: planID, reason: message), nil,
                [NotifyTrigger(kind: .failed, incident: incidentID, plan: planID, reason: message)], error, carried
            )
        }
        let quarantineReason = stored.operations.contains { $0.kind == .quarantine } ? "quarantined by plan \(planID)" : nil
        let applied = AppliedStep(context: context, machine: machine, planID: planID, quarantineReason: quarantineReason, schema: schema)
        return (.applied(planID: planID), applied, [NotifyTrigger(kind: .applied, incident: incidentID, plan: planID)], nil, schema)
    }

    /// Replays an applied incident's parked records in the unit, with its machine carried:
    /// flat records through `replayChunk`; records with child tables (parked under a root
    /// whose policy says `nested_lists: tables`) whole through `replayNestedChunk`, as `mend
    /// replay` does. `minuteTable` is where the counts go: the root for records with child tables.
    static func replayApplied(
        _ a: AppliedStep, kit: RepairKit, limits: RecordLimits, overflowDepth: Int?, known: Set<String>, by who: String,
        in tx: StateTransaction
    ) async throws -> (replay: ReplayResult, coerced: Int64, overflow: [Drift], minuteTable: String) {
        var machine = a.machine
        let incident = a.context.detail
        var replay = ReplayResult()
        var coerced: Int64 = 0
        var overflow: [Drift] = []
        var cursor: Int64 = 0
        var minuteTable = incident.table
        if let root = a.context.parkedUnder, let rule = kit.policy.nesting(table: root) {
            minuteTable = root
            while true {
                let chunk = try await replayNestedChunk(
                    incident, root: root, rule: rule, quarantineReason: a.quarantineReason, after: cursor, policy: kit.policy, by: who,
                    in: tx)
                replay.loaded += chunk.result.loaded
                replay.quarantined += chunk.result.quarantined
                coerced += chunk.coerced
                guard let last = chunk.last else { break }
                cursor = last
            }
        } else {
            var schema = a.schema
            while true {
                // The key map alone is read again: a replay, or another worker's batch, may have
                // given key paths their columns since (the rest of the schema is this unit's).
                schema.keys = try await tx.keyMap(incident.table)
                let chunk = try await replayChunk(
                    incident, quarantineReason: a.quarantineReason, after: cursor, limits: limits, overflowDepth: overflowDepth,
                    known: known.union(overflow.map(\.sourceKey)), schema: schema, by: who, in: tx)
                replay.loaded += chunk.result.loaded
                replay.quarantined += chunk.result.quarantined
                coerced += chunk.coerced
                overflow += chunk.overflow
                guard let last = chunk.last else { break }
                cursor = last
            }
        }
        replay.stillParked = try await tx.parkedCount(incidentID: incident.id)
        try await tx.markReplayed(incident.id)
        try await step(
            &machine, .replayed(loaded: replay.loaded, quarantined: replay.quarantined, stillParked: replay.stillParked), by: who,
            in: tx)
        replay.resolved = machine.state == .resolved
        return (replay, coerced, overflow, minuteTable)
    }

    /// The facts of a stored plan, as its `.planned` event and audit entry carry them.
    static func facts(_ proposal: Proposal, usage: PlannerUsage?, incident: Int64) -> ProposedPlan {
        let plan = proposal.plan
        return ProposedPlan(
            incident: incident, plannedBy: plan.plannedBy, operations: plan.operations.map(\.summary).joined(separator: "; "),
            rationale: plan.rationale, confidence: plan.confidence, sql: proposal.statements.map(\.sql).joined(separator: ";\n"),
            risk: proposal.risk, decision: proposal.decision.autonomy, reasons: proposal.decision.reasons, usage: usage,
            evidence: (plan.evidence ?? []).map(\.summary))
    }

    /// Feeds one event to a machine the caller carries and writes what it decides in `tx`.
    static func step(_ machine: inout IncidentLifecycle, _ event: IncidentLifecycle.Event, by who: String, in tx: StateTransaction)
        async throws
    {
        switch machine.event(event) {
        case .persist(let change): try await tx.persist(change, actor: who)
        case .illegal(let why): throw PipelineError.state(why)
        case .proposePlan, .runPlan, .awaitApproval: break
        }
    }

    /// The repair loop for a table: one unit of work per call with a pure planner; with a
    /// planner that calls out, a read of the contexts, the planner, then the unit (again
    /// while replays open incidents the planner has not seen, bounded).
    public func repairOpenIncidents(table: String, by who: String? = nil) async throws -> RepairOutcome {
        try await bootstrap()
        let actor = who ?? self.actor
        let kit = repairKit
        let limits = policy.recordLimits(table: table)
        let depth = policy.overflowDepth(table: table)
        var outcome = RepairOutcome()
        var attempted = Set<Int64>()
        var failures: [any Error] = []
        for _ in 0..<8 {
            var given: [Int64: (Proposal, PlannerUsage?)]?
            let done = attempted
            if !planner.isPure {
                let contexts = try await state.transaction { tx -> [RepairContext] in
                    let listing = try await tx.lifecycles(table: table)
                    return try await Engine.contexts(
                        listing.filter { $0.machine.needsPlan && !done.contains($0.incident.id) }, others: listing.map(\.incident),
                        kit: kit, in: tx)
                }
                var proposals: [Int64: (Proposal, PlannerUsage?)] = [:]
                for c in contexts { proposals[c.detail.id] = try await propose(c, plan: nil) }
                given = proposals
            }
            let known = try await recordedOverflowKeys(table: table)
            let proposals = given
            let unit = try await state.transaction(lockKey: table) { tx in
                try await Engine.repairUnit(
                    table: table, kit: kit, given: proposals, limits: limits, overflowDepth: depth, knownOverflow: known,
                    attempted: done, by: actor, in: tx)
            }
            markOverflowRecorded(unit.overflow, table: table)
            for t in unit.triggers { notifier?.post(t) }
            outcome.add(unit.outcome)
            if let schema = unit.schema { outcome.schema = schema }
            attempted.formUnion(unit.attempted)
            failures += unit.failures
            if !unit.morePlanning { break }
        }
        // A failed plan is recorded failed in its unit; the first is thrown once every unit of
        // the call has committed, as a failed apply always was.
        if let failure = failures.first { throw failure }
        return outcome
    }
}
