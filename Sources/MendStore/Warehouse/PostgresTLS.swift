import Foundation
import NIOCore
import NIOPosix
import NIOSSL
import PostgresNIO

/// libpq's `sslmode` values, with libpq's meanings.
public enum PostgresSSLMode: String, Sendable, CaseIterable {
    /// Never TLS.
    case disable
    /// libpq tries plaintext first; postgres-nio cannot retry, so Mend does what `prefer`
    /// does: TLS when the server offers it, else plaintext. Never less encrypted than libpq.
    case allow
    /// TLS when the server offers it, else plaintext; nothing is verified (an attacker who
    /// can intercept can also refuse TLS, so verifying would buy nothing here).
    case prefer
    /// TLS or no connection. Nothing verified, unless a root certificate is given (or
    /// ~/.postgresql/root.crt exists): then as `verify-ca`, as in libpq.
    case require
    /// TLS, and the server's certificate must chain to `sslrootcert`; the host is not checked.
    case verifyCA = "verify-ca"
    /// As `verify-ca`, and the certificate must name the URL's host.
    case verifyFull = "verify-full"

    /// libpq's default too: the same URL means the same thing to `psql` and to Mend.
    public static let defaultMode = PostgresSSLMode.prefer

    /// Whether this mode refuses a server without TLS.
    public var forbidsPlaintext: Bool { self == .require || self == .verifyCA || self == .verifyFull }
}

/// What `sslrootcert` names: a PEM file of CA certificates, or (`system`) the system's trust store.
public enum PostgresRootCert: Sendable, Equatable {
    case file(String)
    case system
}

/// The TLS part of a PostgreSQL URL, resolved against the environment the way libpq
/// does: the URL's parameter, else PGSSLMODE / PGSSLROOTCERT / PGSSLCERT / PGSSLKEY,
/// else the files in ~/.postgresql when they exist.
public struct PostgresTLSSettings: Sendable, Equatable {
    public var mode: PostgresSSLMode
    public var rootCert: PostgresRootCert?
    public var clientCert: String?
    public var clientKey: String?
    /// Where the mode came from, as a message names it: `sslmode=require`,
    /// `PGSSLMODE=require`, or `the default sslmode=prefer`.
    public var origin: String

    public enum Verification: Sendable, Equatable {
        case none, chain, chainAndHost
    }

    /// What is checked of the server's certificate.
    public var verification: Verification {
        switch mode {
        case .disable, .allow, .prefer: .none
        case .require: rootCert == nil ? .none : .chain
        case .verifyCA: .chain
        case .verifyFull: .chainAndHost
        }
    }

    struct Invalid: Error {
        var why: String
    }

    public init(
        mode: PostgresSSLMode = .defaultMode, rootCert: PostgresRootCert? = nil, clientCert: String? = nil,
        clientKey: String? = nil
    ) {
        self.mode = mode
        self.rootCert = rootCert
        self.clientCert = clientCert
        self.clientKey = clientKey
        origin = "sslmode=\(mode.rawValue)"
    }

    init(query q: [String: String], environment env: [String: String]) throws(Invalid) {
        /// The URL's value, else the environment's; an empty value counts as unset, as in libpq.
        func setting(_ name: String, _ variable: String) -> (value: String, origin: String)? {
            if let v = q[name], !v.isEmpty { return (v, name) }
            if let v = env[variable], !v.isEmpty { return (v, variable) }
            return nil
        }
        let home = env["HOME"].map { URL(fileURLWithPath: $0).appendingPathComponent(".postgresql").path }
        func defaultFile(_ name: String) -> String? {
            guard let home else { return nil }
            let path = home + "/" + name
            return FileManager.default.fileExists(atPath: path) ? path : nil
        }

        let root = setting("sslrootcert", "PGSSLROOTCERT")
        if let root, root.value == "system" {
            rootCert = .system
        } else if let root {
            // Stricter than libpq, which ignores a missing file under `require`: a typo
            // in the path must not quietly turn verification off.
            guard FileManager.default.fileExists(atPath: root.value) else {
                throw Invalid(
                    why: "\(root.origin)=\(root.value): no such file; give the PEM file of the CA that signed the server's certificate")
            }
            rootCert = .file(root.value)
        } else {
            rootCert = defaultFile("root.crt").map(PostgresRootCert.file)
        }

        if let m = setting("sslmode", "PGSSLMODE") {
            guard let parsed = PostgresSSLMode(rawValue: m.value) else {
                let names = PostgresSSLMode.allCases.map(\.rawValue).joined(separator: ", ")
                throw Invalid(why: "\(m.origin)=\(m.value) is not an sslmode; use one of \(names)")
            }
            mode = parsed
            origin = "\(m.origin)=\(m.value)"
        } else if rootCert == .system {
            // libpq: with the system's CAs, anything weaker than verify-full is pointless.
            mode = .verifyFull
            origin = "sslmode=verify-full (implied by sslrootcert=system)"
        } else {
            mode = .defaultMode
            origin = "the default sslmode=\(Self.modeDefaultName)"
        }

        if rootCert == .system, mode != .verifyFull {
            throw Invalid(
                why:
                    "\(origin) is too weak for sslrootcert=system: any public CA can sign a certificate for any name, so use sslmode=verify-full"
            )
        }
        if mode == .verifyCA || mode == .verifyFull, rootCert == nil {
            throw Invalid(
                why: "\(origin) needs the CA that signed the server's certificate: set sslrootcert=PATH (or PGSSLROOTCERT), "
                    + "or sslrootcert=system for the system's trusted CAs (~/.postgresql/root.crt is used when it exists)")
        }

        let cert = setting("sslcert", "PGSSLCERT")
        let key = setting("sslkey", "PGSSLKEY")
        if let cert, !FileManager.default.fileExists(atPath: cert.value) {
            throw Invalid(why: "\(cert.origin)=\(cert.value): no such file; give the PEM file of the client certificate")
        }
        if let key, !FileManager.default.fileExists(atPath: key.value) {
            throw Invalid(why: "\(key.origin)=\(key.value): no such file; give the PEM file of the client certificate's private key")
        }
        clientCert = cert?.value ?? defaultFile("postgresql.crt")
        if clientCert == nil, let key {
            throw Invalid(why: "\(key.origin) is set but no client certificate is: set sslcert=PATH (or PGSSLCERT) too")
        }
        clientKey = clientCert == nil ? nil : key?.value ?? defaultFile("postgresql.key")
        if let clientCert, clientKey == nil {
            throw Invalid(why: "the client certificate \(clientCert) has no key: set sslkey=PATH (or PGSSLKEY)")
        }
        if mode == .disable { (rootCert, clientCert, clientKey) = (nil, nil, nil) }
    }

