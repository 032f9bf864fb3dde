import Foundation
import MendCore

/// Least privilege on PostgreSQL, enforced by PostgreSQL itself (see docs/security.md).
///
/// Ownership carries DROP and TRUNCATE with it, so neither working role owns anything:
/// - `owner` (NOLOGIN) owns the target tables, the state tables and five SECURITY
///   DEFINER functions that perform only the allowed changes, with typed arguments;
/// - `loader` may SELECT and INSERT into target tables and read/write Mend's state;
/// - `repair` may call the five functions, and read/write Mend's state; nothing else.
public struct PostgresRoles: Sendable {
    public var schema: String
    public var stateSchema: String
    public var owner: String
    public var loader: String
    public var loaderPassword: String
    public var repair: String
    public var repairPassword: String

    public init(
        schema: String, stateSchema: String, owner: String = "mend_owner", loader: String = "mend_loader",
        loaderPassword: String, repair: String = "mend_repair", repairPassword: String
    ) {
        self.schema = schema
        self.stateSchema = stateSchema
        self.owner = owner
        self.loader = loader
        self.loaderPassword = loaderPassword
        self.repair = repair
        self.repairPassword = repairPassword
    }

    /// A string literal for the few places PostgreSQL takes no bind parameter
    /// (CREATE ROLE … PASSWORD, function bodies): single quotes doubled, NUL dropped.
    static func literal(_ s: String) -> String {
        "'" + s.replacingOccurrences(of: "\0", with: "").replacingOccurrences(of: "'", with: "''") + "'"
    }

    /// The types the functions accept: exactly the lattice's PostgreSQL types.
    static var typeList: String { LogicalType.allCases.map { literal($0.postgresName) }.joined(separator: ", ") }

    /// Statements that create roles that do not exist yet (`existing` lists those that do).
    public func roleStatements(existing: Set<String>) -> [String] {
        var out: [String] = []
        let q = Identifier.quote
        if !existing.contains(owner) { out.append("CREATE ROLE \(q(owner)) NOLOGIN") }
        for (role, password) in [(loader, loaderPassword), (repair, repairPassword)] {
            out.append(
                existing.contains(role)
                    ? "ALTER ROLE \(q(role)) LOGIN PASSWORD \(Self.literal(password))"
                    : "CREATE ROLE \(q(role)) LOGIN PASSWORD \(Self.literal(password))")
        }
        return out
    }

    /// Everything after the roles exist and the state tables are bootstrapped.
    public func grantStatements(stateTables: [String], existingTargetTables: [String]) -> [String] {
        let q = Identifier.quote
        let s = q(schema)
        let m = q(stateSchema)
        let (o, l, r) = (q(owner), q(loader), q(repair))
        var out = [
            "CREATE SCHEMA IF NOT EXISTS \(s)",
            "CREATE SCHEMA IF NOT EXISTS \(m)",
            "GRANT USAGE, CREATE ON SCHEMA \(s) TO \(o)",
            "ALTER SCHEMA \(m) OWNER TO \(o)",
            "GRANT USAGE ON SCHEMA \(s) TO \(l), \(r)",
            "GRANT USAGE ON SCHEMA \(m) TO \(l), \(r)",
            "REVOKE CREATE ON SCHEMA \(s) FROM PUBLIC",
        ]
        for t in stateTables {
            out.append("ALTER TABLE \(m).\(q(t)) OWNER TO \(o)")
            out.append("GRANT SELECT, INSERT, UPDATE, DELETE ON \(m).\(q(t)) TO \(l), \(r)")
        }
        out.append("GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA \(m) TO \(l), \(r)")
        for t in existingTargetTables {
            out.append("ALTER TABLE \(s).\(q(t)) OWNER TO \(o)")
            out.append("GRANT SELECT, INSERT ON \(s).\(q(t)) TO \(l)")
            out.append("GRANT SELECT ON \(s).\(q(t)) TO \(r)")
        }
        out += functionStatements()
        return out
    }

