public import MendCore

/// Decides whether an SQL string may run on Mend's repair path.
///
/// Every decision is made on PostgreSQL's own parse tree (libpg_query), never on the text, so
/// comments, dollar quotes and U& escapes cannot make the guard see a different statement than
/// the server would run.
public struct SQLGuard: Sendable {
    public let context: GuardContext?
    /// User types from the database's catalog; `nil` makes every type outside pg_catalog `high`.
    public let types: GuardTypeCatalog?

    /// `nil` context judges the SQL alone: no managed-table, allowed-schema or column-type checks.
    /// `types` (read with `GuardTypeCatalog.query`) lets user types be checked instead of refused.
    public init(context: GuardContext? = nil, types: GuardTypeCatalog? = nil) {
        self.context = context
        self.types = types
    }

    /// Judge a string that must be exactly one statement (the repair path).
    public func judge(_ sql: String) -> GuardVerdict {
        let stmts: [ParsedStatement]
        do {
            stmts = try PgParser.parse(sql)
        } catch {
            return Self.errorVerdict(sql, error)
        }
        switch stmts.count {
        case 0:
            return GuardVerdict(
                sql: sql, statementKind: "empty",
                findings: [
                    GuardFinding(
                        rule: "empty-statement", risk: .forbidden,
                        reason: "The text contains no SQL statement (only whitespace or comments).")
                ])
        case 1:
            return judge(statement: stmts[0], sql: sql)
        default:
            // Judged as a whole: one refused statement is enough, and even all-allowed pieces are
            // refused because the repair path executes exactly one reviewed statement.
            let kinds = stmts.map(\.type).joined(separator: ", ")
            let lead = GuardFinding(
                rule: "multi-statement", risk: .forbidden,
                reason: "The text holds \(stmts.count) statements (\(kinds)); the repair path runs exactly one.",
                saferAlternative: "Submit each statement separately so each one is judged on its own.")
            let inner = stmts.flatMap { judge(statement: $0, sql: $0.text).findings }
            return GuardVerdict(sql: sql, statementKind: "multi_statement", findings: [lead] + inner)
        }
    }

    /// Lint a script: one verdict per statement, split by the parser. A parse error yields a single
    /// forbidden verdict carrying the parser's message.
    public func lint(_ sql: String) -> [GuardVerdict] {
        do {
            return try PgParser.parse(sql).map { judge(statement: $0, sql: $0.text) }
        } catch {
            return [Self.errorVerdict(sql, error)]
        }
    }

    static func errorVerdict(_ sql: String, _ error: GuardError) -> GuardVerdict {
        let finding: GuardFinding
        switch error {
        case .parse:
            finding = GuardFinding(
                rule: "parse-error", risk: .forbidden,
                reason: "PostgreSQL's parser rejected the text: \(error.description).",
                saferAlternative: "Fix the syntax; the guard only judges SQL that PostgreSQL itself can parse.")
        case .nulByte:
            finding = GuardFinding(
                rule: "nul-byte", risk: .forbidden,
                reason: "The text contains a NUL byte, which would hide everything after it from the parser.",
                saferAlternative: "Remove the NUL byte.")
        case .decode:
            finding = GuardFinding(
                rule: "parse-error", risk: .forbidden, reason: "The parse tree could not be read: \(error.description).")
        }
        return GuardVerdict(sql: sql, statementKind: "parse_error", findings: [finding])
    }

    func judge(statement s: ParsedStatement, sql: String) -> GuardVerdict {
        let findings: [GuardFinding]
        if s.type == "AlterTableStmt" {
            findings = AlterTableRules(context: context, types: types).judge(s.fields)
        } else if s.type == "CreateStmt" {
            findings = AlterTableRules(context: context, types: types).judgeCreate(s.fields)
        } else {
            findings = StatementRules.refuse(type: s.type, fields: s.fields)
        }
        return GuardVerdict(sql: sql, statementKind: s.type, findings: findings)
    }
}
