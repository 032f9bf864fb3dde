import MendCore

/// PostgreSQL's own types, as listed in pg_catalog. The lists are in PgCatalogTypes.swift,
/// generated from pg_type by scripts/gen_pg_catalog_types.sh.
enum PgCatalogTypes {
    /// Why a type of pg_catalog is not a column type a repair may add.
    enum Exclusion: String, Sendable {
        /// typcategory A: `_int4` and friends (write `int4[]`), int2vector, oidvector.
        case array
        /// typtype p, typcategory P or X: any, record, trigger, void, cstring, unknown, … (not storable).
        case pseudo
        /// typtype c: the row type of a system catalog or view (pg_class, pg_stat_activity, …).
        case catalogRow
        /// typcategory Z: internal-use types ("char", pg_node_tree, pg_ndistinct, pg_mcv_list, …).
        case internalUse
        /// Types pg_upgrade refuses in user tables: reg* types holding OIDs of other objects, aclitem.
        case blocksUpgrade
        /// Not defined, or not a base, range or multirange type.
        case other

        var reason: String {
            switch self {
            case .array: "an array type's internal name (write the element type with [])"
            case .pseudo: "a pseudo-type, which no column can have"
            case .catalogRow: "the row type of a system catalog"
            case .internalUse: "an internal-use type"
            case .blocksUpgrade: "a type pg_upgrade refuses in user tables"
            case .other: "not a base, range or multirange type"
            }
        }
    }

    /// Whether pg_catalog has a type of this name (any kind).
    static func contains(_ name: String) -> Bool { builtin.contains(name) || excluded[name] != nil }
}

/// A column type as PostgreSQL's parser names it: "pg_catalog.varchar(20)" -> base "varchar", mods [20].
///
/// The schema is the one PostgreSQL resolves the name to. The grammar writes its keyword spellings
/// (`int`, `integer`, `bigint`, `boolean`, `decimal`, `double precision`, `varchar`, …) as
/// pg_catalog-qualified names, so they arrive as `["pg_catalog", "int4"]`. Any other unqualified
/// name is looked up through search_path with pg_catalog searched first, so it resolves to
/// pg_catalog exactly when pg_catalog has a type of that name: `text` and `"text"` are the same
/// name to PostgreSQL (and to libpg_query's tree), and both are pg_catalog.text. A quoted `"int"`
/// is the plain name int, which pg_catalog does not have: it resolves to a user's type.
struct SQLType: Sendable, Equatable, CustomStringConvertible {
    /// "pg_catalog" for a catalog type (qualified or not); another schema as written; nil for an
    /// unqualified name pg_catalog does not have (a user type found through search_path).
    var schema: String?
    var base: String
    var mods: [Int]?  // nil when a modifier is not an integer constant
    var isArray: Bool

    init(schema: String?, base: String, mods: [Int]?, isArray: Bool) {
        self.schema = schema
        self.base = base
        self.mods = mods
        self.isArray = isArray
    }

    /// From a parse-tree TypeName node's fields.
    init?(typeName tn: PgJSON) {
        var names = tn["names"]?.stringList ?? []
        guard let last = names.popLast() else { return nil }
        // A two-part name is schema.type; PostgreSQL refuses three parts unless the first is the
        // current database, so keep the schema and let the rules treat it as a user type.
        let schema = names.last
        self.schema = schema ?? (PgCatalogTypes.contains(last) ? "pg_catalog" : nil)
        self.base = last
        let rawMods = tn["typmods"]?.array ?? []
        var mods: [Int] = []
        var ok = true
        for m in rawMods {
            guard let c = m.node, c.type == "A_Const" else { ok = false; break }
            // libpg_query omits a zero ival, so {"ival":{}} means 0.
            if let iv = c.fields["ival"] { mods.append(iv["ival"]?.int ?? 0) } else { ok = false; break }
        }
        self.mods = ok ? mods : nil
        self.isArray = !(tn["arrayBounds"]?.array ?? []).isEmpty
    }

    /// Names PostgreSQL expands into a sequence and a nextval() default. It matches them only
    /// unqualified (quoted or not), before any type lookup; none is a pg_catalog type.
    static let serialNames: Set<String> = ["serial", "serial4", "bigserial", "serial8", "smallserial", "serial2"]

    /// Types created by `serial`: they add a sequence and a nextval() default.
    var isSerial: Bool { schema == nil && Self.serialNames.contains(base) }

    /// A base, range or multirange type of pg_catalog that the repair path may add: it resolves to
    /// pg_catalog, so it carries no user's constraint, default or code.
    var isBuiltin: Bool { schema == "pg_catalog" && PgCatalogTypes.builtin.contains(base) }

    /// A type of pg_catalog that is not a built-in column type, and why.
    var catalogExclusion: PgCatalogTypes.Exclusion? {
        schema == "pg_catalog" && !isBuiltin ? PgCatalogTypes.excluded[base] ?? .other : nil
    }

    /// A type outside pg_catalog: a domain, enum, composite, range or base type someone created.
    var isUserType: Bool { schema != "pg_catalog" && !isSerial }

    var description: String {
        // Built-in types read as PostgreSQL prints them; any other is quoted, so `"int"` is not
        // mistaken for the keyword.
        var s = isBuiltin ? base : Identifier.qualified(schema, base)
        if let mods, !mods.isEmpty { s += "(" + mods.map(String.init).joined(separator: ",") + ")" }
        return s + (isArray ? "[]" : "")
    }
}

enum Widening {
    /// True when PostgreSQL can change `from` to `to` without rewriting the table
    /// (a binary-coercible relabel, or a typmod that only loosens).
    static func isBinaryCoercible(from: SQLType, to: SQLType) -> Bool {
        guard from.isBuiltin, to.isBuiltin, !from.isArray, !to.isArray,
            let fm = from.mods, let tm = to.mods
        else { return from == to && from.mods != nil }
        if from == to { return true }  // no-op change: no rewrite, only the lock
        switch (from.base, to.base) {
        case ("varchar", "text"), ("text", "text"):
            return true
        case ("varchar", "varchar"):
            if tm.isEmpty { return true }  // dropping the length limit
            guard let f = fm.first, let t = tm.first else { return false }
            return t >= f
        case ("text", "varchar"):
            return tm.isEmpty
        case ("numeric", "numeric"):
            if tm.isEmpty { return true }  // to unconstrained numeric
            guard fm.count >= 1, tm.count >= 1 else { return false }
            // Raising precision at the same scale keeps every stored value as is.
            let fs = fm.count > 1 ? fm[1] : 0
            let ts = tm.count > 1 ? tm[1] : 0
            return tm[0] >= fm[0] && ts == fs
        default:
            return false
        }
    }
}
