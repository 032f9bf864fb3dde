import MendCore

/// The type rule, one rule for every place a statement names a type: a type is built-in only when
/// it resolves to pg_catalog (see `SQLType`) and is on the generated list of base, range and
/// multirange types (`PgCatalogTypes.builtin`). Anything outside pg_catalog is a user type: `high`
/// without a catalog, and with one judged by what the catalog says it carries.
struct TypeRules {
    let types: GuardTypeCatalog?
    let defaultSchema: String

    static let useBuiltin =
        "Use a built-in type: the keyword spelling (int, bigint, boolean, numeric, …, unquoted) or a pg_catalog type such as text, jsonb or point."

    /// Findings for `ADD COLUMN column t` (also Mend's CREATE TABLE columns). Empty for a built-in type.
    func addColumn(_ t: SQLType, column col: String) -> [GuardFinding] {
        if t.isBuiltin || t.isSerial { return [] }
        if let why = t.catalogExclusion {
            return [
                GuardFinding(
                    rule: "add-column-catalog-type", risk: .high,
                    reason: "Column \(col) has type \(t), which is in pg_catalog but is \(why.reason), not a type repair adds.",
                    saferAlternative: Self.useBuiltin)
            ]
        }
        guard let types else {
            return [
                GuardFinding(
                    rule: "add-column-unknown-type", risk: .high,
                    reason:
                        "Column \(col) has type \(t), which \(Self.resolution(t)); a domain can carry its own NOT NULL, CHECK (which may call any function) or default, and no catalog was given to check it.",
                    saferAlternative: Self.useBuiltin + " Or judge the statement with the database's catalog (--db).")
            ]
        }
        let schema = t.schema ?? defaultSchema
        guard let r = types.resolve(schema: schema, name: t.base) else {
            return [
                GuardFinding(
                    rule: "add-column-unknown-type", risk: .high,
                    reason:
                        "Column \(col) has type \(t), which \(Self.resolution(t)), and the catalog has no type \(Identifier.qualified(schema, t.base)).",
                    saferAlternative: Self.useBuiltin)
            ]
        }
        let label = Identifier.qualified(r.type.schema, r.type.name)
        if !r.constraints.isEmpty {
            if t.isArray {
                // PostgreSQL checks an array's elements only when values are written, not on ADD COLUMN.
                return [
                    GuardFinding(
                        rule: "domain-constraint", risk: .forbidden,
                        reason:
                            "Column \(col) is an array of domain \(label) with \(r.constraints.joined(separator: ", ")): every value the pipeline writes runs them, and a CHECK may call any function.",
                        saferAlternative: "Use an array of the domain's base type; add the CHECK in a reviewed migration.")
                ]
            }
            return [constraintFinding(label, r, what: "ADD COLUMN \(col) checks every existing row (a full table rewrite")]
        }
        if let d = r.defaultExpression, !t.isArray {
            let v = Self.classifyDefault(d)
            if v.cls == .volatile {
                return [
                    GuardFinding(
                        rule: "volatile-default", risk: .forbidden,
                        reason:
                            "Column \(col) gets the DEFAULT \(d) of domain \(r.defaultOwner ?? label), which uses \(v.culprits.joined(separator: ", ")): volatile or of unknown volatility, evaluated for every existing row.",
                        saferAlternative:
                            "Add the column with the domain's base type, backfill it, and change its type in a reviewed migration.")
                ]
            }
            return [
                GuardFinding(
                    rule: "domain-default", risk: .high,
                    reason:
                        "Column \(col) has domain type \(label), whose DEFAULT \(d) (from \(r.defaultOwner ?? label)) fills every existing row: not a catalog-only change.",
                    saferAlternative: "Add the column with the domain's base type and no default, and backfill it in batches.")
            ]
        }
        let root = r.root.map { $0.schema == "pg_catalog" ? $0.name : Identifier.qualified($0.schema, $0.name) } ?? "?"
        let rootIsBuiltin = r.root.map { $0.schema == "pg_catalog" && PgCatalogTypes.builtin.contains($0.name) } ?? false
        if r.type.kind == .enumeration || (r.type.kind == .domain && (rootIsBuiltin || r.rootKind == .enumeration)) {
            let what = r.type.kind == .enumeration ? "an enum" : "a domain over \(root) without constraints or default"
            return [
                GuardFinding(
                    rule: "checked-user-type", risk: .low,
                    reason: "Column \(col)'s type \(label) is \(what) (checked in the catalog): adding it is catalog-only.")
            ]
        }
        let kind = r.type.kind == .domain ? "a domain over \(root)" : "a user-defined \(r.type.kind.rawValue) type"
        return [
            GuardFinding(
                rule: "add-column-unknown-type", risk: .high,
                reason:
                    "Column \(col)'s type \(label) is \(kind); the guard vouches only for enums and for domains without constraints or default over them or over built-in types.",
                saferAlternative: Self.useBuiltin)
        ]
    }

