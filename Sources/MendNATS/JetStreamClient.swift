import CNats
import Dispatch
import Foundation
import NIOConcurrencyHelpers

/// What can go wrong talking to NATS, each case saying what to check.
public enum JetStreamError: Error, Sendable, CustomStringConvertible {
    case badURL(String)
    case connect(url: String, detail: String)
    case streamNotFound(String)
    case consumer(stream: String, consumer: String, detail: String)
    case consumerMismatch(consumer: String, detail: String)
    case fetch(String)
    case ack(String)
    /// The connection is down and libnats is reconnecting by itself.
    case disconnected(url: String)
    /// Fetching kept failing for the whole retry budget (`--retry-for`).
    case gaveUp(url: String, stream: String, consumer: String, seconds: Double, attempts: Int, last: String)

    public var description: String {
        switch self {
        case .badURL(let url):
            "cannot use NATS URL '\(JetStreamClient.redact(url))': use nats://HOST:PORT (for example nats://127.0.0.1:4222)"
        case .connect(let url, let detail):
            "cannot connect to NATS at \(JetStreamClient.redact(url)): \(detail). Check that nats-server runs there with JetStream enabled (-js)"
        case .streamNotFound(let s):
            "JetStream stream '\(s)' does not exist on the server: create it (nats stream add \(s) --subjects ...) or check --stream"
        case .consumer(let s, let c, let detail):
            "cannot create or bind consumer '\(c)' on stream '\(s)': \(detail)"
        case .consumerMismatch(let c, let detail):
            "consumer '\(c)' already exists with another configuration (\(detail)): use its settings or another --consumer name"
        case .fetch(let detail): "fetching from JetStream failed: \(detail)"
        case .ack(let detail): "acknowledging messages failed: \(detail); unacknowledged messages are redelivered and skipped as committed"
        case .disconnected(let url): "not connected to NATS at \(JetStreamClient.redact(url)) (reconnecting)"
        case .gaveUp(let url, let stream, let consumer, let seconds, let attempts, let last):
            "gave up on NATS at \(JetStreamClient.redact(url)) after \(attempts) failed fetches in \(Int(seconds.rounded())) s (last: \(JetStreamClient.redactAll(last))): "
                + "check that nats-server runs there with JetStream enabled (-js), that stream '\(stream)' and consumer '\(consumer)' "
                + "survived its restart (same store directory), and the network in between; --retry-for SECONDS sets how long to keep trying. "
                + "What was committed stays committed; the rest is redelivered to the next worker"
        }
    }

    /// Whether trying again later may help: not for a wrong URL or a consumer set up for something else.
    public var isRetryable: Bool {
        switch self {
        case .badURL, .consumerMismatch, .gaveUp: false
        default: true
        }
    }
}

/// One libnats connection and its JetStream context. The client and every message fetched
/// through it hold it, so it is closed and freed only after the last of them is gone (an ack
/// never reaches a freed connection).
final class NATSConnection: @unchecked Sendable {
    // Unchecked: libnats' connection and JetStream context are thread-safe, and the pointers never change.
    let nc: OpaquePointer
    let js: OpaquePointer

    init(nc: OpaquePointer, js: OpaquePointer) {
        self.nc = nc
        self.js = js
    }

    var isConnected: Bool { natsConnection_Status(nc) == NATS_CONN_STATUS_CONNECTED }
    /// Given up by libnats for good (it does not reconnect a closed connection): dial a new one.
    var isClosed: Bool { natsConnection_IsClosed(nc) }

    deinit {
        jsCtx_Destroy(js)
        // Closes first; what is still buffered goes out if the server is there.
        natsConnection_Destroy(nc)
    }
}

/// Where the messages of pull requests arrive: a core subscription on an inbox of its own,
/// which libnats subscribes again by itself after a reconnect. Used on the fetch queue only;
/// dropping it unsubscribes, and late messages of old requests go with it (unacked, they
/// are redelivered).
final class PullInbox {
    let connection: NATSConnection
    let sub: OpaquePointer
    let subject: String

