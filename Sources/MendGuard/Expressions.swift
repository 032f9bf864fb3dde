import Foundation

/// How a DEFAULT or USING expression behaves when PostgreSQL evaluates it.
enum ExprClass: Int, Comparable, Sendable {
    /// Literals, casts of literals to built-in types, arrays of literals, builtin operators on them.
    case constant
    /// Evaluated once but not a literal: now(), CURRENT_TIMESTAMP, column refs, known stable builtins.
    case nonConstant
    /// Volatile, unknown (user-defined, may have side effects) or a subquery.
    case volatile

    static func < (a: ExprClass, b: ExprClass) -> Bool { a.rawValue < b.rawValue }
}

struct ExprVerdict: Sendable {
    var cls: ExprClass
    var culprits: [String]  // function or construct names, for the reason text
}

enum Expressions {
    /// Builtins known to be volatile: a default using one is computed per existing row (a rewrite that
    /// writes data), and several have side effects of their own (nextval advances a sequence).
    static let volatileFunctions: Set<String> = [
        "random", "setseed", "gen_random_uuid", "uuid_generate_v1", "uuid_generate_v1mc", "uuid_generate_v4",
        "nextval", "setval", "currval", "lastval", "clock_timestamp", "timeofday", "txid_current",
        "pg_sleep", "set_config", "dblink", "dblink_exec", "lo_import", "lo_export", "lo_unlink",
        "pg_terminate_backend", "pg_cancel_backend", "pg_read_file", "pg_read_binary_file", "random_normal",
    ]

    /// Builtins known not to be volatile (immutable or stable) and free of side effects.
    static let stableFunctions: Set<String> = [
        "now", "transaction_timestamp", "statement_timestamp", "current_date", "localtimestamp",
        "lower", "upper", "length", "char_length", "concat", "concat_ws", "btrim", "ltrim", "rtrim", "trim",
        "substring", "substr", "replace", "left", "right", "lpad", "rpad", "md5", "abs", "round", "trunc",
        "floor", "ceil", "ceiling", "greatest", "least", "make_date", "make_time", "make_timestamp",
        "make_timestamptz", "make_interval", "date_trunc", "date_part", "extract", "to_char", "to_date",
        "to_timestamp", "to_number", "to_json", "to_jsonb", "json_build_object", "jsonb_build_object",
        "json_build_array", "jsonb_build_array", "array_length", "cardinality", "timezone", "jsonb_typeof",
        "nullif", "coalesce", "format", "split_part", "regexp_replace", "position", "overlay",
    ]

    /// Operators that are builtin on builtin types (user operators could call anything).
    static let builtinOperators: Set<String> = [
        "+", "-", "*", "/", "%", "^", "||", "=", "<>", "!=", "<", ">", "<=", ">=", "~~", "!~~", "~", "!~",
        "->", "->>", "#>", "#>>", "@>", "<@", "&", "|", "#", "<<", ">>", "~~*", "!~~*",
    ]

    static func classify(_ expr: PgJSON) -> ExprVerdict {
        var cls = ExprClass.constant
        var culprits: [String] = []
        func bump(_ c: ExprClass, _ what: String) {
            if c > .constant { culprits.append(what) }
            cls = max(cls, c)
        }
        func bumpType(_ t: SQLType?) {
            guard let t else { return bump(.volatile, "a cast to an unreadable type") }
            if t.isBuiltin { return }
            if t.catalogExclusion != nil {
                bump(.nonConstant, "a cast to \(t)")  // pg_catalog: no user code, but not a plain value type
            } else {
                bump(.volatile, "a cast to \(t), which is not a pg_catalog type (a domain's CHECK may call any function)")
            }
        }
        for (type, f) in expr.allNodes() {
            switch type {
            case "TypeCast":
                // A cast runs the target type's input or cast function, and a domain's CHECK may call
                // any function: only a cast to a built-in type keeps a literal constant.
                if let tn = f["typeName"] { bumpType(SQLType(typeName: tn)) }
            case "TypeName":
                bumpType(SQLType(typeName: f))  // wherever else a type is named (IS OF, XMLSERIALIZE, …)
            case "A_Const", "A_ArrayExpr", "String", "Integer", "Float", "Boolean",
                "List", "BoolExpr", "NullTest", "CaseExpr", "CaseWhen", "CoalesceExpr", "MinMaxExpr",
                "A_Indirection", "A_Indices", "CollateClause", "RowExpr", "BooleanTest", "BitString", "A_Star":
                break  // structure only; any function inside is visited on its own
            case "A_Expr":
                let ops = f["name"]?.stringList ?? []
                if ops.count != 1 || !builtinOperators.contains(ops[0]) {
                    bump(.volatile, "operator \(ops.joined(separator: "."))")
                }
            case "FuncCall":
                let names = f["funcname"]?.stringList ?? []
                let name = names.last ?? "?"
                let qualified = names.joined(separator: ".")
                let builtinSchema = names.count == 1 || names.first == "pg_catalog"
                if builtinSchema && stableFunctions.contains(name) {
                    bump(.nonConstant, "\(qualified)()")
                } else {
                    bump(.volatile, "\(qualified)()")  // known volatile, or volatility unknown
                }
            case "SQLValueFunction":
                bump(.nonConstant, "\(f["op"]?.string?.replacingOccurrences(of: "SVFOP_", with: "") ?? "SQL value function")")
            case "ColumnRef":
                bump(.nonConstant, "column reference")
            case "SubLink":
                bump(.volatile, "subquery")
            default:
                bump(.volatile, type)  // unknown construct: assume the worst
            }
        }
        return ExprVerdict(cls: cls, culprits: culprits)
    }
}