    /// Findings for `ALTER COLUMN column TYPE t` beyond the rewrite rules. Empty for a built-in type.
    func typeChangeTarget(_ t: SQLType, column col: String) -> [GuardFinding] {
        if t.isBuiltin { return [] }
        if let why = t.catalogExclusion {
            return [
                GuardFinding(
                    rule: "type-change-user-type", risk: .high,
                    reason: "Target type \(t) of \(col) is in pg_catalog but is \(why.reason), not a type repair changes to.",
                    saferAlternative: Self.useBuiltin)
            ]
        }
        let schema = t.schema ?? defaultSchema
        if let types, let r = types.resolve(schema: schema, name: t.base), !r.constraints.isEmpty {
            return [
                constraintFinding(
                    Identifier.qualified(r.type.schema, r.type.name), r,
                    what: "ALTER COLUMN \(col) TYPE checks every existing row (a rewrite")
            ]
        }
        let checked = types == nil ? "no catalog was given to check it" : "a change to it is never binary-coercible for the guard"
        return [
            GuardFinding(
                rule: "type-change-user-type", risk: .high,
                reason:
                    "Target type \(t) of \(col) \(Self.resolution(t)); a domain's CHECK is evaluated for every row, and \(checked).",
                saferAlternative: Self.useBuiltin)
        ]
    }

    private func constraintFinding(_ label: String, _ r: GuardTypeCatalog.Resolved, what: String) -> GuardFinding {
        GuardFinding(
            rule: "domain-constraint", risk: .forbidden,
            reason:
                "Type \(label) is a domain with \(r.constraints.joined(separator: ", ")): \(what) under ACCESS EXCLUSIVE); NOT NULL fails on existing rows and a CHECK may call any function, which then runs once per row.",
            saferAlternative:
                "Add the column with the domain's base type, backfill it, and move it to the domain (or add the CHECK NOT VALID) in a reviewed migration."
        )
    }

    /// How PostgreSQL finds a user type, for the reason text.
    static func resolution(_ t: SQLType) -> String {
        if let s = t.schema { return "names schema \(Identifier.quote(s)), not pg_catalog" }
        var s = "is not a name pg_catalog has, so PostgreSQL looks it up through search_path as a user's type"
        if let keyword = keywordMeaning(t.base) {
            s += " (unquoted, \(t.base) is the keyword for pg_catalog.\(keyword); quoted, it is only a name)"
        }
        return s
    }

    /// The pg_catalog type a name means when written unquoted, if the grammar makes it a keyword type.
    static func keywordMeaning(_ name: String) -> String? {
        guard let first = name.unicodeScalars.first, ("a"..."z").contains(first) || first == "_",
            name.unicodeScalars.allSatisfy({ ("a"..."z").contains($0) || ("0"..."9").contains($0) || $0 == "_" }),
            let t = PgParser.parseTypeName(name), t.isBuiltin, t.base != name
        else { return nil }
        return t.base
    }

    /// A domain's DEFAULT, as the catalog prints it, classified like a DEFAULT clause.
    static func classifyDefault(_ text: String) -> ExprVerdict {
        guard let stmts = try? PgParser.parse("SELECT (\(text))"), stmts.count == 1, stmts[0].type == "SelectStmt",
            let val = stmts[0].fields["targetList"]?.array.first?.node?.fields["val"]
        else { return ExprVerdict(cls: .volatile, culprits: ["an unreadable expression"]) }
        return Expressions.classify(val)
    }
}