    init(connection: NATSConnection) throws(JetStreamError) {
        var name: UnsafeMutablePointer<natsInbox>?
        guard natsInbox_Create(&name) == NATS_OK, let inbox = name else { throw .fetch("cannot create an inbox: out of memory") }
        subject = String(cString: inbox)
        natsInbox_Destroy(inbox)
        var sub: OpaquePointer?
        let s = natsConnection_SubscribeSync(&sub, connection.nc, subject)
        guard s == NATS_OK, let sub else { throw .fetch("cannot subscribe to the pull inbox: \(JetStreamClient.text(s))") }
        self.connection = connection
        self.sub = sub
    }

    deinit {
        _ = natsSubscription_Unsubscribe(sub)
        natsSubscription_Destroy(sub)
    }
}

/// One JetStream message held until it is acknowledged: its payload, subject, stream
/// sequence and delivery count, copied out of the C message (freed at once), and where its
/// acks go. It holds the connection it came on, which the acks use.
public final class JetStreamMessage: @unchecked Sendable {
    // Unchecked: `acked` is read and written on JetStreamClient's ack queue only; the rest is immutable.
    public let subject: String
    public let payload: [UInt8]
    public let sequence: UInt64
    public let deliveries: UInt64
    /// `$JS.ACK.…`: the subject that acknowledges this delivery.
    let reply: String
    let connection: NATSConnection
    fileprivate var acked = false

    fileprivate init(copying raw: OpaquePointer, reply: String, connection: NATSConnection) {
        self.reply = reply
        self.connection = connection
        subject = natsMsg_GetSubject(raw).map { String(cString: $0) } ?? ""
        let n = Int(natsMsg_GetDataLength(raw))
        if n > 0, let data = natsMsg_GetData(raw) {
            payload = data.withMemoryRebound(to: UInt8.self, capacity: n) { Array(UnsafeBufferPointer(start: $0, count: n)) }
        } else {
            payload = []
        }
        var meta: UnsafeMutablePointer<jsMsgMetaData>?
        if natsMsg_GetMetaData(&meta, raw) == NATS_OK, let m = meta {
            sequence = m.pointee.Sequence.Stream
            deliveries = m.pointee.NumDelivered
            jsMsgMetaData_Destroy(m)
        } else {
            sequence = 0
            deliveries = 1
        }
    }
}

/// A pull consumer on one durable JetStream consumer. libnats blocks, so every call runs
/// on a Dispatch queue of its own and is bridged with a continuation: a blocked thread of
/// Swift's cooperative pool (two here) would stall the engine.
///
/// Pull requests are sent and read here, not with libnats' `natsSubscription_Fetch`: in the
/// libnats Debian ships (3.4.1) that call writes past the end of its message array when the
/// subscription already holds more than half a batch of messages from an earlier request,
/// which is what a reconnect produces (the pull requests of the fetches made while the
/// server was down are all sent at once when it is back): the segmentation fault of issue 27.
public final class JetStreamClient: @unchecked Sendable {
    // Unchecked: `inbox` and `needsBind` are read and written on the fetch queue only; the
    // connection, which the ack queue reads too, is behind a lock.
    private let connection = NIOLockedValueBox<NATSConnection?>(nil)
    private var inbox: PullInbox?
    private var needsBind = true
    /// Fetches block up to their timeout; acks must not wait behind them.
    private let fetchQueue = DispatchQueue(label: "mend.nats.fetch")
    private let ackQueue = DispatchQueue(label: "mend.nats.ack")
    private let ackFailures = NIOLockedValueBox(0)
    public let stream: String
    public let consumer: String
    let url: String
    let settings: ConsumerSettings
    private let nextSubject: String

    public struct ConsumerSettings: Sendable {
        public var filterSubject: String?
        /// Seconds before the server redelivers an unacknowledged message.
        public var ackWait: Double
        /// Messages delivered and not yet acknowledged, over all workers on the consumer.
        public var maxAckPending: Int
        public init(filterSubject: String?, ackWait: Double, maxAckPending: Int) {
            self.filterSubject = filterSubject
            self.ackWait = ackWait
            self.maxAckPending = maxAckPending
        }
    }

