import Foundation
import MendCore

/// ALTER TABLE: the only statement the repair path may run, and only for ADD COLUMN and
/// ALTER COLUMN … TYPE on a managed table in an allowed schema.
struct AlterTableRules {
    let context: GuardContext?
    /// User types from the catalog, when the caller has one (`mend check-sql --db`).
    var types: GuardTypeCatalog? = nil

    var typeRules: TypeRules { TypeRules(types: types, defaultSchema: context?.defaultSchema ?? "public") }

    /// Schemas no repair may ever touch, even without a context: the catalogs and Mend's own state.
    static let systemSchemas: Set<String> = ["pg_catalog", "information_schema", "pg_toast", "_mend"]

    static let backfill =
        "Add the column as nullable without a default, backfill it in batches, and add the constraint or default in a reviewed migration."

    func judge(_ f: PgJSON) -> [GuardFinding] {
        let objtype = f["objtype"]?.string ?? "OBJECT_TABLE"
        guard objtype == "OBJECT_TABLE" else {
            let what = objtype.replacingOccurrences(of: "OBJECT_", with: "").replacingOccurrences(of: "_", with: " ")
            return [
                GuardFinding(
                    rule: "not-allow-listed", risk: .forbidden,
                    reason: "ALTER \(what) is not on the allow-list; only ALTER TABLE is.")
            ]
        }
        let relation = f["relation"] ?? .null
        let rel = relation["relname"]?.string ?? ""
        let schema = relation["schemaname"]?.string ?? context?.defaultSchema
        var findings = relationFindings(relation: relation, rel: rel, schema: schema)
        let cmds = f["cmds"]?.array ?? []
        for cmd in cmds {
            guard let node = cmd.node, node.type == "AlterTableCmd" else {
                findings.append(GuardFinding(rule: "not-allow-listed", risk: .forbidden, reason: "Unexpected ALTER TABLE command."))
                continue
            }
            findings += command(node.fields, table: TableRef(schema: schema, rel: rel))
        }
        return findings
    }

    /// CREATE TABLE is allowed only for the bootstrap of a table Mend is about to manage
    /// (the caller lists it in the context): plain nullable columns of builtin types,
    /// nothing else. Without a context there is nothing to vouch for it.
    func judgeCreate(_ f: PgJSON) -> [GuardFinding] {
        let notAllowed = GuardFinding(
            rule: "not-allow-listed", risk: .forbidden,
            reason:
                "CreateStmt is not on the allow-list (only ALTER TABLE … ADD COLUMN and ALTER COLUMN … TYPE are, plus Mend's own CREATE TABLE of a table it manages)."
        )
        guard context != nil else { return [notAllowed] }
        let relation = f["relation"] ?? .null
        let rel = relation["relname"]?.string ?? ""
        let schema = relation["schemaname"]?.string ?? context?.defaultSchema
        var findings = relationFindings(relation: relation, rel: rel, schema: schema)
        if !findings.isEmpty { return findings }
        if relation["relpersistence"]?.string.map({ $0 != "p" }) ?? false {
            findings.append(
                GuardFinding(rule: "create-table-shape", risk: .forbidden, reason: "Only permanent tables are created by Mend."))
        }
        for key in ["inhRelations", "partbound", "partspec", "ofTypename", "constraints", "options", "tablespacename", "accessMethod"]
        where f[key] != nil && f[key] != .null && f[key]?.array.isEmpty != true {
            findings.append(
                GuardFinding(
                    rule: "create-table-shape", risk: .forbidden,
                    reason: "CREATE TABLE with \(key) is not what Mend writes; only plain column lists are allowed."))
        }
        let t = TableRef(schema: schema, rel: rel)
        let elements = f["tableElts"]?.array ?? []
        let columnNames = Set(elements.compactMap { $0.node?.type == "ColumnDef" ? $0.node?.fields["colname"]?.string : nil })
        var keys: [String] = []
        for elt in elements {
            if let node = elt.node, node.type == "Constraint" {
                switch tableKey(node.fields, columns: columnNames) {
                case .allowed(let what): keys.append(what)
                case .refused(let finding): findings.append(finding)
                }
                continue
            }
            guard let node = elt.node, node.type == "ColumnDef" else {
                findings.append(
                    GuardFinding(
                        rule: "create-table-shape", risk: .forbidden,
                        reason: "LIKE is not allowed in Mend's CREATE TABLE."))
                continue
            }
            findings += addColumn(node.fields, table: t).filter { $0.risk > .low }
        }
        if findings.isEmpty {
            findings.append(
                GuardFinding(
                    rule: "create-managed-table", risk: .low,
                    reason: "New table \(t.display) with nullable columns only"
                        + (keys.isEmpty ? "" : ", \(keys.joined(separator: " and ")): the new table is empty, so nothing is validated")
                        + ": nothing existing changes."))
        }
        return findings
    }

