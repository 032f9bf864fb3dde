public import MendCore
import MendGuard
import MendStore

/// Judges a compiled repair statement. Implemented over PostgreSQL's parser by MendGuard.
public protocol StatementJudge: Sendable {
    func judge(_ sql: String, context: JudgeContext) -> GuardVerdict
}

public struct JudgeContext: Sendable {
    public var dialect: SQLDialect
    public var schema: String
    public var managedTables: Set<String>
    public var columnTypes: [String: [String: String]]
}

/// The statement judge over PostgreSQL's parser (MendGuard), used on both databases:
/// the SQLite DDL Mend compiles is also valid PostgreSQL syntax, and SQLite adds its
/// own authorizer as a second, independent check.
public struct ParserJudge: StatementJudge {
    public init() {}

    public func judge(_ sql: String, context: JudgeContext) -> GuardVerdict {
        let schema = context.schema.lowercased()
        var types: [String: [String: String]] = [:]
        for (table, cols) in context.columnTypes { types["\(schema).\(table)"] = cols }
        let guardContext = GuardContext(
            managedTables: Set(context.managedTables.map { "\(schema).\($0)" }), allowedSchemas: [schema],
            defaultSchema: schema, columnTypes: types)
        return SQLGuard(context: guardContext).judge(sql)
    }
}