    /// Connects, creates the durable pull consumer if it is missing (explicit ack) or
    /// binds to the existing one, so that several processes on one durable share its work.
    /// One attempt: a server that cannot be reached is `.connect`, which the worker tries
    /// again within its budget; once connected, a restart is lived through (`fetch`).
    public static func connect(url: String, stream: String, consumer: String, settings: ConsumerSettings) async throws(JetStreamError)
        -> JetStreamClient
    {
        guard url.hasPrefix("nats://") || url.hasPrefix("tls://") else { throw .badURL(url) }
        let client = JetStreamClient(url: url, stream: stream, consumer: consumer, settings: settings)
        try await client.onQueue(client.fetchQueue) { () throws(JetStreamError) in
            let conn = try Self.dial(url)
            client.connection.withLockedValue { $0 = conn }
            try client.bind(conn)
        }
        return client
    }

    private init(url: String, stream: String, consumer: String, settings: ConsumerSettings) {
        self.url = url
        self.stream = stream
        self.consumer = consumer
        self.settings = settings
        nextSubject = "$JS.API.CONSUMER.MSG.NEXT.\(stream).\(consumer)"
    }

    private func onQueue<T: Sendable>(_ queue: DispatchQueue, _ body: @escaping @Sendable () throws(JetStreamError) -> T)
        async throws(JetStreamError) -> T
    {
        let result = await withCheckedContinuation { (c: CheckedContinuation<Result<T, JetStreamError>, Never>) in
            queue.async { c.resume(returning: Result { () throws(JetStreamError) in try body() }) }
        }
        return try result.get()
    }

    static func text(_ s: natsStatus) -> String {
        let last = nats_GetLastError(nil).map { String(cString: $0) } ?? ""
        let name = natsStatus_GetText(s).map { String(cString: $0) } ?? "status \(s.rawValue)"
        return last.isEmpty || last == name ? name : "\(name): \(last)"
    }

    private static func dial(_ url: String) throws(JetStreamError) -> NATSConnection {
        var opts: OpaquePointer?
        guard natsOptions_Create(&opts) == NATS_OK, let o = opts else { throw .connect(url: url, detail: "out of memory") }
        defer { natsOptions_Destroy(o) }
        _ = natsOptions_SetURL(o, url)
        _ = natsOptions_SetName(o, "mend consume")
        // libnats reconnects by itself and never stops: how long a worker waits for the
        // server is its retry budget (--retry-for), not a count of reconnects here.
        _ = natsOptions_SetAllowReconnect(o, true)
        _ = natsOptions_SetMaxReconnect(o, -1)
        _ = natsOptions_SetReconnectWait(o, 500)
        // Jitter, so that the workers of a restarted server do not all come back in step.
        _ = natsOptions_SetReconnectJitter(o, 250, 1000)
        _ = natsOptions_SetTimeout(o, 5000)
        // A server gone without closing the socket (a dead host, a partition) is noticed in
        // about 30 s rather than libnats' default of 4 minutes.
        _ = natsOptions_SetPingInterval(o, 10_000)
        _ = natsOptions_SetMaxPingsOut(o, 3)
        var nc: OpaquePointer?
        var s = natsConnection_Connect(&nc, o)
        guard s == NATS_OK, let c = nc else { throw .connect(url: url, detail: text(s)) }
        var js: OpaquePointer?
        s = natsConnection_JetStream(&js, c, nil)
        guard s == NATS_OK, let j = js else {
            natsConnection_Destroy(c)
            throw .connect(url: url, detail: text(s))
        }
        return NATSConnection(nc: c, js: j)
    }

    /// The connection to fetch on: dialled again if libnats closed it for good; an error
    /// while libnats reconnects, so that no pull request waits in its reconnect buffer.
    private func liveConnection() throws(JetStreamError) -> NATSConnection {
        if let conn = connection.withLockedValue({ $0 }), !conn.isClosed {
            guard conn.isConnected else { throw .disconnected(url: url) }
            return conn
        }
        let fresh = try Self.dial(url)
        connection.withLockedValue { $0 = fresh }
        needsBind = true
        return fresh
    }

    /// Checks the consumer (creating it again if the server lost it) and opens a new pull
    /// inbox. Runs at connect and after a failed fetch: what libnats does not restore itself.
    private func bind(_ conn: NATSConnection) throws(JetStreamError) {
        inbox = nil
        _ = try ensureConsumer(conn.js)
        inbox = try PullInbox(connection: conn)
        needsBind = false
    }

