/// A column type as PostgreSQL's parser spells it: "pg_catalog.varchar(20)" -> base "varchar", mods [20].
struct SQLType: Sendable, Equatable, CustomStringConvertible {
    var schema: String?  // nil for builtins (pg_catalog or unqualified)
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
        let schema = names.last
        self.schema = schema == "pg_catalog" ? nil : schema
        // Non-keyword spellings come through unqualified; fold the common aliases.
        self.base = Self.aliases[last] ?? last
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

    static let aliases: [String: String] = [
        "int": "int4", "integer": "int4", "bigint": "int8", "smallint": "int2",
        "serial4": "serial", "serial8": "bigserial", "serial2": "smallserial",
        "float": "float8", "real": "float4", "decimal": "numeric", "boolean": "bool",
    ]

    /// Types created by `serial`: they add a sequence and a nextval() default.
    var isSerial: Bool { schema == nil && ["serial", "bigserial", "smallserial"].contains(base) }

    /// Builtin scalar types the repair path may add; anything else (domains, enums, user types) could
    /// carry constraints or defaults of its own.
    var isKnownBuiltin: Bool {
        schema == nil && Self.builtins.contains(base)
    }

    static let builtins: Set<String> = [
        "int2", "int4", "int8", "float4", "float8", "numeric", "text", "varchar", "bpchar", "bool",
        "date", "time", "timetz", "timestamp", "timestamptz", "interval", "uuid", "json", "jsonb",
        "bytea", "inet", "cidr", "macaddr", "money", "bit", "varbit", "xml", "tsvector", "citext",
    ]

    var description: String {
        var s = (schema.map { "\($0)." } ?? "") + base
        if let mods, !mods.isEmpty { s += "(" + mods.map(String.init).joined(separator: ",") + ")" }
        return s + (isArray ? "[]" : "")
    }
}

enum Widening {
    /// True when PostgreSQL can change `from` to `to` without rewriting the table
    /// (a binary-coercible relabel, or a typmod that only loosens).
    static func isBinaryCoercible(from: SQLType, to: SQLType) -> Bool {
        guard from.schema == nil, to.schema == nil, !from.isArray, !to.isArray,
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
