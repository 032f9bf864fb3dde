import Foundation
import MendCore
import MendServer
import MendTestSupport
import Testing

#if canImport(Glibc)
    import Glibc
#endif

/// A plain TCP connection with a receive timeout, to speak HTTP the way an attacker
/// would: partial heads, bodies that never come, garbage.
final class RawConnection: @unchecked Sendable {
    let fd: Int32

    init(port: Int, receiveTimeout: Double = 5) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.EMFILE) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let ok = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard ok == 0 else {
            close(fd)
            throw POSIXError(.ECONNREFUSED)
        }
        var tv = timeval(tv_sec: Int(receiveTimeout), tv_usec: Int((receiveTimeout - Double(Int(receiveTimeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    /// False once the peer has closed (EPIPE) instead of raising SIGPIPE.
    @discardableResult func send(_ s: String) -> Bool { send(Array(s.utf8)) }

    @discardableResult func send(_ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) } == bytes.count
    }

    /// Reads until the peer closes or the timeout passes, on a Dispatch thread: a blocking
    /// read on Swift's cooperative pool (two threads here) would starve the server under test.
    func readAll() async -> (text: String, closed: Bool) {
        await withCheckedContinuation { done in
            DispatchQueue.global().async { done.resume(returning: self.blockingReadAll()) }
        }
    }

    private func blockingReadAll() -> (text: String, closed: Bool) {
        var out: [UInt8] = []
        var buf = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = buf.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
            if n > 0 {
                out += buf[0..<n]
            } else {
                // A reset is a close too: the kernel sends one when the server closes with
                // unread bytes of ours in its buffer, which is the point after a refusal.
                return (String(decoding: out, as: UTF8.self), n == 0 || errno == ECONNRESET)
            }
        }
    }
}

/// The findings of the hostile review, each on a real listener on loopback, with bounded loops.
@Suite(.serialized) struct HostileHTTPTests {
    static func server(
        maxBodyBytes: Int = 1 << 20, idle: Double = 60, header: Double = 10, maxConnections: Int = 512
    ) async throws -> (TestServer, Int) {
        let s = try await TestServer.start(
            maxBodyBytes: maxBodyBytes, idleTimeout: idle, headerTimeout: header, maxConnections: maxConnections)
        let port = try #require(Int(s.base.split(separator: ":").last ?? ""))
        return (s, port)
    }

    /// Before: the body was buffered (up to 32 MiB) before the token was checked.
    @Test func aBodyWithoutTheTokenIsNeverRead() async throws {
        let (s, port) = try await Self.server(maxBodyBytes: 32 << 20)
        defer { Task { await s.stop() } }
        let c = try RawConnection(port: port)
        c.send("POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 32000000\r\n\r\n")
        c.send([UInt8](repeating: UInt8(ascii: " "), count: 4096))
        // The answer comes before the other 31.99 MB, and the connection is closed.
        let started = Date()
        let (text, closed) = await c.readAll()
        #expect(text.hasPrefix("HTTP/1.1 401"), "\(text.prefix(200))")
        #expect(closed, "the server closes instead of reading the rest")
        #expect(Date().timeIntervalSince(started) < 4)
        // An ingest token is not enough for other routes, and no route reads a body first.
        let d = try RawConnection(port: port)
        d.send(
            "POST /incidents/1/approve HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.token)\r\nContent-Length: 32000000\r\n\r\n"
        )
        let (refused, dClosed) = await d.readAll()
        #expect(refused.hasPrefix("HTTP/1.1 403") && dClosed, "\(refused.prefix(200))")
    }

    /// Before: after a 400 the server said `Connection: close` and kept the socket.
    @Test func aProtocolErrorClosesTheConnection() async throws {
        let (s, port) = try await Self.server()
        defer { Task { await s.stop() } }
        let c = try RawConnection(port: port)
        c.send("THIS IS NOT HTTP\r\n\r\n")
        let (text, closed) = await c.readAll()
        #expect(closed, "closed after a malformed request (got \(text.prefix(120)))")
        let big = try RawConnection(port: port)
        big.send(
            "POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.token)\r\nContent-Length: 5000000\r\n\r\n")
        let (tooLarge, bigClosed) = await big.readAll()
        #expect(tooLarge.hasPrefix("HTTP/1.1 413") && bigClosed, "\(tooLarge.prefix(200))")
    }

    /// A client that sends its head a byte at a time is cut off at the header timeout.
    @Test func aSlowHeadIsCutOff() async throws {
        let (s, port) = try await Self.server(header: 1)
        defer { Task { await s.stop() } }
        let c = try RawConnection(port: port, receiveTimeout: 0.2)
        let started = Date()
        var closedAt: Date?
        for byte in "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: ".utf8 + Array(repeating: UInt8(ascii: "a"), count: 40) {
            if !c.send([byte]) {
                closedAt = Date()
                break
            }
            let (_, closed) = await c.readAll()  // waits 0.2 s
            if closed {
                closedAt = Date()
                break
            }
        }
        let elapsed = try #require(closedAt).timeIntervalSince(started)
        #expect(elapsed < 4, "closed after \(elapsed) s")
    }

    /// Before: 20,000 idle connections used up the descriptors and /healthz timed out.
    /// Now connections past the cap wait in the backlog, and idle ones are closed.
    @Test func idleConnectionsAreCappedAndClosed() async throws {
        let (s, port) = try await Self.server(idle: 1, header: 1, maxConnections: 16)
        defer { Task { await s.stop() } }
        var idle: [RawConnection] = []
        for _ in 0..<64 { idle.append(try RawConnection(port: port, receiveTimeout: 0.1)) }
        let started = Date()
        let health = try await s.send("GET", "/healthz")
        #expect(health.status == 200)
        #expect(Date().timeIntervalSince(started) < 10, "healthz answered while 64 idle connections were open")
        try await Task.sleep(for: .seconds(2.5))
        var closed = 0
        for c in idle.prefix(16) where await c.readAll().closed { closed += 1 }
        #expect(closed == 16, "the accepted idle connections were closed by the server (\(closed) of 16)")
    }

    /// NDJSON without an Idempotency-Key streams: a body far past the buffer limit loads.
    @Test func aStreamedBodyLoadsPastTheBufferLimit() async throws {
        let (s, port) = try await Self.server(maxBodyBytes: 1 << 20)
        defer { Task { await s.stop() } }
        let line = #"{"id": 0, "kind": "click", "note": "\#(String(repeating: "x", count: 200))"}"#
        let lines = (0..<40_000).map { line.replacingOccurrences(of: #""id": 0"#, with: #""id": \#($0)"#) }
        let body = lines.joined(separator: "\n") + "\n"
        #expect(body.utf8.count > 8 << 20)
        let r = try await s.ingest("events", body, contentType: "application/x-ndjson")
        #expect(r.status == 200, "\(r.body.prefix(300))")
        #expect(r.json["loaded"] as? Int == 40_000)
        #expect(try await s.count("events") == 40_000)
        // A JSON array is one text: it is still read whole, and refused past the limit
        // (chunked, so no Content-Length tells the server in advance).
        let c = try RawConnection(port: port)
        c.send(
            "POST /v1/ingest/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \(TestServer.token)\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
        )
        let chunk = "[" + lines.prefix(2_000).joined(separator: ",") + ","
        for _ in 0..<4 where c.send(String(chunk.utf8.count, radix: 16) + "\r\n" + chunk + "\r\n") {}
        let (text, closed) = await c.readAll()
        #expect(text.hasPrefix("HTTP/1.1 413") && closed, "\(text.prefix(200))")
    }
}