    private enum KeyVerdict {
        case allowed(String)
        case refused(GuardFinding)
    }

    /// The only table constraints Mend's CREATE TABLE may carry (`foreign_keys: true`, D29):
    /// `UNIQUE (_mend_id)`, and `FOREIGN KEY (_mend_parent_id) REFERENCES <managed table> (_mend_id)
    /// DEFERRABLE INITIALLY DEFERRED` with no action, on columns the statement defines. On a new,
    /// empty table neither validates a row; ADD CONSTRAINT on an existing table stays refused.
    private func tableKey(_ c: PgJSON, columns: Set<String>) -> KeyVerdict {
        let shape = GuardFinding(
            rule: "create-table-shape", risk: .forbidden,
            reason:
                "Mend's CREATE TABLE takes only UNIQUE (_mend_id) and FOREIGN KEY (_mend_parent_id) REFERENCES a managed table (_mend_id) DEFERRABLE INITIALLY DEFERRED as table constraints.",
            saferAlternative: "Other constraints go through a reviewed migration.")
        let kind = c["contype"]?.string ?? ""
        let common: Set<String> = ["contype", "conname", "location", "deferrable", "initdeferred"]
        let allowed: Set<String> =
            kind == "CONSTR_UNIQUE"
            ? common.union(["keys"])
            : common.union(["pktable", "fk_attrs", "pk_attrs", "fk_matchtype", "fk_upd_action", "fk_del_action", "initially_valid"])
        guard case .object(let fields) = c else { return .refused(shape) }
        // Anything else set (INCLUDE, WITH, USING INDEX TABLESPACE, NULLS NOT DISTINCT, ON DELETE SET … columns) is refused.
        for (key, value) in fields where !allowed.contains(key) {
            let unset: Bool =
                switch value {
                case .null: true
                case .bool(let b): !b
                case .number(let d): d == 0
                case .string(let t): t.isEmpty
                case .array(let a): a.isEmpty
                case .object: false
                }
            if !unset { return .refused(shape) }
        }
        let id = Unnester.idColumn
        switch kind {
        case "CONSTR_UNIQUE":
            guard c["keys"]?.stringList == [id], columns.contains(id) else { return .refused(shape) }
            return .allowed("a UNIQUE \(id)")
        case "CONSTR_FOREIGN":
            let parent = Unnester.parentColumn
            guard c["fk_attrs"]?.stringList == [parent], c["pk_attrs"]?.stringList == [id], columns.contains(parent),
                c["deferrable"]?.bool == true, c["initdeferred"]?.bool == true,
                (c["fk_matchtype"]?.string ?? "s") == "s", (c["fk_upd_action"]?.string ?? "a") == "a",
                (c["fk_del_action"]?.string ?? "a") == "a"
            else { return .refused(shape) }
            let target = c["pktable"] ?? .null
            let rel = target["relname"]?.string ?? ""
            let refused = relationFindings(relation: target, rel: rel, schema: target["schemaname"]?.string ?? context?.defaultSchema)
            if let first = refused.first { return .refused(first) }
            return .allowed("a deferrable foreign key from \(parent) to \(rel).\(id)")
        default:
            return .refused(shape)
        }
    }

    struct TableRef {
        var schema: String?
        var rel: String
        var display: String { (schema.map { "\($0)." } ?? "") + rel }
    }

    /// Whether a context entry ("schema.table", split at the first dot, or bare "table" in the
    /// default schema) names this table. Compared as a (schema, table) pair, so a quoted
    /// "public.events" in schema public is not mistaken for public.events.
    private func names(_ entry: String, _ t: TableRef) -> Bool {
        guard let ctx = context else { return false }
        let schema = t.schema ?? ctx.defaultSchema
        if let dot = entry.firstIndex(of: ".") {
            return entry[..<dot] == schema && entry[entry.index(after: dot)...] == t.rel
        }
        return entry == t.rel && schema == ctx.defaultSchema
    }

    /// Current column types of this table from the context, if listed.
    private func columnTypes(_ t: TableRef) -> [String: String] {
        context?.columnTypes.first { names($0.key, t) }?.value ?? [:]
    }