    /// The existing consumer's filter subject, after creating the consumer if it is missing.
    private func ensureConsumer(_ js: OpaquePointer) throws(JetStreamError) -> String? {
        var ci: UnsafeMutablePointer<jsConsumerInfo>?
        var jerr = jsErrCode(0)
        var s = js_GetConsumerInfo(&ci, js, stream, consumer, nil, &jerr)
        if s == NATS_OK, let info = ci {
            defer { jsConsumerInfo_Destroy(info) }
            return try check(info)
        }
        if jerr == JSStreamNotFoundErr { throw .streamNotFound(stream) }
        guard s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr else {
            throw .consumer(stream: stream, consumer: consumer, detail: Self.text(s))
        }
        var cc = jsConsumerConfig()
        jsConsumerConfig_Init(&cc)
        cc.AckPolicy = js_AckExplicit
        cc.DeliverPolicy = js_DeliverAll
        cc.AckWait = Int64(settings.ackWait * 1e9)
        cc.MaxAckPending = Int64(settings.maxAckPending)
        // No MaxDeliver: a message Mend cannot load is quarantined and acked, never dropped by the server.
        cc.MaxDeliver = -1
        let filter = settings.filterSubject.map { strdup($0) } ?? nil
        let durable = strdup(consumer)
        defer {
            free(filter)
            free(durable)
        }
        cc.Durable = UnsafePointer(durable)
        cc.FilterSubject = UnsafePointer(filter)
        ci = nil
        s = js_AddConsumer(&ci, js, stream, &cc, nil, &jerr)
        if let info = ci { jsConsumerInfo_Destroy(info) }
        if s == NATS_OK { return settings.filterSubject }
        if jerr == JSStreamNotFoundErr { throw .streamNotFound(stream) }
        // Another worker created it first: bind to theirs.
        ci = nil
        if js_GetConsumerInfo(&ci, js, stream, consumer, nil, &jerr) == NATS_OK, let info = ci {
            defer { jsConsumerInfo_Destroy(info) }
            return try check(info)
        }
        throw .consumer(stream: stream, consumer: consumer, detail: Self.text(s) + " (JetStream code \(jerr.rawValue))")
    }

    private func check(_ info: UnsafeMutablePointer<jsConsumerInfo>) throws(JetStreamError) -> String? {
        guard let cfg = info.pointee.Config else { return settings.filterSubject }
        if cfg.pointee.DeliverSubject != nil {
            throw .consumerMismatch(consumer: consumer, detail: "it is a push consumer; mend consume pulls")
        }
        if cfg.pointee.AckPolicy != js_AckExplicit {
            throw .consumerMismatch(consumer: consumer, detail: "its ack policy is not explicit")
        }
        let existing = cfg.pointee.FilterSubject.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        if let wanted = settings.filterSubject, wanted != existing {
            throw .consumerMismatch(consumer: consumer, detail: "its filter is '\(existing ?? "(none)")', not '\(wanted)'")
        }
        return existing
    }

    /// Up to `batch` messages, waiting at most `timeout` seconds; empty when none came. Throws
    /// while the connection is down or the consumer cannot be reached; the next call binds
    /// the consumer and the pull inbox again.
    public func fetch(batch: Int, timeout: Double) async throws(JetStreamError) -> [JetStreamMessage] {
        try await onQueue(fetchQueue) { [self] () throws(JetStreamError) in
            do throws(JetStreamError) {
                return try pull(batch: max(1, batch), timeout: Int64(timeout * 1000))
            } catch {
                needsBind = true
                throw error
            }
        }
    }

    private enum Delivery {
        case message(JetStreamMessage)
        /// A status of the pull protocol: 100 heartbeat, 404 no messages, 408 request expired,
        /// 409 (consumer deleted, too many waiting requests…), 503 no responders.
        case status(code: String, description: String)
        case nothing
    }

