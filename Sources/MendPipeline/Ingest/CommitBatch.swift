import Foundation
import MendCore
import MendStore

/// The batch commit: one transaction per batch, rows and position together.
extension Engine {
    struct BatchResult: Sendable {
        var loaded: Int64 = 0
        var parked: Int64 = 0
        var quarantined: Int64 = 0
        var coerced: Int64 = 0
        var opened: Int64 = 0
        var touched: Set<Int64> = []
        /// The batch gave new key paths a column (the reader needs the grown key map).
        var addedKeys = false
    }

    /// Validates a batch (or takes the reader's fits), stores the columns of key paths first
    /// seen in it, then in one transaction: loads the rows that fit, parks the rest
    /// (Park.swift), quarantines what is not a record, and commits the source position with
    /// them. On return `schema` holds the key paths the batch added to the table's key map.
    func commitBatch(
        table: String, source input: any RecordSource, schema: inout TableSchema?, read: ReadBatch, flattener: inout Flattener,
        by actor: String
    ) async throws -> BatchResult {
        let offset = read.offset
        let keepsOffset = input.isResumable
        let batch = read.records
        let quarantined = read.quarantined
        // Fits computed ahead by the reader hold as they are if the table has not changed
        // since; after a repair, rows carry over unless they hold a value in a changed column.
        let carry = schema.flatMap { new in read.validatedAgainst.flatMap { RowCarry(from: $0, to: new) } }
        let precomputed = carry?.isIdentity == true
        var rows: [[SQLValue]] = []
        var rowOrigin: [Int] = []
        var contractRows = 0
        rows.reserveCapacity(batch.count)
        rowOrigin.reserveCapacity(batch.count)
        var parked: [Park.Item] = []
        var quarantine = quarantined
        var result = BatchResult()
        // Key paths new to the table get their columns here, one record after the other, so
        // the first one seen owns a name in every worker (the reader only proposed names).
        flattener.keys = schema?.keys ?? KeyMap()
        flattener.assigns = true
        flattener.added = []
        var validator = schema.map { Validator(schema: $0, limits: policy.recordLimits(table: table)) }
        for (idx, p) in batch.enumerated() {
            // The reader's fit when it still holds; otherwise validate here (the validator is
            // mutated in place: copying it per record cost a retain per field).
            var fields = p.fields
            let computed: Fit?
            if fields?.contains(where: \.isNew) == true {
                let all = read.fields(p, with: &flattener, again: true)
                fields = all
                computed = validator?.fit(all)
            } else if precomputed, let f = p.fit {
                computed = f
            } else if let carry, case .row(let old, let coerced)? = p.fit, let row = carry.carry(old) {
                computed = .row(row, coerced: coerced)
            } else {
                let all = read.fields(p, with: &flattener)  // a fast-path record is parsed again, once
                fields = all
                computed = validator?.fit(all)
            }
            guard let fit = computed else {
                quarantine.append(
                    QuarantinedRecord(
                        table: table, source: input.recordSource(counted: p.counted), line: p.line, raw: read.text(p),
                        reason: "line \(p.line): no field has a value, so no table can be created from it"))
                continue
            }
            switch fit {
            case .row(let row, let coerced):
                rows.append(row)
                rowOrigin.append(idx)
                result.coerced += Int64(coerced)
            case .drifts(var drifts):
                switch applyContracts(
                    table: table, drifts: &drifts, fields: fields ?? read.fields(p, with: &flattener), validator: &validator)
                {
                case .load(let row, let coerced):
                    rows.append(row)
                    rowOrigin.append(idx)
                    contractRows += 1
                    result.coerced += Int64(coerced)
                case .quarantine(let why):
                    quarantine.append(
                        QuarantinedRecord(
                            table: table, source: input.recordSource(counted: p.counted), line: p.line, raw: read.text(p), reason: why))
                case .park:
                    let reason = drifts.map(\.reason).joined(separator: "; ")
                    parked.append(
                        Park.Item(
                            drifts: drifts,
                            record: ParkedRecord(
                                table: table, source: input.recordSource(counted: p.counted), line: p.line, record: read.text(p),
                                drifts: drifts, reason: reason)))
                }
            }
        }
        var spilled = read.overflowed
        spilled.merge(validator?.overflowed ?? [:]) { a, _ in a }
        let overflow = try await unrecordedOverflow(spilled, table: table)
        let columns = schema?.columns ?? []
        let toPark = parked
        let toQuarantine = quarantine
        let loadRows = rows
        // No table, no key map: the keys of a batch that created nothing are not kept.
        let keys = schema == nil ? [] : flattener.added
        let coerced = result.coerced
        let inputCount = batch.count + quarantined.count
        let origins = rowOrigin
        // The reader's encoding holds when this batch loads exactly the rows it encoded.
        let prepared = precomputed && read.prepared?.rowCount == rows.count && contractRows == 0 ? read.prepared : nil
        let rejectedText: @Sendable (Int) -> String = { i in read.text(batch[i]) }
        let lines = batch.map(\.line)
        let counts = batch.map(\.counted)
        let notifier = self.notifier
        // The new key paths' columns commit first, in a short transaction of their own: inside
        // the batch's, another worker's batch that meets the same key would wait for this whole
        // batch on the key's unique index (and park into an incident this one's repair resolves
        // meanwhile). A name given to a key that a rolled-back batch saw stays given: harmless.
        if !keys.isEmpty { try await state.transaction { tx in try await tx.addKeys(table, keys) } }
        let work: @Sendable (StateTransaction) async throws -> (Int64, Set<Int64>, Int) = { tx in
            // The table's state row comes with `addCounters` (an upsert): one statement less per batch.
            var toPark = toPark
            let failures = try await tx.session.loadIsolating(table: table, columns: columns, rows: loadRows, prepared: prepared)
            for (i, message) in failures {
                // The database refused a row Mend's validation let through (a value out of
                // range, a constraint added by hand): park it with the database's words.
                let src = origins[i]
                let drift = Drift.rejectedByDatabase(message)
                toPark.append(
                    Park.Item(
                        drifts: [drift],
                        record: ParkedRecord(
                            table: table, source: input.recordSource(counted: counts[src]), line: lines[src], record: rejectedText(src),
                            drifts: [drift],
                            reason: drift.reason)))
            }
            var (opened, touched) = try await Park.park(toPark, table: table, actor: actor, notifier: notifier, in: tx)
            if try await Engine.recordOverflow(overflow, table: table, actor: actor, in: tx) != nil { opened += 1 }
            try await Park.quarantine(toQuarantine, table: table, actor: actor, in: tx)
            try await tx.addCounters(table, input: inputCount, loaded: loadRows.count - failures.count, coerced: Int(coerced))
            // The dashboard's time series: this batch's counts added to its minute (one upsert).
            try await tx.recordMinute(
                table: table,
                .init(
                    loaded: Int64(loadRows.count - failures.count), parked: Int64(toPark.count), quarantined: Int64(toQuarantine.count),
                    coerced: coerced))
            if keepsOffset { try await tx.setOffset(source: input.name, table: table, offset) }
            try await input.commit(through: offset, in: tx)
            return (opened, touched, failures.count)
        }
        let (opened, touched, rejected) =
            try await commitOnce(work, source: input, table: table, through: offset, keepsOffset: keepsOffset, lines: read.lines)
            ?? (0, [], 0)
        for (key, column) in keys { schema?.keys.assign(key, to: column) }
        result.addedKeys = !keys.isEmpty
        markOverflowRecorded(overflow, table: table)
        result.loaded = Int64(rows.count - rejected)
        result.parked = Int64(parked.count + rejected)
        result.quarantined = Int64(quarantine.count)
        result.opened = opened
        result.touched = touched
        return result
    }

