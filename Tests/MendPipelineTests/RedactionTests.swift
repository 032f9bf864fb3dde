import Foundation
import MendCore
import MendStore
import MendTestSupport
import Testing

/// A database password never reaches an error, a log line or output: each path a URL
/// can take to the user is fed one with a distinctive password, and the whole output
/// is searched for it.
@Suite struct RedactionTests {
    static let secret = "Zq7SecretPw5150"

    @Test func theOneFunctionHidesEveryPasswordShape() {
        let cases: [(String, String)] = [
            ("postgres://mend:\(Self.secret)@db:5432/app", "postgres://mend:***@db:5432/app"),
            ("postgresql://mend:\(Self.secret)@db/app?schema=x", "postgresql://mend:***@db/app?schema=x"),
            ("postgres://mend@db/app", "postgres://mend@db/app"),
            ("postgres://db:5432/app", "postgres://db:5432/app"),
            // Unencoded / ? # @ in the password: the URL does not parse, and is still hidden.
            ("postgres://mend:a/b?c#d@e\(Self.secret)@db/app", "postgres://mend:***@db/app"),
            ("postgres://mend:p%40\(Self.secret)@db/app", "postgres://mend:***@db/app"),
            (
                "postgres://mend@db/app?repair_user=r&repair_password=\(Self.secret)&sslmode=require",
                "postgres://mend@db/app?repair_user=r&repair_password=***&sslmode=require"
            ),
            ("postgres://db/app?password=\(Self.secret)", "postgres://db/app?password=***"),
            ("postgres:mend:\(Self.secret)@db/app", "postgres:mend:***@db/app"),
            ("sqlite:mend.db", "sqlite:mend.db"),
        ]
        for (url, shown) in cases {
            #expect(PostgresURL.redacted(url) == shown, "\(url)")
            #expect(PostgresURL.redacted(PostgresURL.redacted(url)) == shown, "idempotent: \(url)")
        }
    }

    @Test func parsedSettingsPrintWithoutThePassword() throws {
        let cfg = try PostgresURL(
            "postgres://mend:\(Self.secret)@db/app?repair_user=r&repair_password=\(Self.secret)2", environment: [:])
        #expect(cfg.password == Self.secret)
        var dumped = ""
        dump(cfg, to: &dumped)
        for text in ["\(cfg)", String(reflecting: cfg), dumped] {
            #expect(!text.contains(Self.secret), "\(text)")
        }
        #expect("\(cfg)".contains("mend:***@db"))
    }

    @Test func badURLErrorsShowTheURLRedacted() {
        let e = StoreError.badURL("postgres://mend:\(Self.secret)@/app", "the host is missing")
        #expect(!e.description.contains(Self.secret))
        #expect(e.description.contains("postgres://mend:***@/app"))
    }

    // MARK: through the binary

    /// Error paths that need no server: each must fail, say why, and not show the password.
    @Test(arguments: [
        ("postgres://mend:\(secret)@/app", "the host is missing"),
        ("postgres://mend:\(secret)@db.example/app?schema=Bad-Name", "lowercase snake_case"),
        ("postgres://mend:\(secret)@db.example:port/app", "not a postgres:// URL"),
        ("postgres://mend:\(secret)@db.example/app?sslmode=bogus", "sslmode=bogus is not an sslmode"),
        ("postgres://mend:\(secret)@db.example/app?sslmode=verify-full", "set sslrootcert=PATH"),
        ("postgresx://mend:\(secret)@db.example/app", "unknown scheme"),
        ("postgres://mend:\(secret)@127.0.0.1:1/app", "connection refused; check that the server runs at 127.0.0.1:1"),
        ("postgres://mend@127.0.0.1:1/app?repair_user=r&repair_password=\(secret)", "127.0.0.1:1"),
    ])
    func cliErrorsWithoutAServer(url: String, reason: String) async throws {
        for args in [["stats", "--json", "--db", url], ["incidents", "--db", url]] {
            let r = try await Self.mend(args)
            #expect(r.code != 0, "\(args): \(r.all)")
            #expect(r.all.contains(reason), "\(args): \(r.all)")
            #expect(!r.all.contains(Self.secret), "\(args) shows the password: \(r.all)")
        }
    }