    private func relationFindings(relation: PgJSON, rel: String, schema: String?) -> [GuardFinding] {
        let safer = "Only tables Mend manages, in the schemas it is configured for, can be repaired."
        func refuse(_ rule: String, _ reason: String) -> [GuardFinding] {
            [GuardFinding(rule: rule, risk: .forbidden, reason: reason, saferAlternative: safer)]
        }
        if let db = relation["catalogname"]?.string {
            return refuse("schema-not-allowed", "Three-part name \(db).\(schema ?? "").\(rel) names another database.")
        }
        // Resolved names (after U& escapes and case folding) are compared, never the raw text.
        if let s = relation["schemaname"]?.string, Self.systemSchemas.contains(s) || s.hasPrefix("pg_") {
            return refuse("schema-not-allowed", "Schema \"\(s)\" holds system or Mend state and is never altered.")
        }
        if relation["schemaname"]?.string == nil, rel.hasPrefix("pg_") {
            // pg_catalog is searched first, so an unqualified pg_* name may resolve to a catalog table.
            return refuse("schema-not-allowed", "Unqualified \"\(rel)\" may resolve to the system catalog pg_catalog.")
        }
        guard let ctx = context else { return [] }
        let allowed = ctx.allowedSchemas.isEmpty ? [ctx.defaultSchema] : ctx.allowedSchemas
        let s = schema ?? ctx.defaultSchema
        if !allowed.contains(s) {
            return refuse(
                "schema-not-allowed",
                "Table \"\(s)\".\"\(rel)\" is in schema \"\(s)\", which is not among the allowed schemas (\(allowed.sorted().joined(separator: ", ")))."
            )
        }
        let t = TableRef(schema: s, rel: rel)
        if !ctx.managedTables.isEmpty, !ctx.managedTables.contains(where: { names($0, t) }) {
            return refuse(
                "unmanaged-table",
                "Table \"\(s)\".\"\(rel)\" (name as PostgreSQL resolves it) is not managed by Mend.")
        }
        return []
    }

    private func command(_ c: PgJSON, table: TableRef) -> [GuardFinding] {
        let sub = c["subtype"]?.string ?? "?"
        func forbid(_ rule: String, _ reason: String, _ safer: String? = nil) -> [GuardFinding] {
            [GuardFinding(rule: rule, risk: .forbidden, reason: reason, saferAlternative: safer)]
        }
        let col = c["name"]?.string ?? ""
        switch sub {
        case "AT_AddColumn":
            guard let def = c["def"]?.node, def.type == "ColumnDef" else {
                return forbid("not-allow-listed", "ADD COLUMN without a column definition.")
            }
            return addColumn(def.fields, table: table)
        case "AT_AlterColumnType":
            guard let def = c["def"]?.node, def.type == "ColumnDef" else {
                return forbid("not-allow-listed", "ALTER COLUMN TYPE without a type.")
            }
            return TypeChangeRule(columnTypes: columnTypes(table), typeRules: typeRules).judge(
                column: col, def: def.fields, table: table.display)
        case "AT_DropColumn":
            return forbid(
                "drop-column", "DROP COLUMN \(col) destroys the column's data irreversibly.",
                "Stop writing the column and leave it; a human can drop it in a reviewed migration.")
        case "AT_DropConstraint":
            return forbid(
                "drop-constraint", "DROP CONSTRAINT \(col) removes a guarantee other code relies on.",
                "Constraint changes go through a reviewed migration.")
        case "AT_SetNotNull":
            return forbid(
                "set-not-null", "SET NOT NULL on \(col) scans the whole table under ACCESS EXCLUSIVE and fails on existing NULLs.",
                "Add a CHECK (\(col) IS NOT NULL) NOT VALID constraint, VALIDATE it, then SET NOT NULL, in a reviewed migration.")
        case "AT_AddConstraint", "AT_AddIndex", "AT_AddIndexConstraint":
            return forbid(
                "add-constraint", "ADD CONSTRAINT validates every row under a strong lock and may reject existing data.",
                "Add it NOT VALID and VALIDATE CONSTRAINT separately (or CREATE INDEX CONCURRENTLY first) in a reviewed migration.")
        case "AT_ChangeOwner":
            return forbid(
                "owner-change", "OWNER TO hands full control of the table to another role.",
                "Ownership is a database administrator's decision.")
        case "AT_SetTableSpace":
            return forbid(
                "set-tablespace", "SET TABLESPACE rewrites the table under an ACCESS EXCLUSIVE lock.",
                "Move tables in a maintenance window, not through repair.")
        case "AT_ClusterOn", "AT_DropCluster":
            return forbid("cluster", "CLUSTER settings are maintenance, not repair.")
        default:
            let what = sub.replacingOccurrences(of: "AT_", with: "")
            return forbid(
                "not-allow-listed", "ALTER TABLE subcommand \(what) is not on the allow-list (only ADD COLUMN and ALTER COLUMN TYPE are).",
                "Ask a human to apply it through a reviewed migration.")
        }
    }