    /// Runs a batch's transaction once. When the connection broke during COMMIT, what was
    /// committed decides before anything is sent again: the source position stored with
    /// the batch (a file), or the source's own record of it (a stream's committed ranges).
    /// A batch that committed is not run again; one that did not is run again whole.
    /// Nil when the batch was found committed: its counts are not known again.
    func commitOnce<T: Sendable>(
        _ work: @escaping @Sendable (StateTransaction) async throws -> T, source: any RecordSource, table: String,
        through offset: StateStore.Offset, keepsOffset: Bool, lines: Int
    ) async throws -> T? {
        do {
            return try await state.transaction(work)
        } catch StoreError.commitUnknown(let why) {
            let name = source.name
            let committed = try await state.transaction { tx -> Bool? in
                if keepsOffset {
                    guard let stored = try await tx.offset(source: name, table: table) else { return false }
                    return stored.line >= offset.line && stored.fingerprint == offset.fingerprint
                }
                return try await source.wasCommitted(through: offset, in: tx)
            }
            switch committed {
            case true?: return nil
            case false?: return try await state.transaction(work)
            case nil:
                throw PipelineError.state(
                    "the connection broke while a batch of \(lines) records for \(table) was committing (\(why)), and \(name) "
                        + "keeps no position to tell whether it committed: check `mend stats \(table)` against what was sent before sending it again"
                )
            }
        }
    }
}
