import Foundation
import MendCore
import MendStore
import MendTestSupport
import Testing

/// sslmode and friends as parsed, without a server: libpq's names, Mend's default, and
/// the settings that are refused before any connection.
@Suite struct TLSSettingsTests {
    func settings(_ query: String, _ env: [String: String] = [:]) throws -> PostgresTLSSettings {
        try PostgresURL("postgres://u@db.example/app?\(query)", environment: env).tls
    }

    func refusal(_ query: String, _ env: [String: String] = [:]) -> String {
        do {
            _ = try settings(query, env)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func everyLibpqModeParses() throws {
        let ca = try caFile()
        for mode in ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"] {
            #expect(try settings("sslmode=\(mode)&sslrootcert=\(ca)").mode.rawValue == mode)
        }
    }

    @Test func theDefaultIsPreferAsInLibpq() throws {
        let s = try settings("schema=public")
        #expect(s.mode == .prefer)
        #expect(s.verification == .none)
        #expect(s.origin.contains("default"))
    }

    @Test func requireVerifiesTheChainWhenARootCertificateIsGiven() throws {
        let ca = try caFile()
        #expect(try settings("sslmode=require").verification == .none)
        #expect(try settings("sslmode=require&sslrootcert=\(ca)").verification == .chain)
        #expect(try settings("sslmode=verify-ca&sslrootcert=\(ca)").verification == .chain)
        #expect(try settings("sslmode=verify-full&sslrootcert=\(ca)").verification == .chainAndHost)
        // libpq's default file counts too.
        let home = Paths.tempDir()
        try FileManager.default.createDirectory(at: home.appendingPathComponent(".postgresql"), withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: ca, toPath: home.appendingPathComponent(".postgresql/root.crt").path)
        #expect(try settings("sslmode=require", ["HOME": home.path]).verification == .chain)
    }

    @Test func theEnvironmentFillsWhatTheURLLeavesOut() throws {
        let ca = try caFile()
        let s = try settings("schema=public", ["PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca])
        #expect(s.mode == .verifyFull)
        #expect(s.rootCert == .file(ca))
        #expect(s.origin == "PGSSLMODE=verify-full")
        // The URL wins over the environment.
        #expect(try settings("sslmode=disable", ["PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca]).mode == .disable)
    }

    @Test func systemRootsImplyVerifyFullAndRefuseWeakerModes() throws {
        #expect(try settings("sslrootcert=system").mode == .verifyFull)
        #expect(refusal("sslrootcert=system&sslmode=require").contains("use sslmode=verify-full"))
    }

    @Test func badSettingsAreRefusedWithWhatToDo() throws {
        let bogus = refusal("sslmode=bogus")
        #expect(bogus.contains("sslmode=bogus is not an sslmode"), "\(bogus)")
        #expect(bogus.contains("verify-full"), "\(bogus)")
        #expect(refusal("", ["PGSSLMODE": "strict"]).contains("PGSSLMODE=strict is not an sslmode"))
        let noCA = refusal("sslmode=verify-full")
        #expect(noCA.contains("set sslrootcert=PATH"), "\(noCA)")
        #expect(refusal("sslmode=verify-ca").contains("sslrootcert"))
        let missing = refusal("sslmode=require&sslrootcert=/nonexistent/ca.pem")
        #expect(missing.contains("/nonexistent/ca.pem: no such file"), "a typo must not turn verification off: \(missing)")
        #expect(refusal("sslcert=/nonexistent/c.pem&sslkey=/nonexistent/k.pem").contains("no such file"))
        let ca = try caFile()
        #expect(refusal("sslcert=\(ca)").contains("has no key"))
        #expect(refusal("sslkey=\(ca)").contains("no client certificate"))
    }

    /// A PEM CA file: the test cluster's when there is one, else any readable file
    /// (parsing only checks that the file exists; loading it happens on connect).
    func caFile() throws -> String {
        if let ca = ProcessInfo.processInfo.environment["MEND_TEST_PG_CA"] { return ca }
        let path = Paths.tempDir().appendingPathComponent("ca.pem").path
        try "not read by the parser".write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }
}

/// TLS against the throwaway clusters of scripts/with-postgres.sh: one with ssl=on and a
/// certificate for localhost / 127.0.0.1 signed by MEND_TEST_PG_CA, one with ssl=off.
/// 127.0.0.2 (MEND_TEST_PG_ALTHOST) reaches the first but is not in its certificate,
/// which is what the host-name check must catch.
@Suite(
    .enabled(if: Backend.postgresURL != nil, "needs MEND_TEST_PG (scripts/with-postgres.sh starts throwaway PostgreSQL clusters)"))
struct TLSTests {
    static let env = ProcessInfo.processInfo.environment
    static var port: Int { URLComponents(string: Backend.postgresURL ?? "")?.port ?? 5432 }

    static func need(_ name: String) throws -> String {
        try #require(env[name], "\(name) is unset: run the tests under scripts/with-postgres.sh")
    }

    static func url(host: String = "localhost", user: String = "postgres", _ query: String) -> String {
        "postgres://\(user)@\(host):\(port)/postgres?\(query)"
    }

    /// Connects with `url` (parsed against `environment` only, so the runner's PGSSL*
    /// and ~/.postgresql do not leak in) and asks the server whether the session is encrypted.
    static func encrypted(_ url: String, environment: [String: String] = [:]) async throws -> Bool {
        let w = try await PostgresWarehouse(config: PostgresURL(url, environment: environment))
        do {
            let rows = try await w.transaction(lockKey: nil) { s in
                try await s.query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()", [])
            }
            await w.close()
            return rows.first?.first == .bool(true)
        } catch {
            await w.close()
            throw error
        }
    }

    /// The error text of a connection that must fail ("" when it connected).
    static func failure(_ url: String, environment: [String: String] = [:]) async -> String {
        do {
            _ = try await encrypted(url, environment: environment)
            return ""
        } catch {
            return "\(error)"
        }
    }

    @Test func verifyFullWithTheRightCAConnectsEncrypted() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        #expect(try await Self.encrypted(Self.url(host: "localhost", "sslmode=verify-full&sslrootcert=\(ca)")))
        // The certificate names 127.0.0.1 too (an IP SAN).
        #expect(try await Self.encrypted(Self.url(host: "127.0.0.1", "sslmode=verify-full&sslrootcert=\(ca)")))
    }

    @Test func aWrongCAFailsAndNamesTheCAFile() async throws {
        let wrong = try Self.need("MEND_TEST_PG_WRONG_CA")
        for mode in ["verify-full", "verify-ca", "require"] {
            let why = await Self.failure(Self.url("sslmode=\(mode)&sslrootcert=\(wrong)"))
            #expect(why.contains("not signed by sslrootcert=\(wrong)"), "\(mode): \(why)")
            #expect(why.contains("check that sslrootcert is the CA"), "\(mode): \(why)")
        }
    }

    @Test func aHostTheCertificateDoesNotNameFailsUnderVerifyFull() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let alt = try Self.need("MEND_TEST_PG_ALTHOST")
        // The host really is reachable: without verification it connects.
        #expect(try await Self.encrypted(Self.url(host: alt, "sslmode=require")))
        let why = await Self.failure(Self.url(host: alt, "sslmode=verify-full&sslrootcert=\(ca)"))
        #expect(why.contains("does not name the host '\(alt)'"), "\(why)")
        #expect(why.contains("subject alternative names"), "\(why)")
    }

    @Test func verifyCAChecksTheChainButNotTheHost() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let alt = try Self.need("MEND_TEST_PG_ALTHOST")
        #expect(try await Self.encrypted(Self.url(host: alt, "sslmode=verify-ca&sslrootcert=\(ca)")))
    }

