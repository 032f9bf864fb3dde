import MendCore

/// PostgreSQL adapter. Placeholder until the PostgreSQL issue lands: it refuses
/// clearly instead of pretending.
public actor PostgresWarehouse: Warehouse {
    public nonisolated let dialect = SQLDialect.postgres
    public nonisolated let targetSchema: String? = "public"

    public init(url: String) async throws {
        throw StoreError.badURL(url, "the PostgreSQL adapter is not built yet in this version; use sqlite:PATH")
    }

    public nonisolated func stateTable(_ name: String) -> String { "\"_mend\".\(Identifier.quote(name))" }

    public func transaction<T: Sendable>(lockKey: String?, _ body: @Sendable (any SQLSession) async throws -> T)
        async throws -> T
    {
        throw StoreError.notFound("not built")
    }

    public func catalog(table: String, in session: any SQLSession) async throws -> [Column]? { nil }
    public func close() async {}
}
