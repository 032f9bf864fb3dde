/// A record as shown to a person or an agent: at most `limit` bytes of it, cut on a
/// character boundary, and whether it was cut. One parked 30 MiB record must not make a
/// 126 MB incident page or MCP answer; the full text stays one request away.
public struct RecordView: Sendable, Equatable {
    public static let defaultLimit = 16 << 10
    public var text: String
    public var truncated: Bool
    public var bytes: Int

    public init(_ record: String, limit: Int = RecordView.defaultLimit) {
        bytes = record.utf8.count
        guard bytes > limit else {
            text = record
            truncated = false
            return
        }
        var end = record.utf8.index(record.utf8.startIndex, offsetBy: limit)
        // Back up to a scalar boundary (at most 3 bytes), so the cut never splits a character's bytes.
        while end > record.startIndex, end.samePosition(in: record.unicodeScalars) == nil { end = record.utf8.index(before: end) }
        text = String(record[..<end])
        truncated = true
    }
}
