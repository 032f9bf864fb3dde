import Foundation

/// Drift is detected here: `Validator.fit` turns a record into a row, or into the
/// drifts that say why it does not fit (unknown field, type mismatch, missing value...).
/// The result of validating one record against a table.
public enum Fit: Sendable, Equatable {
    /// One value per table column, in column order; `coerced` counts converted values.
    case row([SQLValue], coerced: Int)
    case drifts([Drift])
}

/// Checks records against a cached table schema, before anything is written.
public struct Validator: Sendable {
    public let schema: TableSchema
    public var maxValueBytes: Int
    /// Records with more fields are parked whole (`record_too_large`), before any field is looked at.
    public var maxFields: Int
    /// The table's column budget (`max_table_columns`): once the table has this many
    /// columns, new fields load into the overflow column instead of asking for columns.
    public let maxColumns: Int
    /// The overflow column's position, when the table has one.
    let overflowPosition: Int?
    let atBudget: Bool
    /// Fields that went to the overflow column since the caller last emptied this, one drift
    /// per source key (at most `Overflow.maxRecordedKeys`): the incident that records them.
    public var overflowed: [String: Drift] = [:]

    public init(schema: TableSchema, limits: RecordLimits = RecordLimits()) {
        self.schema = schema
        self.maxValueBytes = limits.maxValueBytes
        self.maxFields = limits.maxFields
        self.maxColumns = limits.maxColumns
        types = schema.columns.map { $0.type ?? .text }
        nullable = schema.columns.map(\.nullable)
        overflowPosition = schema.position(of: Overflow.column)
        atBudget = schema.columns.count >= limits.maxColumns
    }

    /// Column types and nullability by position, read per value without copying a Column.
    let types: [LogicalType]
    let nullable: [Bool]
    /// Record shapes that fit as rows, most recently used first (see RecordShape.swift).
    var shapes: [RecordShape] = []

    /// Column positions of the previous record's fields, reused when the next record
    /// has the same shape (the common case), to skip one hash lookup per field.
    private var lastColumns: [String] = []
    private var lastPositions: [Int?] = []

