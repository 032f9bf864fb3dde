public import AsyncHTTPClient
import Foundation
import MendCore
public import MendStore
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// Delivers notifications off the hot path. `post` is synchronous and never waits: it
/// puts a trigger on a bounded queue. One task reads the facts of each trigger from the
/// state and renders them; each endpoint has its own bounded queue and task, which POSTs
/// with bounded retries and backoff and audits the outcome. A dead endpoint fills only its
/// own queue (then its notifications are dropped, and the drop is audited); loading and the
/// other endpoints go on.
public actor Notifier {
    public struct Retry: Sendable {
        /// Attempts per delivery, the first included.
        public var attempts: Int
        /// The wait before the second attempt; it doubles each time, up to `maxDelay`.
        public var baseDelay: Duration
        public var maxDelay: Duration
        /// One attempt's limit, connect to last byte.
        public var timeout: Duration

        public init(
            attempts: Int = 4, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(8), timeout: Duration = .seconds(10)
        ) {
            self.attempts = max(1, attempts)
            self.baseDelay = baseDelay
            self.maxDelay = maxDelay
            self.timeout = timeout
        }

        func delay(after attempt: Int, hint: Duration?) -> Duration {
            if let hint { return min(hint, maxDelay) }
            let exp = baseDelay * (1 << min(attempt - 1, 20))
            return min(exp, maxDelay)
        }
    }

    struct Delivery: Sendable {
        var facts: NotificationFacts
        var trigger: NotifyTrigger
        var id: String
        var time: Date
    }

    public nonisolated let endpoints: [NotifyEndpoint]
    nonisolated let intake: AsyncStream<NotifyTrigger>.Continuation
    /// Triggers and deliveries not finished yet, for `flush`.
    nonisolated let pending: NIOLockedValueBox<Int>
    /// Triggers the intake queue had no room for; audited by the dispatcher.
    nonisolated let droppedAtIntake: NIOLockedValueBox<[NotifyTrigger]>
    private var tasks: [Task<Void, Never>] = []

    /// The process-wide client (never shut down, like `HTTPClient.shared`): redirects are
    /// not followed, so a signed body is never replayed to another host.
    public static let client: HTTPClient = {
        var c = HTTPClient.Configuration()
        c.redirectConfiguration = .disallow
        c.timeout = .init(connect: .seconds(5))
        c.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: c)
    }()

    public init(
        endpoints: [NotifyEndpoint], store: StateStore, links: ApprovalLinks? = nil, retry: Retry = Retry(), capacity: Int = 1000,
        client: HTTPClient = Notifier.client
    ) {
        self.endpoints = endpoints
        let (stream, intake) = AsyncStream.makeStream(of: NotifyTrigger.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
        self.intake = intake
        let pending = NIOLockedValueBox(0)
        let dropped = NIOLockedValueBox<[NotifyTrigger]>([])
        self.pending = pending
        self.droppedAtIntake = dropped
        var queues: [(NotifyEndpoint, AsyncStream<Delivery>.Continuation)] = []
        var tasks: [Task<Void, Never>] = []
        for endpoint in endpoints {
            let (s, c) = AsyncStream.makeStream(of: Delivery.self, bufferingPolicy: .bufferingOldest(max(1, capacity)))
            queues.append((endpoint, c))
            tasks.append(
                Task {
                    for await d in s {
                        await Self.deliver(d, to: endpoint, retry: retry, client: client, store: store)
                        pending.withLockedValue { $0 -= 1 }
                    }
                })
        }
        let lanes = queues
        tasks.append(
            Task {
                var announced = Set<Int64>()
                for await t in stream {
                    for lost in dropped.withLockedValue({ d in
                        defer { d = [] }; return d
                    }) {
                        for (e, _) in lanes where e.wants(lost.kind) {
                            await Self.audit(
                                .notificationDropped(
                                    NotificationDelivery(
                                        event: lost.kind.eventType, eventID: "", incident: lost.incident, plan: lost.plan,
                                        endpoint: e.shown,
                                        format: e.format.rawValue, attempts: 0, error: "the notification queue was full")), store: store)
                        }
                    }
                    defer { pending.withLockedValue { $0 -= 1 } }
                    // A batch that rolled back and was committed again opens the same incident twice.
                    if t.kind == .opened, !announced.insert(t.incident).inserted { continue }
                    guard let facts = await Self.resolve(t, store: store, links: links) else { continue }
                    let delivery = Delivery(facts: facts, trigger: t, id: UUID().uuidString.lowercased(), time: Date())
                    for (e, lane) in lanes where e.wants(t.kind) {
                        pending.withLockedValue { $0 += 1 }
                        if case .dropped = lane.yield(delivery) {
                            pending.withLockedValue { $0 -= 1 }
                            await Self.audit(
                                .notificationDropped(
                                    NotificationDelivery(
                                        event: t.kind.eventType, eventID: delivery.id, incident: t.incident, plan: t.plan,
                                        endpoint: e.shown, format: e.format.rawValue, attempts: 0,
                                        error: "the endpoint's queue was full (it is slow or down)")), store: store)
                        }
                    }
                }
                for (_, lane) in lanes { lane.finish() }
            })
        self.tasks = tasks
    }

    /// Queues a trigger and returns at once; never waits for the network or the database.
    public nonisolated func post(_ trigger: NotifyTrigger) {
        guard endpoints.contains(where: { $0.wants(trigger.kind) }) else { return }
        pending.withLockedValue { $0 += 1 }
        if case .dropped = intake.yield(trigger) {
            pending.withLockedValue { $0 -= 1 }
            droppedAtIntake.withLockedValue { $0.append(trigger) }
        }
    }

    /// Waits until every queued notification is delivered or given up on, at most `timeout`.
    /// True when nothing is left. Commands call it before they exit.
    @discardableResult
    public func flush(timeout: Duration) async -> Bool {
        let clock = ContinuousClock()
        let deadline = clock.now + timeout
        while pending.withLockedValue({ $0 }) > 0 {
            if clock.now >= deadline { return false }
            try? await Task.sleep(for: .milliseconds(20))
        }
        return true
    }

    /// Notifications still queued or in flight.
    public nonisolated var backlog: Int { pending.withLockedValue { $0 } }

    /// Stops taking triggers and cancels what is in flight.
    public func stop() {
        intake.finish()
        for t in tasks { t.cancel() }
    }

    /// The facts of a trigger. A trigger posted inside a transaction (an incident opened by
    /// a batch) may arrive before the commit: it is read again a few times before it is
    /// given up as rolled back.
    static func resolve(_ t: NotifyTrigger, store: StateStore, links: ApprovalLinks?) async -> NotificationFacts? {
        for wait in [0, 100, 400, 1500] {
            if wait > 0 { try? await Task.sleep(for: .milliseconds(wait)) }
            if let facts = try? await NotificationFacts.resolve(t, store: store, links: links) { return facts }
        }
        return nil
    }

    static func audit(_ event: AuditEvent, store: StateStore) async {
        _ = try? await store.transaction { tx in try await tx.audit(event, actor: "notifier") }
    }

    /// POSTs one notification to one endpoint: 2xx is delivered; 408, 429, 5xx and
    /// network errors are retried with backoff; other statuses are final.
    static func deliver(_ d: Delivery, to endpoint: NotifyEndpoint, retry: Retry, client: HTTPClient, store: StateStore) async {
        let body = NotificationRenderer.render(d.facts, format: endpoint.format, id: d.id, time: d.time)
        var attempt = 0
        var status: Int?
        var lastError: String?
        var delivered = false
        while attempt < retry.attempts, !Task.isCancelled {
            attempt += 1
            var request = HTTPClientRequest(url: endpoint.url)
            request.method = .POST
            request.headers.add(name: "content-type", value: endpoint.format == .json ? "application/cloudevents+json" : "application/json")
            request.headers.add(name: "user-agent", value: "mend-notifier/1")
            request.headers.add(name: "ce-id", value: d.id)
            if let secret = endpoint.secret {
                let t = Int64(Date().timeIntervalSince1970)
                request.headers.add(name: WebhookSignature.header, value: WebhookSignature.sign(body: body, secret: secret, timestamp: t))
            }
            request.body = .bytes(ByteBuffer(bytes: body))
            var hint: Duration?
            do {
                let response = try await client.execute(request, timeout: .nanoseconds(retry.timeout.nanosecondsCount))
                _ = try? await response.body.collect(upTo: 64 << 10)
                let code = Int(response.status.code)
                status = code
                if (200..<300).contains(code) {
                    delivered = true
                    lastError = nil
                    break
                }
                lastError = "HTTP \(code)"
                if let s = response.headers.first(name: "retry-after"), let secs = Double(s) { hint = .milliseconds(Int64(secs * 1000)) }
                guard code == 408 || code == 429 || code >= 500 else { break }
            } catch {
                status = nil
                // Errors name the host at most; the URL's path may be a secret.
                lastError = "no answer from \(endpoint.shown): \(Self.describe(error))"
            }
            if attempt < retry.attempts { try? await Task.sleep(for: retry.delay(after: attempt, hint: hint)) }
        }
        let facts = NotificationDelivery(
            event: d.trigger.kind.eventType, eventID: d.id, incident: d.trigger.incident, plan: d.trigger.plan, endpoint: endpoint.shown,
            format: endpoint.format.rawValue, attempts: attempt, status: status, error: lastError)
        await audit(delivered ? .notificationDelivered(facts) : .notificationFailed(facts), store: store)
    }

    static func describe(_ error: any Error) -> String {
        if let e = error as? HTTPClientError {
            if e == .deadlineExceeded || e == .readTimeout || e == .connectTimeout { return "timed out" }
            if e == .remoteConnectionClosed { return "the connection was closed" }
        }
        let text = "\(error)"
        if text.localizedCaseInsensitiveContains("refused") { return "connection refused" }
        return String(text.prefix(200))
    }
}

extension Duration {
    var nanosecondsCount: Int64 {
        let (s, atto) = components
        return s * 1_000_000_000 + atto / 1_000_000_000
    }
}
