import MendCore

/// What the database's catalog says about the user types (types outside pg_catalog) that statements
/// may name: the `--db` side of the type rule. Without one, every user type is `high`; with one, a
/// type is judged by what it carries (a domain's constraints and default).
public struct GuardTypeCatalog: Sendable, Equatable {
    public enum Kind: String, Sendable, Codable {
        case base, composite, domain, enumeration, pseudo, range, multirange

        /// From pg_type.typtype.
        public init?(typtype: String) {
            switch typtype {
            case "b": self = .base
            case "c": self = .composite
            case "d": self = .domain
            case "e": self = .enumeration
            case "p": self = .pseudo
            case "r": self = .range
            case "m": self = .multirange
            default: return nil
            }
        }
    }

    /// One row of `GuardTypeCatalog.query`.
    public struct UserType: Sendable, Equatable {
        public var schema: String
        public var name: String
        public var kind: Kind
        /// Domain: its own NOT NULL (pg_type.typnotnull).
        public var notNull: Bool
        /// Domain: number of its own CHECK constraints.
        public var checks: Int
        /// Domain: its own DEFAULT, as `pg_get_expr(typdefaultbin, 0)` prints it.
        public var defaultExpression: String?
        /// Domain: the type it is over (schema, name).
        public var baseSchema: String?
        public var baseName: String?

        public init(
            schema: String, name: String, kind: Kind, notNull: Bool = false, checks: Int = 0, defaultExpression: String? = nil,
            baseSchema: String? = nil, baseName: String? = nil
        ) {
            self.schema = schema
            self.name = name
            self.kind = kind
            self.notNull = notNull
            self.checks = checks
            self.defaultExpression = defaultExpression
            self.baseSchema = baseSchema
            self.baseName = baseName
        }
    }

    /// The query whose rows (in this column order) build a catalog: every type outside pg_catalog,
    /// information_schema and pg_toast, array types excepted.
    public static let query = """
        SELECT n.nspname, t.typname, t.typtype::text, t.typnotnull,
               (SELECT count(*) FROM pg_catalog.pg_constraint c WHERE c.contypid = t.oid AND c.contype = 'c')::int,
               pg_catalog.pg_get_expr(t.typdefaultbin, 0), bn.nspname, b.typname
        FROM pg_catalog.pg_type t
        JOIN pg_catalog.pg_namespace n ON n.oid = t.typnamespace
        LEFT JOIN pg_catalog.pg_type b ON b.oid = t.typbasetype
        LEFT JOIN pg_catalog.pg_namespace bn ON bn.oid = b.typnamespace
        WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') AND t.typcategory <> 'A'
        """

    /// schema -> type name -> row, names as PostgreSQL stores them.
    public var types: [String: [String: UserType]]

    public init(_ rows: [UserType]) {
        var types: [String: [String: UserType]] = [:]
        for r in rows { types[r.schema, default: [:]][r.name] = r }
        self.types = types
    }

    /// What a type is once its domain chain is followed to the end.
    struct Resolved {
        var type: UserType
        /// The first type of the chain that is not a domain, as (schema, name); nil if unreadable.
        var root: (schema: String, name: String)?
        var rootKind: Kind?
        /// NOT NULL or CHECK constraints anywhere in the chain (a value must pass every one).
        var constraints: [String]
        /// The nearest DEFAULT in the chain (a domain without one uses its base domain's).
        var defaultExpression: String?
        var defaultOwner: String?
    }

    func resolve(schema: String, name: String) -> Resolved? {
        guard let first = types[schema]?[name] else { return nil }
        var r = Resolved(type: first, root: nil, rootKind: nil, constraints: [], defaultExpression: nil, defaultOwner: nil)
        var cur = first
        for _ in 0..<32 {  // domain chains are short; a bound keeps a malformed catalog from looping
            guard cur.kind == .domain else {
                r.root = (cur.schema, cur.name)
                r.rootKind = cur.kind
                return r
            }
            let label = Identifier.qualified(cur.schema, cur.name)
            if cur.notNull { r.constraints.append("NOT NULL (\(label))") }
            if cur.checks > 0 { r.constraints.append("\(cur.checks) CHECK (\(label))") }
            if r.defaultExpression == nil, let d = cur.defaultExpression {
                r.defaultExpression = d
                r.defaultOwner = label
            }
            guard let bs = cur.baseSchema, let bn = cur.baseName else { return r }
            if bs == "pg_catalog" {
                r.root = (bs, bn)
                return r
            }
            guard let next = types[bs]?[bn] else { return r }
            cur = next
        }
        return r
    }
}
