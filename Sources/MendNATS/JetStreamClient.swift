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
        }
    }
}

/// One JetStream message held until it is acknowledged: its payload, subject, stream
/// sequence and delivery count. It owns the C message and frees it when released.
public final class JetStreamMessage: @unchecked Sendable {
    // Unchecked: the pointer is only used through JetStreamClient's ack queue (acks and
    // in-progress acks), one call at a time; the fields below are immutable.
    fileprivate let raw: OpaquePointer
    public let subject: String
    public let payload: [UInt8]
    public let sequence: UInt64
    public let deliveries: UInt64

    fileprivate init(raw: OpaquePointer) {
        self.raw = raw
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

    deinit { natsMsg_Destroy(raw) }
}

/// A pull subscription on one durable JetStream consumer. libnats blocks, so every call
/// runs on a Dispatch queue of its own and is bridged with a continuation: a blocked
/// thread of Swift's cooperative pool (two here) would stall the engine.
public final class JetStreamClient: @unchecked Sendable {
    // Unchecked: the C handles are written once in `connect` and then used from the two
    // serial queues below, which libnats allows (its connection is thread-safe).
    private var nc: OpaquePointer?
    private var js: OpaquePointer?
    private var sub: OpaquePointer?
    /// Fetches block up to their timeout; acks must not wait behind them.
    private let fetchQueue = DispatchQueue(label: "mend.nats.fetch")
    private let ackQueue = DispatchQueue(label: "mend.nats.ack")
    private let ackFailures = NIOLockedValueBox(0)
    public let stream: String
    public let consumer: String

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
    public static func connect(url: String, stream: String, consumer: String, settings: ConsumerSettings) async throws
        -> JetStreamClient
    {
        guard url.hasPrefix("nats://") || url.hasPrefix("tls://") else { throw JetStreamError.badURL(url) }
        let client = JetStreamClient(stream: stream, consumer: consumer)
        try await client.onQueue(client.fetchQueue) { try client.open(url: url, settings: settings) }
        return client
    }

    private init(stream: String, consumer: String) {
        self.stream = stream
        self.consumer = consumer
    }

    deinit {
        if let sub { natsSubscription_Destroy(sub) }
        if let js { jsCtx_Destroy(js) }
        if let nc {
            natsConnection_Close(nc)
            natsConnection_Destroy(nc)
        }
    }

    private func onQueue<T: Sendable>(_ queue: DispatchQueue, _ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { c in queue.async { c.resume(with: Result { try body() }) } }
    }

    private static func text(_ s: natsStatus) -> String {
        let last = nats_GetLastError(nil).map { String(cString: $0) } ?? ""
        let name = natsStatus_GetText(s).map { String(cString: $0) } ?? "status \(s.rawValue)"
        return last.isEmpty || last == name ? name : "\(name): \(last)"
    }

    private func open(url: String, settings: ConsumerSettings) throws {
        var opts: OpaquePointer?
        guard natsOptions_Create(&opts) == NATS_OK, let o = opts else { throw JetStreamError.connect(url: url, detail: "out of memory") }
        defer { natsOptions_Destroy(o) }
        _ = natsOptions_SetURL(o, url)
        _ = natsOptions_SetName(o, "mend consume")
        // Keep reconnecting through a server restart: acks wait in the reconnect buffer.
        _ = natsOptions_SetMaxReconnect(o, -1)
        _ = natsOptions_SetReconnectWait(o, 500)
        _ = natsOptions_SetTimeout(o, 5000)
        var s = natsConnection_Connect(&nc, o)
        guard s == NATS_OK else { throw JetStreamError.connect(url: url, detail: Self.text(s)) }
        s = natsConnection_JetStream(&js, nc, nil)
        guard s == NATS_OK else { throw JetStreamError.connect(url: url, detail: Self.text(s)) }
        let filter = try ensureConsumer(settings)
        var so = jsSubOptions()
        jsSubOptions_Init(&so)
        var jerr = jsErrCode(0)
        let subject = filter ?? ""
        s = stream.withCString { st in
            consumer.withCString { co in
                so.Stream = st
                so.Consumer = co
                return subject.withCString { sj in js_PullSubscribe(&sub, js, sj, co, nil, &so, &jerr) }
            }
        }
        guard s == NATS_OK else {
            throw JetStreamError.consumer(stream: stream, consumer: consumer, detail: Self.text(s) + " (JetStream code \(jerr.rawValue))")
        }
    }