    private static var modeDefaultName: String { PostgresSSLMode.defaultMode.rawValue }

    /// How `sslrootcert` reads in a message.
    var rootCertName: String {
        switch rootCert {
        case .file(let path): "sslrootcert=\(path)"
        case .system: "the system's trusted CAs (sslrootcert=system)"
        case nil: "no CA (sslrootcert is not set)"
        }
    }

    // MARK: postgres-nio

    /// postgres-nio's TLS setting for these settings: `.disable`, `.prefer` (a server
    /// without TLS gets plaintext) or `.require` (it gets no connection). The files are
    /// read here, so a bad one fails before any network traffic.
    func connectionTLS() throws(StoreError) -> PostgresConnection.Configuration.TLS {
        guard mode != .disable else { return .disable }
        var c = TLSConfiguration.makeClientConfiguration()
        c.minimumTLSVersion = .tlsv12
        switch verification {
        case .none:
            c.certificateVerification = .none
            // Nothing is verified, so there is no need to read the system's CAs.
            c.trustRoots = .certificates([])
        case .chain: c.certificateVerification = .noHostnameVerification
        case .chainAndHost: c.certificateVerification = .fullVerification
        }
        if verification != .none {
            switch rootCert {
            case .file(let path): c.trustRoots = .certificates(try Self.certificates(path, what: "sslrootcert"))
            case .system, nil: c.trustRoots = .default
            }
        }
        if let clientCert, let clientKey {
            c.certificateChain = try Self.certificates(clientCert, what: "sslcert").map { .certificate($0) }
            try Self.checkKeyPermissions(clientKey)
            do {
                c.privateKey = .privateKey(try NIOSSLPrivateKey(file: clientKey, format: .pem))
            } catch {
                throw StoreError.open(
                    "the client key sslkey=\(clientKey)",
                    "it is not an unencrypted PEM private key (Mend does not read passphrase-protected keys; `openssl pkey -in KEY -out KEY.pem` removes the passphrase)"
                )
            }
        }
        do {
            let context = try NIOSSLContext(configuration: c)
            return mode.forbidsPlaintext ? .require(context) : .prefer(context)
        } catch {
            throw StoreError.open(
                "a TLS context for PostgreSQL", "\(error); check that sslcert and sslkey belong together and that the files are PEM")
        }
    }

    private static func certificates(_ path: String, what: String) throws(StoreError) -> [NIOSSLCertificate] {
        let certs: [NIOSSLCertificate]
        do {
            certs = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw StoreError.open("\(what)=\(path)", "it is not a readable PEM file of certificates (-----BEGIN CERTIFICATE-----)")
        }
        guard !certs.isEmpty else { throw StoreError.open("\(what)=\(path)", "the file holds no PEM certificate") }
        return certs
    }

    /// libpq's rule: a key file the user owns must not be readable by group or others; a
    /// key owned by root may be group-readable (0640). A key others can read is no secret.
    private static func checkKeyPermissions(_ path: String) throws(StoreError) {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
            let mode = (attributes[.posixPermissions] as? NSNumber)?.uint16Value,
            let owner = (attributes[.ownerAccountID] as? NSNumber)?.uint32Value
        else { return }
        let open: Bool
        if owner == geteuid() {
            open = mode & 0o077 != 0
        } else if owner == 0 {
            open = mode & 0o037 != 0
        } else {
            open = false
        }
        if open {
            throw StoreError.open(
                "the client key sslkey=\(path)",
                "it has group or world access (mode \(String(mode & 0o777, radix: 8))); run `chmod 600 \(path)`")
        }
    }