    private func addColumn(_ d: PgJSON, table: TableRef) -> [GuardFinding] {
        let col = d["colname"]?.string ?? "?"
        var out: [GuardFinding] = []
        // Findings about the type itself; a low one (a user type checked in the catalog) goes last.
        var typeFindings: [GuardFinding] = []
        let type = d["typeName"].flatMap(SQLType.init(typeName:))
        if let type, type.isSerial {
            out.append(
                GuardFinding(
                    rule: "volatile-default", risk: .forbidden,
                    reason:
                        "Column \(col) of type \(type.base) creates a sequence and a nextval() default evaluated for every existing row (a rewrite that writes data).",
                    saferAlternative:
                        "Add a nullable bigint column, backfill it in batches, and attach an identity in a reviewed migration."))
        } else if let type {
            typeFindings = typeRules.addColumn(type, column: col)
        } else {
            out.append(
                GuardFinding(
                    rule: "add-column-unknown-type", risk: .high, reason: "Column \(col) has a type the guard cannot read.",
                    saferAlternative: TypeRules.useBuiltin))
        }
        var defaults: [PgJSON] = []
        for raw in d["raw_default"].map({ [$0] }) ?? [] { defaults.append(raw) }
        for c in d["constraints"]?.array ?? [] {
            guard let con = c.node, con.type == "Constraint" else { continue }
            let kind = con.fields["contype"]?.string ?? "?"
            switch kind {
            case "CONSTR_NULL":
                continue
            case "CONSTR_DEFAULT":
                if let e = con.fields["raw_expr"] { defaults.append(e) }
            case "CONSTR_NOTNULL":
                out.append(
                    GuardFinding(
                        rule: "add-column-not-null", risk: .forbidden,
                        reason:
                            "ADD COLUMN \(col) … NOT NULL fails on a non-empty table without a default, and with one it fixes a value for every existing row.",
                        saferAlternative: Self.backfill))
            case "CONSTR_GENERATED", "CONSTR_IDENTITY":
                let what = kind == "CONSTR_IDENTITY" ? "IDENTITY" : "GENERATED … STORED"
                out.append(
                    GuardFinding(
                        rule: "add-column-generated", risk: .forbidden,
                        reason:
                            "ADD COLUMN \(col) \(what) computes a value for every existing row: a full table rewrite under ACCESS EXCLUSIVE.",
                        saferAlternative: Self.backfill))
            default:
                let what =
                    [
                        "CONSTR_PRIMARY": "PRIMARY KEY", "CONSTR_UNIQUE": "UNIQUE", "CONSTR_CHECK": "CHECK",
                        "CONSTR_FOREIGN": "REFERENCES", "CONSTR_EXCLUSION": "EXCLUDE",
                    ][kind] ?? kind.replacingOccurrences(of: "CONSTR_", with: "")
                out.append(
                    GuardFinding(
                        rule: "add-column-constraint", risk: .forbidden,
                        reason:
                            "ADD COLUMN \(col) … \(what) builds an index or validates rows under a strong lock, and can fail on existing data.",
                        saferAlternative: Self.backfill))
            }
        }
        let version = context?.serverVersionNum ?? 150000
        for e in defaults {
            let v = Expressions.classify(e)
            let what = v.culprits.joined(separator: ", ")
            switch v.cls {
            case .volatile:
                out.append(
                    GuardFinding(
                        rule: "volatile-default", risk: .forbidden,
                        reason:
                            "DEFAULT of \(col) uses \(what): volatile or of unknown volatility, so PostgreSQL evaluates it for every existing row (a rewrite that writes data, with possible side effects).",
                        saferAlternative:
                            "Add the column without a default, backfill it in batches, then SET DEFAULT (new rows only) in a reviewed migration."
                    ))
            case .nonConstant:
                out.append(
                    GuardFinding(
                        rule: "non-constant-default", risk: .high,
                        reason: "DEFAULT of \(col) is not a constant (\(what)); Mend does not prove such expressions are rewrite-free.",
                        saferAlternative: "Add the column without a default and backfill it, or use a literal default."))
            case .constant where Self.isNull(e):
                break
            case .constant where version < 110000:
                out.append(
                    GuardFinding(
                        rule: "adding-field-with-default", risk: .high,
                        reason:
                            "Before PostgreSQL 11 any DEFAULT on ADD COLUMN rewrites the table under ACCESS EXCLUSIVE (server is \(version)).",
                        saferAlternative: "Add the column without a default, backfill in batches, then SET DEFAULT."))
            case .constant:
                out.append(
                    GuardFinding(
                        rule: "adding-column-with-constant-default", risk: .low,
                        reason: "Constant DEFAULT on ADD COLUMN \(col) is stored in the catalog (PostgreSQL 11+): no rewrite."))
            }
        }
        out = typeFindings.filter { $0.risk > .low } + out
        if out.isEmpty {
            out.append(
                GuardFinding(
                    rule: "adding-nullable-column", risk: .low,
                    reason: "Nullable ADD COLUMN \(col) without a volatile default is a catalog-only change on \(table.display)."))
        }
        return out + typeFindings.filter { $0.risk <= .low }
    }

