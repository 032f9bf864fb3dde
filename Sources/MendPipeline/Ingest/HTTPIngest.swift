import Crypto
public import Foundation
import MendCore
import MendStore

/// What `ingest(body:...)` reports: the summary, and whether it was answered from an
/// earlier request with the same idempotency key (nothing was loaded this time).
public struct HTTPIngestResult: Sendable, Codable, Equatable {
    public var summary: IngestSummary
    public var replayed: Bool
}

/// A body that is not a JSON object, a JSON array or NDJSON. The server answers 4xx.
public enum IngestBodyError: Error, Sendable, Equatable, CustomStringConvertible {
    case empty
    case notJSON(String)
    case keyReused(String)

    public var description: String {
        switch self {
        case .empty: "the request body is empty: send a JSON object, a JSON array of objects, or NDJSON (one object per line)"
        case .notJSON(let why): "the request body is not JSON: \(why); send a JSON object, a JSON array of objects, or NDJSON"
        case .keyReused(let key):
            "Idempotency-Key \"\(key)\" was already used with a different body or table; use a new key for new data"
        }
    }
}

/// Webhook ingest: an HTTP body through the same batched path as a file.
extension Engine {
    /// Ingests an HTTP body (a JSON object, a JSON array of objects, or NDJSON) and
    /// returns after every record is committed, parked or quarantined.
    ///
    /// With an idempotency key the body's source is named after (key, table) and keeps
    /// its offset, which the batch commits with its rows: a retry after a crash skips
    /// what was already loaded, and a retry after success is answered from the stored
    /// response. Callers serialize requests with the same key (MendServer does, per process).
    /// Keys are remembered this long (default 24 h); `mend serve --idempotency-hours` sets it.
    public func ingest(
        body: Data, table given: String, idempotencyKey: String?, actor: String = "http:ingest",
        keyLifetime: Double = 24 * 3600
    ) async throws -> HTTPIngestResult {
        let table = Identifier.canonical(given)
        if let why = Identifier.validateUserName(table) { throw PipelineError.invalidTable(table, why) }
        let ndjson = try NDJSONBody.normalize(body)
        try await bootstrap()
        guard let key = idempotencyKey else {
            let source = BodySource(ndjson: ndjson, name: "http:req-\(UUID().uuidString)", resumable: false)
            return HTTPIngestResult(summary: try await ingest(source: source, table: table, resume: false, actor: actor), replayed: false)
        }
        let digest = Engine.sha256Hex(ndjson)
        let existing = try await state.transaction { tx in
            try await tx.expireIdempotencyKeys(olderThan: keyLifetime)
            return try await tx.idempotentRequest(key: key, table: table)
        }
        if let earlier = existing {
            guard earlier.bodySHA256 == digest else { throw IngestBodyError.keyReused(key) }
            if let text = earlier.response, let summary = try? JSONDecoder().decode(IngestSummary.self, from: Data(text.utf8)) {
                return HTTPIngestResult(summary: summary, replayed: true)
            }
            // Started but not done: an earlier attempt died mid-way; resume from its committed offset.
        } else {
            try await state.transaction { tx in try await tx.startIdempotentRequest(key: key, table: table, bodySHA256: digest) }
        }
        let name = Engine.sha256Hex(Data("\(table)\u{0}\(key)".utf8))
        let source = BodySource(ndjson: ndjson, name: "http:key-\(name)", resumable: true)
        let summary = try await ingest(source: source, table: table, resume: true, actor: actor)
        let response = String(decoding: try JSONEncoder().encode(summary), as: UTF8.self)
        let sourceName = source.name
        try await state.transaction { tx in
            try await tx.finishIdempotentRequest(key: key, table: table, response: response, source: sourceName)
        }
        return HTTPIngestResult(summary: summary, replayed: false)
    }
}