    // MARK: explaining a failed connection

    /// Why a connection failed, in words that say what to check. Walks the error and the
    /// errors it wraps; the first it recognises wins.
    func explain(_ error: any Error, host: String, port: Int) -> String {
        var next: (any Error)? = error
        var seen = 0
        while let e = next, seen < 8 {
            seen += 1
            if let reason = reason(e, host: host, port: port) { return reason }
            next = (e as? PSQLError)?.underlying
        }
        return
            "\(PostgresWarehouse.message(error)); check that the server runs at \(host):\(port) and that the URL, user and password are right"
    }

    private func reason(_ e: any Error, host: String, port: Int) -> String? {
        if let p = e as? PSQLError {
            if p.code == .sslUnsupported {
                return "the server does not offer TLS (its `ssl` setting is off) and \(origin) forbids an unencrypted connection; "
                    + "turn TLS on in the server's postgresql.conf (ssl = on, ssl_cert_file, ssl_key_file), "
                    + "or use sslmode=prefer only on a network you trust"
            }
            if let message = p.serverInfo?[.message] {
                return Self.serverReason(message, sqlState: p.serverInfo?[.sqlState])
            }
            return nil
        }
        if let x = e as? NIOSSLExtraError, x == .failedToValidateHostname {
            return "the server's certificate does not name the host '\(host)' (\(origin) checks the URL's host against the "
                + "certificate's subject alternative names); connect by a name the certificate lists, "
                + "or reissue the certificate for this name (sslmode=verify-ca checks the CA only)"
        }
        if let s = e as? NIOSSLError {
            switch s {
            case .handshakeFailed(let b):
                let text = "\(b)"
                if text.contains("CERTIFICATE_VERIFY_FAILED") {
                    return "the server's certificate was not accepted: it is not signed by \(rootCertName), or it has expired "
                        + "(\(origin)); check that sslrootcert is the CA that issued the server's certificate"
                }
                if text.contains("ALERT_UNKNOWN_CA") || text.contains("ALERT_BAD_CERTIFICATE")
                    || text.contains("CERTIFICATE_REQUIRED") || text.contains("ALERT_HANDSHAKE_FAILURE")
                {
                    return "the server refused the TLS handshake (\(Self.short(text))): it may want a client certificate "
                        + "its ssl_ca_file trusts; check sslcert and sslkey"
                }
                return "the TLS handshake failed (\(Self.short(text))) under \(origin); check sslrootcert, sslcert/sslkey "
                    + "and the server's ssl settings"
            case .uncleanShutdown:
                return
                    "the server closed the connection during the TLS handshake under \(origin); check the server's log and its ssl settings"
            default:
                return "TLS failed (\(s)) under \(origin); check sslrootcert, sslcert/sslkey and the server's ssl settings"
            }
        }
        if let io = e as? IOError {
            return
                "\(Self.socketReason(io)); check that the server runs at \(host):\(port) and accepts TCP connections (listen_addresses, firewall)"
        }
        if let c = e as? NIOConnectionError {
            if c.connectionErrors.isEmpty, c.dnsAError != nil || c.dnsAAAAError != nil {
                return "the host name '\(host)' does not resolve; check the host in the URL"
            }
            let why = c.connectionErrors.first.map { ($0.error as? IOError).map(Self.socketReason) ?? "\($0.error)" } ?? "\(c)"
            return "\(why); check that the server runs at \(host):\(port) and accepts TCP connections (listen_addresses, firewall)"
        }
        if e is SocketAddressError {
            return "the host name '\(host)' does not resolve (\(e)); check the host in the URL"
        }
        if let c = e as? ChannelError, case .connectTimeout = c {
            return "no answer from \(host):\(port) within the connect timeout; check the host, port and firewall"
        }
        return nil
    }

    private static func socketReason(_ io: IOError) -> String {
        switch io.errnoCode {
        case ECONNREFUSED: "connection refused"
        case ETIMEDOUT: "the connection timed out"
        case EHOSTUNREACH, ENETUNREACH: "the host is unreachable"
        default: io.description
        }
    }

    private static func serverReason(_ message: String, sqlState: String?) -> String {
        switch sqlState {
        case "28P01":
            return "\(message); check the user and the password (in the URL or PGPASSWORD)"
        case "28000":
            return
                "\(message); check the server's pg_hba.conf for this user, database and host (a `hostssl` line needs TLS, a `cert` line needs sslcert and sslkey)"
        case "3D000":
            return "\(message); check the database name in the URL"
        case "53300":
            return "\(message); the server has no free connection slots (max_connections)"
        default:
            return sqlState.map { "\(message) [SQLSTATE \($0)]" } ?? message
        }
    }

    /// BoringSSL's error stacks are long; their reason names are what matters.
    private static func short(_ text: String) -> String { text.count > 300 ? String(text.prefix(300)) + "…" : text }
}