    /// The existing consumer's filter subject, after creating the consumer if it is missing.
    private func ensureConsumer(_ settings: ConsumerSettings) throws -> String? {
        var ci: UnsafeMutablePointer<jsConsumerInfo>?
        var jerr = jsErrCode(0)
        var s = js_GetConsumerInfo(&ci, js, stream, consumer, nil, &jerr)
        if s == NATS_OK, let info = ci {
            defer { jsConsumerInfo_Destroy(info) }
            return try check(info, settings)
        }
        if jerr == JSStreamNotFoundErr { throw JetStreamError.streamNotFound(stream) }
        guard s == NATS_NOT_FOUND || jerr == JSConsumerNotFoundErr else {
            throw JetStreamError.consumer(stream: stream, consumer: consumer, detail: Self.text(s))
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
        if jerr == JSStreamNotFoundErr { throw JetStreamError.streamNotFound(stream) }
        // Another worker created it first: bind to theirs.
        ci = nil
        if js_GetConsumerInfo(&ci, js, stream, consumer, nil, &jerr) == NATS_OK, let info = ci {
            defer { jsConsumerInfo_Destroy(info) }
            return try check(info, settings)
        }
        throw JetStreamError.consumer(stream: stream, consumer: consumer, detail: Self.text(s) + " (JetStream code \(jerr.rawValue))")
    }

    private func check(_ info: UnsafeMutablePointer<jsConsumerInfo>, _ settings: ConsumerSettings) throws -> String? {
        guard let cfg = info.pointee.Config else { return settings.filterSubject }
        if cfg.pointee.DeliverSubject != nil {
            throw JetStreamError.consumerMismatch(consumer: consumer, detail: "it is a push consumer; mend consume pulls")
        }
        if cfg.pointee.AckPolicy != js_AckExplicit {
            throw JetStreamError.consumerMismatch(consumer: consumer, detail: "its ack policy is not explicit")
        }
        let existing = cfg.pointee.FilterSubject.map { String(cString: $0) }.flatMap { $0.isEmpty ? nil : $0 }
        if let wanted = settings.filterSubject, wanted != existing {
            throw JetStreamError.consumerMismatch(consumer: consumer, detail: "its filter is '\(existing ?? "(none)")', not '\(wanted)'")
        }
        return existing
    }

    /// Up to `batch` messages, waiting at most `timeout` seconds; empty when none came.
    public func fetch(batch: Int, timeout: Double) async throws -> [JetStreamMessage] {
        try await onQueue(fetchQueue) { [self] in
            var list = natsMsgList()
            var jerr = jsErrCode(0)
            let s = natsSubscription_Fetch(&list, sub, Int32(batch), Int64(timeout * 1000), &jerr)
            var out: [JetStreamMessage] = []
            if let msgs = list.Msgs {
                out.reserveCapacity(Int(list.Count))
                for i in 0..<Int(list.Count) {
                    if let m = msgs[i] { out.append(JetStreamMessage(raw: m)) }
                }
                // The messages are ours now (freed by JetStreamMessage); only the array goes.
                free(msgs)
            }
            if s == NATS_OK || s == NATS_TIMEOUT || !out.isEmpty { return out }
            // A server restart: libnats reconnects on its own, the next fetch goes on.
            if s == NATS_CONNECTION_DISCONNECTED || s == NATS_CONNECTION_CLOSED || s == NATS_NO_RESPONDERS { return out }
            throw JetStreamError.fetch(Self.text(s))
        }
    }

    /// Acknowledges messages (after their batch committed), then flushes so the acks leave now.
    public func ack(_ messages: [JetStreamMessage]) async throws {
        guard !messages.isEmpty else { return }
        ackLater(messages)
        try await drainAcks()
    }

    /// Acknowledges messages in the background, in order: the next batch does not wait for
    /// its predecessor's acks (5,000 acks cost a third of a batch). An ack that never arrives
    /// is harmless: the message comes back and is found committed. `drainAcks` waits for them.
    public func ackLater(_ messages: [JetStreamMessage]) {
        guard !messages.isEmpty else { return }
        ackQueue.async { [self] in
            for m in messages where natsMsg_Ack(m.raw, nil) != NATS_OK {
                ackFailures.withLockedValue { $0 += 1 }
            }
        }
    }

    /// Waits until every ack handed to `ackLater` is sent and the server has them.
    public func drainAcks() async throws {
        let failed = try await onQueue(ackQueue) { [self] () -> Int in
            _ = natsConnection_FlushTimeout(nc, 5000)
            return ackFailures.withLockedValue { n in
                defer { n = 0 }
                return n
            }
        }
        if failed > 0 { throw JetStreamError.ack("\(failed) acks were not sent") }
    }

    /// Tells the server these messages are still being worked on: AckWait starts again.
    public func inProgress(_ messages: [JetStreamMessage]) async throws {
        try await onQueue(ackQueue) { [self] in
            for m in messages { _ = natsMsg_InProgress(m.raw, nil) }
            _ = natsConnection_FlushTimeout(nc, 5000)
        }
    }

    /// Hands messages back for redelivery now rather than after AckWait (at shutdown).
    public func nak(_ messages: [JetStreamMessage]) async throws {
        guard !messages.isEmpty else { return }
        try await onQueue(ackQueue) { [self] in
            for m in messages { _ = natsMsg_Nak(m.raw, nil) }
            _ = natsConnection_FlushTimeout(nc, 5000)
        }
    }

    /// The consumer's ack floor (every sequence at or below it is acknowledged) and the
    /// messages still to deliver and still unacknowledged.
    public struct ConsumerState: Sendable {
        public var ackFloor: UInt64
        public var pending: UInt64
        public var ackPending: Int64
    }

    public func consumerState() async throws -> ConsumerState {
        try await onQueue(ackQueue) { [self] in
            var ci: UnsafeMutablePointer<jsConsumerInfo>?
            var jerr = jsErrCode(0)
            // By name, not through the subscription: a pull subscription's own lookup fails while a fetch is open.
            let s = js_GetConsumerInfo(&ci, js, stream, consumer, nil, &jerr)
            guard s == NATS_OK, let info = ci else {
                throw JetStreamError.consumer(stream: stream, consumer: consumer, detail: Self.text(s))
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
}