    /// `DEFAULT NULL` (possibly cast) stores nothing, so it is fine on any version.
    static func isNull(_ e: PgJSON) -> Bool {
        guard let n = e.node else { return false }
        if n.type == "A_Const" { return n.fields["isnull"]?.bool == true }
        if n.type == "TypeCast", let arg = n.fields["arg"] { return isNull(arg) }
        return false
    }
}

/// ALTER COLUMN … TYPE: medium when PostgreSQL only relabels (binary-coercible widening), high otherwise.
struct TypeChangeRule {
    /// column -> current type of the altered table, from the context.
    let columnTypes: [String: String]
    let typeRules: TypeRules

    static let rewriteAlternative =
        "Add a new column of the target type, backfill it in batches, and switch readers over with a view; retire the old column in a reviewed migration."

    func judge(column: String, def: PgJSON, table: String) -> [GuardFinding] {
        guard let target = def["typeName"].flatMap(SQLType.init(typeName:)) else {
            return [
                GuardFinding(
                    rule: "changing-column-type", risk: .high, reason: "Unreadable target type.", saferAlternative: Self.rewriteAlternative)
            ]
        }
        // A user type as the target comes first: its rule is the reason a human reads.
        var out = typeRules.typeChangeTarget(target, column: column)
        if let using = def["raw_default"] {
            let v = Expressions.classify(using)
            if v.cls == .volatile {
                out.append(
                    GuardFinding(
                        rule: "volatile-using", risk: .forbidden,
                        reason:
                            "USING of \(column) calls \(v.culprits.joined(separator: ", ")), which is volatile or of unknown volatility, once per row.",
                        saferAlternative: Self.rewriteAlternative))
            }
            out.append(
                GuardFinding(
                    rule: "changing-column-type", risk: .high,
                    reason: "ALTER COLUMN \(column) TYPE \(target) USING … recomputes every row: a full rewrite under ACCESS EXCLUSIVE.",
                    saferAlternative: Self.rewriteAlternative))
            return out
        }
        if def["collClause"] != nil {
            return out + [
                GuardFinding(
                    rule: "changing-column-type", risk: .high,
                    reason: "Changing the collation of \(column) rebuilds its indexes under ACCESS EXCLUSIVE.",
                    saferAlternative: Self.rewriteAlternative)
            ]
        }
        let sourceText = columnTypes[column]
        guard let sourceText, let source = PgParser.parseTypeName(sourceText) else {
            return out + [
                GuardFinding(
                    rule: "type-change-unknown-source", risk: .high,
                    reason:
                        "The current type of \(table).\(column) is unknown to the guard, so TYPE \(target) must be assumed to rewrite the table.",
                    saferAlternative: "Provide the column's current type in the guard context, or use add-column/backfill/view.")
            ]
        }
        if Widening.isBinaryCoercible(from: source, to: target) {
            return out + [
                GuardFinding(
                    rule: "binary-coercible-type-change", risk: .medium,
                    reason:
                        "\(source) → \(target) on \(table).\(column) is binary-coercible: no rewrite, but a brief ACCESS EXCLUSIVE lock and dependent views/plans see a new type.",
                    saferAlternative: "Run it with a short lock_timeout so it gives up instead of queueing behind long transactions.")
            ]
        }
        return out + [
            GuardFinding(
                rule: "changing-column-type", risk: .high,
                reason: "\(source) → \(target) on \(table).\(column) rewrites the table (and its indexes) under ACCESS EXCLUSIVE.",
                saferAlternative: Self.rewriteAlternative)
        ]
    }
}
