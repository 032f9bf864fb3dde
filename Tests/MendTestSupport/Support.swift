public import Foundation
public import MendCore
public import MendPipeline
import MendStore

/// What every test target shares: temporary directories, the shared scenarios, the
/// databases under test. One target, so the test targets stop carrying copies.
public enum Paths {
    public static var repo: URL {
        URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    }
    /// Where the shared drift scenarios live: ../shared/scenarios beside the repository, or MEND_SCENARIOS.
    public static var scenarios: URL {
        if let p = ProcessInfo.processInfo.environment["MEND_SCENARIOS"] { return URL(fileURLWithPath: p) }
        return repo.deletingLastPathComponent().appendingPathComponent("shared/scenarios")
    }
    public static func tempDir() -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("mend-test-\(UUID().uuidString.prefix(8))")
        try? FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }
}

public enum Backend: String, CaseIterable, Sendable {
    case sqlite, postgres

    /// The superuser URL of the throwaway cluster `make test` starts.
    public static var postgresURL: String? { ProcessInfo.processInfo.environment["MEND_TEST_PG"] }
    public static var available: [Backend] { postgresURL == nil ? [.sqlite] : [.sqlite, .postgres] }

    /// A fresh database: a new SQLite file, or a new schema on the test cluster.
    public func freshURL() -> String {
        switch self {
        case .sqlite:
            return "sqlite:" + Paths.tempDir().appendingPathComponent("t.db").path
        case .postgres:
            let schema = "t_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(12).lowercased()
            return (Backend.postgresURL ?? "") + "?schema=\(schema)&state_schema=\(schema)_mend"
        }
    }

    public func engine(policy: Policy = .default, url: String? = nil) async throws -> Engine {
        let w = try await WarehouseFactory.open(url: url ?? freshURL())
        await KeepAlive.shared.add(w)
        return Engine(warehouse: w, policy: policy, judge: ParserJudge())
    }
}

extension Engine {
    /// Runs one SQL query in its own transaction (tests only).
    public func rows(_ sql: String, _ binds: [SQLValue] = []) async throws -> [[SQLValue]] {
        try await warehouse.transaction { s in try await s.query(sql, binds) }
    }

    public func tableRef(_ t: String) -> String { Identifier.qualified(warehouse.targetSchema, t) }
}

public func writeLines(_ lines: [String], in dir: URL = Paths.tempDir(), name: String = "in.jsonl") -> String {
    let url = dir.appendingPathComponent(name)
    try? (lines.joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
    return url.path
}

/// postgres-nio asserts that a connection is closed before it is freed; a test that
/// stops early at a failed #require would free it open and crash the whole run. Test
/// warehouses (and other handles) are therefore kept for the life of the test process.
public actor KeepAlive {
    public static let shared = KeepAlive()
    private var items: [any Sendable] = []
    public func add(_ w: any Sendable) { items.append(w) }
}

/// Runs a program to its end, standard output and error together. Blocking: call it off
/// Swift's cooperative pool (two threads here), e.g. from a Dispatch queue.
public func runProcessBlocking(_ executable: URL, _ args: [String], env: [String: String] = [:]) throws -> (Int32, String) {
    let p = Process()
    p.executableURL = executable
    p.arguments = args
    p.environment = ProcessInfo.processInfo.environment.merging(env) { _, b in b }
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let data = pipe.fileHandleForReading.readDataToEndOfFile()
    p.waitUntilExit()
    return (p.terminationStatus, String(decoding: data, as: UTF8.self))
}

/// A fresh schema under the roles `mend setup-roles` creates (an owner, the loader and the
/// repair role, each named with the schema's suffix), set up by the superuser at `admin`.
public struct SchemaUnderTheRoles: Sendable {
    public let schema: String
    public let suffix: String
    public let loader: String
    public let repair: String
    /// `host:port/database` of `admin`, for URLs of the roles' own.
    public let host: String
    /// Mend as the loader, repairing through the repair role.
    public var url: String {
        "postgres://\(loader):lp@\(host)?schema=\(schema)&state_schema=\(schema)_mend&repair_user=\(repair)&repair_password=rp"
    }

    public init(admin: String, prefix: String) async throws {
        suffix = String(UUID().uuidString.prefix(6).lowercased())
        schema = "\(prefix)_\(suffix)"
        (loader, repair) = ("loader_\(suffix)", "repair_\(suffix)")
        host = admin.replacingOccurrences(of: "postgres://postgres@", with: "")
        let adminW = try await WarehouseFactory.open(url: "\(admin)?schema=\(schema)&state_schema=\(schema)_mend")
        await KeepAlive.shared.add(adminW)
        let roles = PostgresRoles(
            schema: schema, stateSchema: "\(schema)_mend", owner: "owner_\(suffix)", loader: loader, loaderPassword: "lp",
            repair: repair, repairPassword: "rp")
        _ = try await roles.apply(on: adminW)
    }
}
