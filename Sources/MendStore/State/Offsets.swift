import Foundation
import MendCore

/// Source positions, committed in the same transaction as the rows they cover.
extension StateTransaction {

    public func offset(source: String, table: String) async throws -> StateStore.Offset? {
        try await session.query(
            "SELECT line, byte_offset, fingerprint FROM \(t("offsets")) WHERE source = ? AND tbl = ?", [.text(source), .text(table)]
        )
        .first.map { StateStore.Offset(line: $0[0].int ?? 0, byteOffset: $0[1].int ?? 0, fingerprint: $0[2].string) }
    }

    public func setOffset(source: String, table: String, _ o: StateStore.Offset) async throws {
        // One statement: it runs in every batch's transaction.
        try await session.execute(
            "INSERT INTO \(t("offsets")) (source, tbl, line, byte_offset, fingerprint) VALUES (?, ?, ?, ?, ?) "
                + "ON CONFLICT (source, tbl) DO UPDATE SET line = excluded.line, byte_offset = excluded.byte_offset, "
                + "fingerprint = excluded.fingerprint",
            [.text(source), .text(table), .int(o.line), .int(o.byteOffset), o.fingerprint.map(SQLValue.text) ?? .null])
    }
}

extension StateStore {
    public struct Offset: Sendable, Equatable {
        public var line: Int64
        public var byteOffset: Int64
        public var fingerprint: String?
        public init(line: Int64, byteOffset: Int64, fingerprint: String?) {
            self.line = line
            self.byteOffset = byteOffset
            self.fingerprint = fingerprint
        }
    }
}
