public import Foundation
public import MCP

/// One HTTP request as the router sees it: the whole body read, header names lowercased.
public struct ServerRequest: Sendable {
    public var method: String
    public var path: String
    public var query: [String: String]
    public var headers: [String: String]
    public var body: Data
    /// The peer's IP address: a trusted proxy's user header is believed only from it.
    public var peer: String?

    public init(
        method: String, path: String, query: [String: String] = [:], headers: [String: String] = [:], body: Data = Data(),
        peer: String? = nil
    ) {
        self.method = method.uppercased()
        self.path = path
        self.query = query
        self.headers = Dictionary(headers.map { ($0.key.lowercased(), $0.value) }, uniquingKeysWith: { a, b in a + ", " + b })
        self.body = body
        self.peer = peer
    }

    public func header(_ name: String) -> String? { headers[name.lowercased()] }

    var cookies: [String: String] {
        var out: [String: String] = [:]
        for part in (header("cookie") ?? "").split(separator: ";") {
            let kv = part.split(separator: "=", maxSplits: 1)
            guard kv.count == 2 else { continue }
            out[kv[0].trimmingCharacters(in: .whitespaces)] = kv[1].trimmingCharacters(in: .whitespaces)
        }
        return out
    }

    /// An `application/x-www-form-urlencoded` body.
    var form: [String: String] { Self.decodeForm(String(decoding: body, as: UTF8.self)) }

    static func decodeForm(_ s: String) -> [String: String] {
        var out: [String: String] = [:]
        for pair in s.split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            func dec(_ x: Substring) -> String {
                String(x).replacingOccurrences(of: "+", with: " ").removingPercentEncoding ?? String(x)
            }
            guard let k = kv.first else { continue }
            out[dec(k)] = kv.count > 1 ? dec(kv[1]) : ""
        }
        return out
    }

    /// As the MCP SDK's transport expects it (original header names do not matter there).
    var mcpRequest: HTTPRequest {
        HTTPRequest(method: method, headers: headers, body: body.isEmpty ? nil : body, path: path)
    }
}

/// A complete answer.
public struct ServerResponse: Sendable {
    public var status: Int
    public var headers: [(String, String)]
    public var body: Data

    public init(status: Int, headers: [(String, String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }

    static func json(_ status: Int, _ value: some Encodable) -> ServerResponse {
        let e = JSONEncoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        e.outputFormatting = [.sortedKeys]
        let body = (try? e.encode(value)) ?? Data(#"{"error":"could not encode the response"}"#.utf8)
        return ServerResponse(status: status, headers: [("Content-Type", "application/json")], body: body)
    }

    /// Errors are JSON with one `error` field that says what to do.
    static func error(_ status: Int, _ message: String, headers extra: [(String, String)] = []) -> ServerResponse {
        var r = json(status, ["error": message])
        r.headers += extra
        return r
    }

    static func text(_ status: Int, _ s: String, contentType: String = "text/plain; charset=utf-8") -> ServerResponse {
        ServerResponse(status: status, headers: [("Content-Type", contentType)], body: Data(s.utf8))
    }

    /// Pages: scripts only from this origin (the live view's one file), no framing, forms
    /// post only back here, connections (the live events) only back here.
    static func html(_ status: Int, _ s: String, headers extra: [(String, String)] = []) -> ServerResponse {
        ServerResponse(
            status: status,
            headers: [
                ("Content-Type", "text/html; charset=utf-8"),
                (
                    "Content-Security-Policy",
                    "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self'; "
                        + "form-action 'self'; frame-ancestors 'none'"
                ),
                ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"), ("Cache-Control", "no-store"),
            ] + extra, body: Data(s.utf8))
    }

    static func redirect(_ location: String, headers extra: [(String, String)] = []) -> ServerResponse {
        ServerResponse(status: 303, headers: [("Location", location)] + extra)
    }
}

/// What the router answers: a response of its own, or the MCP transport's (which may stream SSE).
public enum ServerReply: Sendable {
    case response(ServerResponse)
    case mcp(HTTPResponse)
    /// A head, then a body written as it is produced (the dashboard's live events): `write`
    /// throws once the client has gone.
    case stream(ServerResponse, body: @Sendable (_ write: @Sendable (Data) async throws -> Void) async -> Void)
}