    private func pull(batch: Int, timeout: Int64) throws(JetStreamError) -> [JetStreamMessage] {
        let conn = try liveConnection()
        if needsBind || inbox?.connection !== conn { try bind(conn) }
        guard let inbox else { throw .fetch("no pull inbox") }
        var out: [JetStreamMessage] = []
        out.reserveCapacity(batch)
        // Messages of an earlier request that came after its fetch returned: taken first,
        // never more than the batch (the array grows as needed, nothing is written past it).
        draining: while out.count < batch {
            switch try next(inbox, wait: 0) {
            case .message(let m): out.append(m)
            case .status: continue
            case .nothing: break draining
            }
        }
        if !out.isEmpty { return out }
        let deadline = nats_Now() + timeout
        // As libnats' own fetch does: ask for what is there now, and only if nothing is, wait.
        var noWait = batch > 1
        try request(inbox, batch: batch, noWait: noWait, expires: timeout)
        receiving: while out.count < batch {
            let left = deadline - nats_Now()
            if left <= 0 { break }
            switch try next(inbox, wait: left) {
            case .nothing: break receiving
            case .message(let m): out.append(m)
            case .status(let code, let description):
                switch code {
                case "100": continue
                case "404" where noWait && out.isEmpty:
                    noWait = false
                    try request(inbox, batch: batch, noWait: false, expires: left)
                case "404", "408": break receiving
                // The consumer has as many messages out as it allows (MaxAckPending): none now.
                case "409" where description.hasPrefix("Exceeded Max"): break receiving
                default:
                    // 503: JetStream or the consumer is not there (yet); 409: the consumer was
                    // deleted or changed. Bind again on the next fetch.
                    needsBind = true
                    if out.isEmpty { throw .fetch("status \(code) \(description)".trimmingCharacters(in: .whitespaces)) }
                    break receiving
                }
            }
        }
        // Silence because the server went away is not idleness: say so, the caller retries.
        if out.isEmpty, !conn.isConnected { throw .disconnected(url: url) }
        return out
    }

    private func request(_ inbox: PullInbox, batch: Int, noWait: Bool, expires: Int64) throws(JetStreamError) {
        // The server gives up a little before this fetch does, so its answer is not left for the next one.
        let ms = expires >= 20 ? expires - 10 : expires
        let body = noWait ? "{\"batch\":\(batch),\"no_wait\":true}" : "{\"batch\":\(batch),\"expires\":\(ms * 1_000_000)}"
        let s = natsConnection_PublishRequestString(inbox.connection.nc, nextSubject, inbox.subject, body)
        guard s == NATS_OK else { throw .fetch("cannot send a pull request: \(Self.text(s))") }
    }

    private func next(_ inbox: PullInbox, wait: Int64) throws(JetStreamError) -> Delivery {
        var raw: OpaquePointer?
        let s = natsSubscription_NextMsg(&raw, inbox.sub, wait)
        switch s {
        case NATS_OK: break
        case NATS_TIMEOUT: return .nothing
        // Reported once when the inbox overflowed; the dropped messages are redelivered.
        case NATS_SLOW_CONSUMER: return .status(code: "100", description: "")
        case NATS_NO_RESPONDERS: return .status(code: "503", description: "no responders: JetStream or the consumer is not available")
        default: throw .fetch(Self.text(s))
        }
        guard let m = raw else { return .nothing }
        defer { natsMsg_Destroy(m) }
        if let reply = natsMsg_GetReply(m), strncmp(reply, "$JS.ACK.", 8) == 0 {
            return .message(JetStreamMessage(copying: m, reply: String(cString: reply), connection: inbox.connection))
        }
        var code: UnsafePointer<CChar>?
        guard natsMsgHeader_Get(m, "Status", &code) == NATS_OK, let code else { return .status(code: "100", description: "") }
        var description: UnsafePointer<CChar>?
        _ = natsMsgHeader_Get(m, "Description", &description)
        return .status(code: String(cString: code), description: description.map { String(cString: $0) } ?? "")
    }

    /// Acknowledges messages (after their batch committed) and flushes so the acks leave
    /// now. Returns how many acks could not be sent: never an error, since an ack that does
    /// not arrive only brings the message back, and the committed ranges skip it.
    @discardableResult
    public func ack(_ messages: [JetStreamMessage]) async -> Int {
        guard !messages.isEmpty else { return 0 }
        ackLater(messages)
        return await drainAcks()
    }