    public mutating func fit(_ fields: [FlatField]) -> Fit {
        if fields.count > maxFields {
            return .drifts([
                Drift(
                    kind: .recordTooLarge, column: "", sourceKey: "", observed: nil, expected: nil,
                    reason: "the record has \(fields.count) fields, over the limit of \(maxFields) (policy max_record_fields)")
            ])
        }
        var sameShape = fields.count == lastColumns.count
        if sameShape {
            for i in fields.indices where fields[i].column != lastColumns[i] {
                sameShape = false
                break
            }
        }
        if !sameShape {
            lastColumns = fields.map(\.column)
            lastPositions = fields.map { f in schema.position(of: schema.mappings[f.column] ?? f.column) }
        }
        var row = [SQLValue](repeating: .null, count: schema.columns.count)
        var drifts: [Drift] = []
        var coerced = 0
        var spill: [(key: String, value: JSONValue)] = []
        for (fieldIndex, field) in fields.enumerated() {
            guard field.validName else {
                drifts.append(
                    Drift(
                        kind: .invalidIdentifier, column: field.column, sourceKey: field.sourceKey,
                        observed: field.value.inferredType, expected: nil,
                        reason: "the key \(JSONValue.quoted(Coercer.cap(field.sourceKey))) has no letter or digit to name a column after"
                    ))
                continue
            }
            // Empty dictionaries are the norm: skip the hashing then.
            let target = schema.mappings.isEmpty ? field.column : (schema.mappings[field.column] ?? field.column)
            var value = field.value
            if !schema.conversions.isEmpty, let conversion = schema.conversions[target] {
                value = Converter.apply(conversion, to: value) ?? value
            }
            guard let pos = lastPositions[fieldIndex], pos != overflowPosition else {
                // A field seen only as null says nothing about its type: no column yet.
                if case .null = value { continue }
                if let why = overflowReason(field) {
                    spill.append((field.sourceKey, value))
                    if overflowed.count < Overflow.maxRecordedKeys, overflowed[field.sourceKey] == nil {
                        overflowed[field.sourceKey] = Overflow.drift(field, why: why)
                    }
                    continue
                }
                if field.deep {
                    // The first deep object of a table without an overflow column asks for one.
                    drifts.append(
                        Drift(
                            kind: .unknownField, column: Overflow.column, sourceKey: field.sourceKey, observed: .json,
                            expected: nil,
                            reason:
                                "field \(JSONValue.quoted(Coercer.cap(field.sourceKey))) is nested deeper than the policy's overflow_depth and the table has no \(Overflow.column) column"
                        ))
                    continue
                }
                let observed = value.inferredType
                drifts.append(
                    Drift(
                        kind: .unknownField, column: target, sourceKey: field.sourceKey, observed: observed, expected: nil,
                        reason:
                            "new field \(JSONValue.quoted(Coercer.cap(field.sourceKey))) (\(observed?.rawValue ?? "null")) has no column \(target)"
                    ))
                continue
            }
            if row[pos] != .null {
                if case .null = value { continue }
                // The same key twice in one record: one key has one column, and neither value
                // may silently replace the other.
                if fields[..<fieldIndex].contains(where: { $0.sourceKey == field.sourceKey }) {
                    drifts.append(
                        Drift(
                            kind: .typeMismatch, column: target, sourceKey: field.sourceKey, observed: value.inferredType,
                            expected: types[pos],
                            reason:
                                "the record has the key \(JSONValue.quoted(Coercer.cap(field.sourceKey))) twice; send each key once"
                        ))
                    continue
                }
            }
            if case .string(let s) = value, s.utf8.count > maxValueBytes {
                drifts.append(
                    Drift(
                        kind: .valueTooLarge, column: target, sourceKey: field.sourceKey, observed: .text,
                        expected: types[pos],
                        reason: "value of \(s.utf8.count) bytes is over the \(maxValueBytes)-byte limit"))
                continue
            }
            let type = types[pos]
            switch Coercer.coerce(value, to: type) {
            case .exact(let v):
                if case .null = v, !nullable[pos] {
                    drifts.append(missing(schema.columns[pos], field.sourceKey))
                    continue
                }
                row[pos] = v
            case .coerced(let v):
                row[pos] = v
                coerced += 1
            case .mismatch(let reason):
                // A variant column (`col__v_<type>`, added by an approved plan) takes the
                // values that do not fit the original column, as they are.
                if let observed = value.inferredType,
                    let vpos = schema.position(of: Identifier.shorten("\(target)__v_\(observed.rawValue)")),
                    row[vpos] == .null, case .exact(let v) = Coercer.coerce(value, to: schema.columns[vpos].type ?? .text)
                {
                    row[vpos] = v
                    continue
                }
                drifts.append(
                    Drift(
                        kind: .typeMismatch, column: target, sourceKey: field.sourceKey, observed: value.inferredType,
                        expected: type, reason: "\(target): \(reason)"))
            }
        }
        if let opos = overflowPosition, !spill.isEmpty {
            row[opos] = .text(JSONValue.object(spill).jsonText)
        }
        for i in schema.requiredPositions where row[i] == .null {
            let column = schema.columns[i]
            if !drifts.contains(where: { $0.column == column.name }) { drifts.append(missing(column, column.name)) }
        }
        return drifts.isEmpty ? .row(row, coerced: coerced) : .drifts(drifts)
    }

    /// Why a field without a column of its own goes to the overflow column, or nil when it
    /// does not (the table has no overflow column, or room for a new column).
    private func overflowReason(_ field: FlatField) -> String? {
        guard overflowPosition != nil else { return nil }
        if field.deep { return "nested deeper than the policy's overflow_depth" }
        if field.column == Overflow.column { return "the overflow column is Mend's own" }
        return atBudget ? "the table is at its budget of \(maxColumns) columns, policy max_table_columns" : nil
    }

    private func missing(_ column: Column, _ key: String) -> Drift {
        Drift(
            kind: .missingRequired, column: column.name, sourceKey: key, observed: nil, expected: column.type,
            reason: "column \(column.name) is NOT NULL and the record has no value for it")
    }
}

/// Per-record limits, from the policy. A record over a limit is parked with the reason;
/// it never stalls the table or turns into thousands of columns.
public struct RecordLimits: Sendable, Equatable {
    /// Largest string value, in bytes (`max_value_bytes`).
    public var maxValueBytes: Int
    /// Most fields one record may have once flattened (`max_record_fields`). Below
    /// PostgreSQL's 1,600 columns per table, so no single record can exhaust a table.
    public var maxFields: Int
    /// The table's column budget (`max_table_columns`), overflow column included.
    public var maxColumns: Int

    public static let defaultMaxValueBytes = 8 << 20
    public static let defaultMaxFields = 1_000
    /// Under PostgreSQL's 1,600 columns per table (and SQLite's 2,000), with room for
    /// columns added by hand and for dropped columns, which PostgreSQL still counts.
    public static let defaultMaxColumns = 1_000

    public init(
        maxValueBytes: Int = RecordLimits.defaultMaxValueBytes, maxFields: Int = RecordLimits.defaultMaxFields,
        maxColumns: Int = RecordLimits.defaultMaxColumns
    ) {
        self.maxValueBytes = maxValueBytes
        self.maxFields = maxFields
        self.maxColumns = maxColumns
    }
}