    @Test func requireAgainstAServerWithoutTLSFails() async throws {
        let plain = try Self.need("MEND_TEST_PG_NOTLS")
        let ca = try Self.need("MEND_TEST_PG_CA")
        for query in ["sslmode=require", "sslmode=verify-full&sslrootcert=\(ca)"] {
            let why = await Self.failure(plain + "?" + query)
            #expect(why.contains("the server does not offer TLS"), "\(query): \(why)")
            #expect(why.contains("ssl = on"), "says what to change on the server: \(why)")
        }
    }

    @Test func disableConnectsInPlaintextToATLSServer() async throws {
        #expect(try await Self.encrypted(Self.url(host: "127.0.0.1", "sslmode=disable")) == false)
    }

    @Test func theDefaultEncryptsWhenOfferedAndFallsBackWhenNot() async throws {
        let plain = try Self.need("MEND_TEST_PG_NOTLS")
        #expect(try await Self.encrypted(Self.url(host: "127.0.0.1", "schema=public")))
        #expect(try await Self.encrypted(plain + "?sslmode=prefer") == false)
        #expect(try await Self.encrypted(plain + "?sslmode=allow") == false)
    }

    @Test func pgsslmodeAndPgsslrootcertApplyWhenTheURLIsSilent() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let alt = try Self.need("MEND_TEST_PG_ALTHOST")
        let plain = try Self.need("MEND_TEST_PG_NOTLS")
        let env = ["PGSSLMODE": "verify-full", "PGSSLROOTCERT": ca]
        #expect(try await Self.encrypted(Self.url(host: "localhost", "schema=public"), environment: env))
        let why = await Self.failure(Self.url(host: alt, "schema=public"), environment: env)
        #expect(why.contains("does not name the host"), "\(why)")
        #expect(why.contains("PGSSLMODE=verify-full"), "names where the mode came from: \(why)")
        let noTLS = await Self.failure(plain, environment: ["PGSSLMODE": "require"])
        #expect(noTLS.contains("does not offer TLS"), "\(noTLS)")
        // The URL's own sslmode wins.
        #expect(try await Self.encrypted(Self.url(host: alt, "sslmode=disable"), environment: env) == false)
    }

    @Test func aClientCertificateLogsInWhereTheServerWantsOne() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let cert = try Self.need("MEND_TEST_PG_CLIENT_CERT")
        let key = try Self.need("MEND_TEST_PG_CLIENT_KEY")
        let base = "sslmode=verify-full&sslrootcert=\(ca)"
        #expect(try await Self.encrypted(Self.url(user: "mend_cert", base + "&sslcert=\(cert)&sslkey=\(key)")))
        #expect(try await Self.encrypted(Self.url(user: "mend_cert", base), environment: ["PGSSLCERT": cert, "PGSSLKEY": key]))
        let without = await Self.failure(Self.url(user: "mend_cert", base))
        #expect(without.contains("pg_hba.conf"), "\(without)")
        #expect(without.contains("sslcert"), "\(without)")
    }

    @Test func aClientKeyOthersCanReadIsRefused() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let cert = try Self.need("MEND_TEST_PG_CLIENT_CERT")
        let key = try Self.need("MEND_TEST_PG_CLIENT_KEY")
        let open = Paths.tempDir().appendingPathComponent("client.key").path
        try FileManager.default.copyItem(atPath: key, toPath: open)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: open)
        let why = await Self.failure(
            Self.url(user: "mend_cert", "sslmode=verify-full&sslrootcert=\(ca)&sslcert=\(cert)&sslkey=\(open)"))
        #expect(why.contains("chmod 600"), "\(why)")
    }

    @Test func aFileThatIsNoCertificateIsNamed() async throws {
        let junk = Paths.tempDir().appendingPathComponent("junk.pem").path
        try "hello".write(toFile: junk, atomically: true, encoding: .utf8)
        let why = await Self.failure(Self.url("sslmode=verify-full&sslrootcert=\(junk)"))
        #expect(why.contains("sslrootcert=\(junk)"), "\(why)")
        #expect(why.contains("PEM"), "\(why)")
    }

    /// The engine's whole path (bootstrap, COPY, reads) over verify-full, not just a handshake.
    @Test func ingestRunsOverVerifiedTLS() async throws {
        let ca = try Self.need("MEND_TEST_PG_CA")
        let schema = "tls_" + UUID().uuidString.replacingOccurrences(of: "-", with: "").prefix(10).lowercased()
        let url = Self.url("schema=\(schema)&state_schema=\(schema)_mend&sslmode=verify-full&sslrootcert=\(ca)")
        let (code, out) = try await runMend(["ingest", eventsFile(50), "--table", "events", "--db", url])
        #expect(code == 0, "\(out)")
        let (_, stats) = try await runMend(["stats", "--json", "--db", url])
        #expect(stats.contains("\"loaded\" : 50"), "\(stats)")
    }
}
