/// The keys a table of a record tree is created with under `foreign_keys: true` (D29): its
/// `_mend_id` UNIQUE, and for a child table a foreign key from `_mend_parent_id` to its parent
/// table's `_mend_id`, `DEFERRABLE INITIALLY DEFERRED` (a record's rows load in one transaction,
/// in any table order). Only a `create_table` carries them, and only on PostgreSQL: keys are
/// never added to a table that exists.
public struct TableKeys: Codable, Sendable, Equatable {
    /// The table whose `_mend_id` this table's `_mend_parent_id` references; nil for a root
    /// table, or a child whose parent was created without keys (before the option was on).
    public var parent: String?

    public init(parent: String?) {
        self.parent = parent
    }

    /// What `mend policy check` says next to `foreign_keys: true`.
    public static let policyNote =
        "PostgreSQL only, ignored on SQLite; only tables created from now on get keys, existing tables are not altered"

    /// The UNIQUE constraint's name (also its index's, so unique in the schema): `<table>__mend_id_key`,
    /// shortened like any name past 63 bytes (`Identifier.shorten`, a stable hash suffix).
    public static func uniqueName(table: String) -> String { Identifier.shorten(table + "_" + Unnester.idColumn + "_key") }

    /// The foreign key's name: `<table>__mend_parent_fkey`, shortened the same way.
    public static func foreignName(table: String) -> String { Identifier.shorten(table + "__mend_parent_fkey") }

    /// The table constraints of a CREATE TABLE, each identifier through `Identifier.quote`.
    public func constraints(table: String, schema: String?) -> [String] {
        let id = Identifier.quote(Unnester.idColumn)
        var out = ["CONSTRAINT \(Identifier.quote(Self.uniqueName(table: table))) UNIQUE (\(id))"]
        if let parent {
            out.append(
                "CONSTRAINT \(Identifier.quote(Self.foreignName(table: table))) FOREIGN KEY (\(Identifier.quote(Unnester.parentColumn))) "
                    + "REFERENCES \(Identifier.qualified(schema, parent)) (\(id)) DEFERRABLE INITIALLY DEFERRED")
        }
        return out
    }
}
