/// How a row validated against one version of a table carries over to a later version,
/// without parsing its record again. A repair that lands while the next batch is already
/// validated ahead (add a column, widen one) changes only a few columns: a row with no
/// value in any of them fits the new table exactly as it fit the old one, plus nulls for
/// the new columns. Only rows with a value in a changed column, and records that did not
/// fit, are validated again.
public struct RowCarry: Sendable, Equatable {
    /// Positions, in the old table, whose type, nullability or conversion changed.
    public var changed: [Int]
    /// Columns the new table has after the old one's.
    public var appended: Int
    /// The old table's width: a row of any other width was not validated against it.
    public var width: Int

    public var isIdentity: Bool { changed.isEmpty && appended == 0 }

    /// Nil when no row carries (columns removed, reordered or renamed, a new NOT NULL
    /// column, or a changed key mapping, which can move any record's values).
    public init?(from old: TableSchema, to new: TableSchema) {
        guard new.columns.count >= old.columns.count, new.mappings == old.mappings else { return nil }
        var changed: [Int] = []
        for (i, c) in old.columns.enumerated() {
            let n = new.columns[i]
            guard n.name == c.name else { return nil }
            if n.type != c.type || n.declaredType != c.declaredType || n.nullable != c.nullable
                || new.conversions[c.name] != old.conversions[c.name]
            {
                changed.append(i)
            }
        }
        for c in new.columns[old.columns.count...] {
            guard c.nullable, new.conversions[c.name] == nil else { return nil }
        }
        self.changed = changed
        self.appended = new.columns.count - old.columns.count
        self.width = old.columns.count
    }

    /// The row for the new table, or nil when the record must be validated again.
    public func carry(_ row: [SQLValue]) -> [SQLValue]? {
        guard row.count == width else { return nil }
        for i in changed {
            guard case .null = row[i] else { return nil }
        }
        if appended == 0 { return row }
        var out = row
        out.append(contentsOf: repeatElement(.null, count: appended))
        return out
    }
}