    /// The five functions. Each checks its arguments against the allow-list and quotes
    /// every identifier with format('%I'); they run as the owner, so the repair role
    /// needs no privilege on the tables at all.
    func functionStatements() -> [String] {
        let q = Identifier.quote
        let m = q(stateSchema)
        let schemaLit = Self.literal(schema)
        let check = """
              IF p_schema <> \(schemaLit) THEN RAISE EXCEPTION 'mend: schema % is not the configured schema', p_schema USING ERRCODE = '42501'; END IF;
            """
        let typeCheck = """
              IF p_type NOT IN (\(Self.typeList)) THEN RAISE EXCEPTION 'mend: type % is not allowed', p_type USING ERRCODE = '42501'; END IF;
            """
        let owned = """
              IF NOT EXISTS (SELECT 1 FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                             WHERE n.nspname = p_schema AND c.relname = p_table AND c.relkind = 'r'
                               AND pg_get_userbyid(c.relowner) = \(Self.literal(owner))) THEN
                RAISE EXCEPTION 'mend: %.% is not a table Mend manages', p_schema, p_table USING ERRCODE = '42501';
              END IF;
            """
        let tableName = """
              IF p_table LIKE '\\_mend%' OR p_table !~ '^[a-z_][a-z0-9_]*$' THEN RAISE EXCEPTION 'mend: bad table name %', p_table USING ERRCODE = '42501'; END IF;
            """
        let columnList = """
              FOR col IN SELECT * FROM jsonb_array_elements(p_columns) LOOP
                IF (col->>'type') NOT IN (\(Self.typeList)) THEN RAISE EXCEPTION 'mend: type % is not allowed', col->>'type' USING ERRCODE = '42501'; END IF;
                defs := defs || CASE WHEN defs = '' THEN '' ELSE ', ' END || format('%I %s', col->>'name', col->>'type');
              END LOOP;
            """
        let grants = """
              EXECUTE format('GRANT SELECT, INSERT ON %I.%I TO %I', p_schema, p_table, \(Self.literal(loader)));
              EXECUTE format('GRANT SELECT ON %I.%I TO %I', p_schema, p_table, \(Self.literal(repair)));
            """
        // The keys of `foreign_keys: true` (D29): constraint names and the parent table are typed
        // arguments, checked here; the columns they cover are fixed (_mend_id, _mend_parent_id).
        let constraintName = { (arg: String) in
            """
              IF \(arg) !~ '^[a-z_][a-z0-9_]*$' OR octet_length(\(arg)) > \(Identifier.maxBytes) THEN RAISE EXCEPTION 'mend: bad constraint name %', \(arg) USING ERRCODE = '42501'; END IF;
            """
        }
        let parentOwned = owned.replacingOccurrences(of: "p_table", with: "p_parent")
        let id = Self.literal(Unnester.idColumn)
        let parentColumn = Self.literal(Unnester.parentColumn)
        return [
            """
            CREATE OR REPLACE FUNCTION \(m).mend_create_keyed_table(
              p_schema text, p_table text, p_columns jsonb, p_unique_name text, p_parent text, p_foreign_name text)
            RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $mend$
            DECLARE col jsonb; defs text := '';
            BEGIN
            \(check)\(tableName)\(constraintName("p_unique_name"))\(columnList)
              defs := defs || format(', CONSTRAINT %I UNIQUE (%I)', p_unique_name, \(id));
              IF p_parent IS NOT NULL THEN
            \(constraintName("p_foreign_name"))\(parentOwned)
                defs := defs || format(', CONSTRAINT %I FOREIGN KEY (%I) REFERENCES %I.%I (%I) DEFERRABLE INITIALLY DEFERRED',
                  p_foreign_name, \(parentColumn), p_schema, p_parent, \(id));
              END IF;
              EXECUTE format('CREATE TABLE %I.%I (%s)', p_schema, p_table, defs);
            \(grants)
            END $mend$
            """,
            """
            CREATE OR REPLACE FUNCTION \(m).mend_add_column(p_schema text, p_table text, p_column text, p_type text)
            RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $mend$
            BEGIN
            \(check)\(typeCheck)\(owned)
              EXECUTE format('ALTER TABLE %I.%I ADD COLUMN %I %s', p_schema, p_table, p_column, p_type);
            END $mend$
            """,
            """
            CREATE OR REPLACE FUNCTION \(m).mend_widen_column(p_schema text, p_table text, p_column text, p_type text)
            RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $mend$
            BEGIN
            \(check)\(typeCheck)\(owned)
              IF p_type NOT IN ('numeric', 'text', 'jsonb') THEN RAISE EXCEPTION 'mend: % is not a widening target', p_type USING ERRCODE = '42501'; END IF;
              EXECUTE format('ALTER TABLE %I.%I ALTER COLUMN %I TYPE %s', p_schema, p_table, p_column, p_type);
            END $mend$
            """,
            """
            CREATE OR REPLACE FUNCTION \(m).mend_create_table(p_schema text, p_table text, p_columns jsonb)
            RETURNS void LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $mend$
            DECLARE col jsonb; defs text := '';
            BEGIN
            \(check)\(tableName)\(columnList)
              EXECUTE format('CREATE TABLE %I.%I (%s)', p_schema, p_table, defs);
            \(grants)
            END $mend$
            """,
            """
            CREATE OR REPLACE FUNCTION \(m).mend_promote_field(p_schema text, p_table text, p_source text, p_column text, p_moves jsonb)
            RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog AS $mend$
            DECLARE t text; n bigint;
            BEGIN
            \(check)\(owned)
              IF p_column = \(Self.literal(Overflow.column)) THEN RAISE EXCEPTION 'mend: the overflow column is not a promotion target' USING ERRCODE = '42501'; END IF;
              SELECT format_type(a.atttypid, a.atttypmod) INTO t FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
                JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = p_schema AND c.relname = p_table AND a.attname = p_column AND a.attnum > 0 AND NOT a.attisdropped;
              IF t IS NULL THEN RAISE EXCEPTION 'mend: %.% has no column %', p_schema, p_table, p_column USING ERRCODE = '42501'; END IF;
              -- Only a move: the key leaves the overflow object of rows that hold it, into an empty cell.
              EXECUTE format('UPDATE %I.%I AS r SET %I = CAST(v.value AS %s), %I = NULLIF(r.%I - $1, ''{}''::jsonb) '
                  || 'FROM jsonb_to_recordset($2) AS v(row_id tid, value text) '
                  || 'WHERE r.ctid = v.row_id AND jsonb_exists(r.%I, $1) AND r.%I IS NULL',
                  p_schema, p_table, p_column, t, \(Self.literal(Overflow.column)), \(Self.literal(Overflow.column)),
                  \(Self.literal(Overflow.column)), p_column)
                USING p_source, p_moves;
              GET DIAGNOSTICS n = ROW_COUNT;
              RETURN n;
            END $mend$
            """,
            "REVOKE ALL ON FUNCTION \(m).mend_promote_field(text, text, text, text, jsonb) FROM PUBLIC",
            "ALTER FUNCTION \(m).mend_promote_field(text, text, text, text, jsonb) OWNER TO \(q(owner))",
            "GRANT EXECUTE ON FUNCTION \(m).mend_promote_field(text, text, text, text, jsonb) TO \(q(repair))",
            "REVOKE ALL ON FUNCTION \(m).mend_add_column(text, text, text, text) FROM PUBLIC",
            "REVOKE ALL ON FUNCTION \(m).mend_widen_column(text, text, text, text) FROM PUBLIC",
            "REVOKE ALL ON FUNCTION \(m).mend_create_table(text, text, jsonb) FROM PUBLIC",
            "ALTER FUNCTION \(m).mend_add_column(text, text, text, text) OWNER TO \(q(owner))",
            "ALTER FUNCTION \(m).mend_widen_column(text, text, text, text) OWNER TO \(q(owner))",
            "ALTER FUNCTION \(m).mend_create_table(text, text, jsonb) OWNER TO \(q(owner))",
            "GRANT EXECUTE ON FUNCTION \(m).mend_add_column(text, text, text, text) TO \(q(repair))",
            "GRANT EXECUTE ON FUNCTION \(m).mend_widen_column(text, text, text, text) TO \(q(repair))",
            "GRANT EXECUTE ON FUNCTION \(m).mend_create_table(text, text, jsonb) TO \(q(repair))",
            "REVOKE ALL ON FUNCTION \(m).mend_create_keyed_table(text, text, jsonb, text, text, text) FROM PUBLIC",
            "ALTER FUNCTION \(m).mend_create_keyed_table(text, text, jsonb, text, text, text) OWNER TO \(q(owner))",
            "GRANT EXECUTE ON FUNCTION \(m).mend_create_keyed_table(text, text, jsonb, text, text, text) TO \(q(repair))",
        ]
    }

    /// Applies everything as an admin connection, bootstrapping Mend's state first.
    public func apply(on warehouse: any Warehouse) async throws -> [String] {
        let state = StateStore(warehouse)
        let me = self
        return try await warehouse.transaction { s in
            var done: [String] = []
            let existing = Set(
                try await s.query(
                    "SELECT rolname::text FROM pg_roles WHERE rolname IN (?, ?, ?)", [.text(me.owner), .text(me.loader), .text(me.repair)]
                )
                .compactMap { $0.first?.string })
            for sql in me.roleStatements(existing: existing) {
                try await s.execute(sql)
                // Never echo a password back.
                if let r = sql.range(of: "PASSWORD") { done.append(String(sql[..<r.upperBound]) + " '…'") } else { done.append(sql) }
            }
            let tx = StateTransaction(store: state, session: s)
            try await tx.bootstrap()
            let stateTables = try await s.query(
                "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = ? AND c.relkind = 'r' ORDER BY 1",
                [.text(me.stateSchema)]
            ).compactMap { $0.first?.string }
            let targets = try await tx.managedTables()
            for sql in me.grantStatements(stateTables: stateTables, existingTargetTables: targets) {
                try await s.execute(sql)
                done.append(sql)
            }
            return done
        }
    }
}
