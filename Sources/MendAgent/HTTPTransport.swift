public import AsyncHTTPClient
import Foundation
import MCP
import NIOCore
import NIOHTTP1

/// POSTs JSON to a provider with bounded retries: 429 and 5xx (honoring Retry-After)
/// and connection failures are retried with exponential backoff, all within one
/// deadline. Shared by both providers so they fail the same way.
struct JSONPoster: Sendable {
    let client: HTTPClient
    let retry: RetryPolicy
    let key: APIKey?
    /// Provider bodies larger than this are refused rather than buffered.
    let maxResponseBytes = 16 << 20

    func post(url: String, headers: [(String, String)], body: Value, timeout: Duration) async throws -> Value {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let bytes = try encoder.encode(body)
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        var attempt = 0
        while true {
            attempt += 1
            let remaining = deadline - clock.now
            guard remaining > .zero else { throw LLMError.timedOut(url: url, after: timeout) }
            var request = HTTPClientRequest(url: url)
            request.method = .POST
            request.headers.add(name: "content-type", value: "application/json")
            request.headers.add(name: "accept", value: "application/json")
            for (k, v) in headers { request.headers.add(name: k, value: v) }
            request.body = .bytes(ByteBuffer(bytes: bytes))
            let status: Int
            let text: String
            let retryAfter: Duration?
            do {
                let response = try await client.execute(request, timeout: .nanoseconds(remaining.nanoseconds))
                let buffer = try await response.body.collect(upTo: maxResponseBytes)
                status = Int(response.status.code)
                text = String(buffer: buffer)
                retryAfter = Self.retryAfter(response.headers)
            } catch let error as HTTPClientError where Self.isTimeout(error) {
                if clock.now >= deadline { throw LLMError.timedOut(url: url, after: timeout) }
                // The connect timed out before the deadline: transient, retry below.
                if try await wait(attempt: attempt, hint: nil, deadline: deadline, clock: clock) { continue }
                throw LLMError.timedOut(url: url, after: timeout)
            } catch is CancellationError {
                throw CancellationError()
            } catch let error as LLMError {
                throw error
            } catch {
                let reason = key?.scrub("\(error)") ?? "\(error)"
                if try await wait(attempt: attempt, hint: nil, deadline: deadline, clock: clock) { continue }
                throw LLMError.unreachable(url: url, reason: reason)
            }
            if (200..<300).contains(status) {
                do {
                    return try JSONDecoder().decode(Value.self, from: Data(text.utf8))
                } catch {
                    throw LLMError.badResponse("HTTP \(status) with a body that is not JSON: \(Self.snippet(text, key))")
                }
            }
            if status == 429 || (500...599).contains(status),
                try await wait(attempt: attempt, hint: retryAfter, deadline: deadline, clock: clock)
            {
                continue
            }
            throw LLMError.http(status: status, url: url, body: Self.snippet(text, key), attempts: attempt)
        }
    }

    /// Sleeps before the next attempt; false when no retry is left or the wait would
    /// pass the deadline (then the caller reports the last failure).
    private func wait(attempt: Int, hint: Duration?, deadline: ContinuousClock.Instant, clock: ContinuousClock) async throws -> Bool {
        guard attempt <= retry.maxRetries else { return false }
        let delay = min(hint ?? retry.backoff(attempt: attempt), retry.maxDelay)
        guard clock.now + delay < deadline else { return false }
        try await Task.sleep(for: delay)
        return true
    }

    static func isTimeout(_ e: HTTPClientError) -> Bool {
        [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .getConnectionFromPoolTimeout].contains(e)
    }

    /// Retry-After as delta-seconds or an HTTP date.
    static func retryAfter(_ headers: HTTPHeaders) -> Duration? {
        guard let v = headers.first(name: "retry-after")?.trimmingCharacters(in: .whitespaces) else { return nil }
        if let s = Double(v), s.isFinite, s >= 0 { return .milliseconds(Int(s * 1000)) }
        let f = DateFormatter()
        f.locale = Locale(identifier: "en_US_POSIX")
        f.timeZone = TimeZone(identifier: "GMT")
        f.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let d = f.date(from: v) else { return nil }
        return .milliseconds(Int(max(0, d.timeIntervalSinceNow) * 1000))
    }

    /// A provider's error body, capped and with the key removed (some echo request headers).
    static func snippet(_ text: String, _ key: APIKey?) -> String {
        let capped = text.count > 500 ? String(text.prefix(500)) + "…" : text
        return key?.scrub(capped) ?? capped
    }
}

extension Duration {
    var nanoseconds: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}

/// The HTTP client the providers use by default. Process-wide (like `HTTPClient.shared`,
/// it is never shut down), configured for API calls that carry a secret:
/// - redirects are not followed, so the key header is never replayed to another host;
/// - a refused connection fails at once instead of being retried until the connect
///   timeout, because `JSONPoster` already retries with backoff within the deadline.
public enum LLMHTTP {
    public static let client: HTTPClient = {
        var c = HTTPClient.Configuration()
        c.redirectConfiguration = .disallow
        c.timeout = .init(connect: .seconds(10))
        c.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
    }()
}