    /// Acknowledges messages in the background, in order: the next batch does not wait for
    /// its predecessor's acks (5,000 acks cost a third of a batch). While the server is away
    /// acks wait in libnats' reconnect buffer. `drainAcks` waits for them.
    public func ackLater(_ messages: [JetStreamMessage]) {
        guard !messages.isEmpty else { return }
        ackQueue.async { [self] in
            for m in messages where !m.acked {
                if natsConnection_PublishString(m.connection.nc, m.reply, "+ACK") == NATS_OK {
                    m.acked = true
                } else {
                    ackFailures.withLockedValue { $0 += 1 }
                }
            }
        }
    }

    /// Waits until every ack handed to `ackLater` is sent and, while connected, flushed (at
    /// most 2 s); returns how many could not be sent since the last call.
    @discardableResult
    public func drainAcks() async -> Int {
        await withCheckedContinuation { (c: CheckedContinuation<Int, Never>) in
            ackQueue.async { [self] in
                flushIfConnected()
                c.resume(
                    returning: ackFailures.withLockedValue { n in
                        defer { n = 0 }
                        return n
                    })
            }
        }
    }

    /// Never waits for a server that is away: its acks stay in the reconnect buffer.
    private func flushIfConnected() {
        guard let conn = connection.withLockedValue({ $0 }), conn.isConnected else { return }
        _ = natsConnection_FlushTimeout(conn.nc, 2000)
    }

    /// Tells the server these messages are still being worked on: AckWait starts again.
    public func inProgress(_ messages: [JetStreamMessage]) async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            ackQueue.async { [self] in
                for m in messages where !m.acked { _ = natsConnection_PublishString(m.connection.nc, m.reply, "+WPI") }
                flushIfConnected()
                c.resume()
            }
        }
    }

    /// Hands messages back for redelivery now rather than after AckWait (at shutdown).
    public func nak(_ messages: [JetStreamMessage]) async {
        guard !messages.isEmpty else { return }
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            ackQueue.async { [self] in
                for m in messages where !m.acked { _ = natsConnection_PublishString(m.connection.nc, m.reply, "-NAK") }
                flushIfConnected()
                c.resume()
            }
        }
    }

    /// The consumer's ack floor (every sequence at or below it is acknowledged) and the
    /// messages still to deliver and still unacknowledged.
    public struct ConsumerState: Sendable {
        public var ackFloor: UInt64
        public var pending: UInt64
        public var ackPending: Int64
    }

    public func consumerState() async throws(JetStreamError) -> ConsumerState {
        try await onQueue(ackQueue) { [self] () throws(JetStreamError) in
            guard let conn = connection.withLockedValue({ $0 }), conn.isConnected else { throw .disconnected(url: url) }
            var ci: UnsafeMutablePointer<jsConsumerInfo>?
            var jerr = jsErrCode(0)
            let s = js_GetConsumerInfo(&ci, conn.js, stream, consumer, nil, &jerr)
            guard s == NATS_OK, let info = ci else {
                throw .consumer(stream: stream, consumer: consumer, detail: Self.text(s))
            }
            defer { jsConsumerInfo_Destroy(info) }
            return ConsumerState(
                ackFloor: info.pointee.AckFloor.Stream, pending: info.pointee.NumPending, ackPending: info.pointee.NumAckPending)
        }
    }

    /// Drops the password of nats://USER:PASSWORD@HOST from text shown to people.
    public static func redact(_ url: String) -> String {
        guard let scheme = url.range(of: "://"), let at = url[scheme.upperBound...].firstIndex(of: "@") else { return url }
        let userinfo = url[scheme.upperBound..<at]
        guard let colon = userinfo.firstIndex(of: ":") else { return url }
        return String(url[..<colon]) + ":***" + String(url[at...])
    }

    /// `redact` for every URL in a text (a libnats error may quote one).
    public static func redactAll(_ text: String) -> String {
        text.split(separator: " ", omittingEmptySubsequences: false).map { $0.contains("://") ? redact(String($0)) : String($0) }
            .joined(separator: " ")
    }
}