    /// Error paths that need the test clusters: wrong password (URL and PGPASSWORD), TLS
    /// failures, a server without TLS.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG (scripts/with-postgres.sh)"))
    func cliErrorsFromAServer() async throws {
        let env = ProcessInfo.processInfo.environment
        let pw = try #require(env["MEND_TEST_PG_PW_URL"], "run under scripts/with-postgres.sh")
        let wrongCA = try #require(env["MEND_TEST_PG_WRONG_CA"])
        let plain = try #require(env["MEND_TEST_PG_NOTLS"])
        let c = try #require(URLComponents(string: pw))
        let host = "\(c.host ?? ""):\(c.port ?? 0)"
        let plainHost = try #require(URLComponents(string: plain)).port ?? 0
        let cases: [(url: String, env: [String: String], reason: String)] = [
            ("postgres://mend_pw:\(Self.secret)@\(host)/postgres", [:], "password authentication failed"),
            ("postgres://mend_pw@\(host)/postgres", ["PGPASSWORD": Self.secret], "password authentication failed"),
            (
                "postgres://mend_pw:\(Self.secret)@localhost:\(c.port ?? 0)/postgres?sslmode=verify-full&sslrootcert=\(wrongCA)", [:],
                "not signed by sslrootcert=\(wrongCA)"
            ),
            ("postgres://postgres:\(Self.secret)@127.0.0.1:\(plainHost)/postgres?sslmode=require", [:], "does not offer TLS"),
            (
                "postgres://postgres@127.0.0.1:\(plainHost)/postgres", ["PGSSLMODE": "require", "PGPASSWORD": Self.secret],
                "PGSSLMODE=require"
            ),
        ]
        for (url, extra, reason) in cases {
            let r = try await Self.mend(["stats", "--json", "--db", url], env: extra)
            #expect(r.code != 0, "\(url): \(r.all)")
            #expect(r.all.contains(reason), "\(url): \(r.all)")
            #expect(!r.all.contains(Self.secret), "\(url) shows the password: \(r.all)")
        }
        // The right password works, over TLS (the default prefers it).
        let ok = try await Self.mend(["stats", "--json", "--db", pw + "?schema=public&state_schema=mend_pw_state"])
        #expect(!ok.all.contains("password authentication failed"), "\(ok.all)")
    }

    /// `mend mcp` logs the database it serves: with the password hidden.
    @Test(.enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG (scripts/with-postgres.sh)"))
    func mcpLogsTheURLRedacted() async throws {
        let admin = try #require(Backend.postgresURL)
        // Trust authentication ignores the password, so the connection opens.
        let url = admin.replacingOccurrences(of: "postgres@", with: "postgres:\(Self.secret)@") + "?schema=mcp_redact"
        let r = try await Self.mend(["mcp", "--db", url], timeout: 20)
        #expect(r.all.contains("serving postgres://postgres:***@"), "\(r.all)")
        #expect(!r.all.contains(Self.secret), "\(r.all)")
    }

    struct Output {
        var code: Int32
        var all: String
    }

    /// Runs the built binary with the runner's environment minus MEND_DB and PG*, plus `env`.
    static func mend(_ args: [String], env extra: [String: String] = [:], timeout: TimeInterval = 60) async throws -> Output {
        try await offPool {
            let p = Process()
            p.executableURL = Paths.repo.appendingPathComponent(".build/debug/mend")
            p.arguments = args
            p.currentDirectoryURL = Paths.tempDir()
            var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("PG") && $0.key != "MEND_DB" }
            env.merge(extra) { _, b in b }
            p.environment = env
            let out = Pipe()
            p.standardOutput = out
            p.standardError = out
            p.standardInput = FileHandle.nullDevice
            try p.run()
            let deadline = Date().addingTimeInterval(timeout)
            // A watchdog ends a command that outlives the limit (`mend mcp` may wait on stdin).
            DispatchQueue.global().async {
                while p.isRunning, Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
                if p.isRunning { p.terminate() }
            }
            let data = out.fileHandleForReading.readDataToEndOfFile()
            p.waitUntilExit()
            return Output(code: p.terminationStatus, all: String(decoding: data, as: UTF8.self))
        }
    }
}
