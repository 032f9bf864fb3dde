import MendCore

/// A session is a handle back to the warehouse actor; the actor serializes the calls.
struct SQLiteSession: SQLSession {
    let warehouse: SQLiteWarehouse
    var dialect: SQLDialect { .sqlite }
    func execute(_ sql: String, _ binds: [SQLValue]) async throws { try await warehouse.execute(sql, binds) }
    func executeMany(_ sql: String, _ bindSets: [[SQLValue]]) async throws {
        try await warehouse.executeMany(sql, bindSets)
    }
    func query(_ sql: String, _ binds: [SQLValue]) async throws -> [[SQLValue]] {
        try await warehouse.query(sql, binds)
    }
    func loadFast(table: String, columns: [Column], rows: [[SQLValue]]) async throws {
        try await warehouse.load(table: table, columns: columns, rows: rows)
    }
    func appendState(_ name: String, columns: [String], tuple: String, rows: [[SQLValue]]) async throws {
        let list = columns.map(Identifier.quote).joined(separator: ", ")
        try await insertMany("INSERT INTO \(warehouse.stateTable(name)) (\(list)) VALUES", tuple: tuple, rows)
    }
    func load(table: String, columns: [Column], rows: [[SQLValue]], prepared: PreparedLoad?) async throws {
        try await warehouse.load(table: table, columns: columns, rows: rows)
    }
    func executeRepair(_ sql: String, operation: PlanOperation, table: String) async throws {
        if operation.kind == .widenColumn, let column = operation.column, let type = operation.type {
            try await warehouse.rebuild(table: table, column: column, to: type)
        } else {
            try await warehouse.executeGuardedDDL(sql)
        }
    }
}
