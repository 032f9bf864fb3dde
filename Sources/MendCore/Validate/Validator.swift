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

    public init(schema: TableSchema, limits: RecordLimits = RecordLimits()) {
        self.schema = schema
        self.maxValueBytes = limits.maxValueBytes
        self.maxFields = limits.maxFields
        types = schema.columns.map { $0.type ?? .text }
        nullable = schema.columns.map(\.nullable)
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
            guard let pos = lastPositions[fieldIndex] else {
                // A field seen only as null says nothing about its type: no column yet.
                if case .null = value { continue }
                let observed = value.inferredType
                drifts.append(
                    Drift(
                        kind: .unknownField, column: target, sourceKey: field.sourceKey, observed: observed, expected: nil,
                        reason:
                            "new field \(JSONValue.quoted(Coercer.cap(field.sourceKey))) (\(observed?.rawValue ?? "null")) has no column \(target)"
                    ))
                continue
            }
            if row[pos] != .null, case .null = value { continue }
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
        for i in schema.requiredPositions where row[i] == .null {
            let column = schema.columns[i]
            if !drifts.contains(where: { $0.column == column.name }) { drifts.append(missing(column, column.name)) }
        }
        return drifts.isEmpty ? .row(row, coerced: coerced) : .drifts(drifts)
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

    public static let defaultMaxValueBytes = 8 << 20
    public static let defaultMaxFields = 1_000

    public init(maxValueBytes: Int = RecordLimits.defaultMaxValueBytes, maxFields: Int = RecordLimits.defaultMaxFields) {
        self.maxValueBytes = maxValueBytes
        self.maxFields = maxFields
    }
}
