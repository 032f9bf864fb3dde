public import Foundation
public import MendStore

/// Records held in memory, one JSON text per line: an HTTP body after `NDJSONBody.normalize`.
/// No spool file: the bytes are the request's, and a retry with the same body resumes
/// from the committed offset because its position is a byte offset into those bytes.
public final class BodySource: RecordSource, @unchecked Sendable {
    public let name: String
    public let isResumable: Bool
    private let bytes: [UInt8]
    private var line: Int64 = 0
    private var offset = 0

    public init(ndjson: Data, name: String, resumable: Bool) {
        bytes = [UInt8](ndjson)
        self.name = name
        isResumable = resumable
    }

    public func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        guard offset < bytes.count else { return false }
        let end = bytes[offset...].firstIndex(of: 0x0A) ?? bytes.count
        var stop = end
        if stop > offset, bytes[stop - 1] == 0x0D { stop -= 1 }  // CRLF bodies
        bytes.withUnsafeBufferPointer { all in body(UnsafeBufferPointer(rebasing: all[offset..<stop])) }
        line += 1
        offset = min(bytes.count, end + 1)
        return true
    }

    public var position: StateStore.Offset { StateStore.Offset(line: line, byteOffset: Int64(offset), fingerprint: nil) }

    public func resume(from o: StateStore.Offset) {
        guard o.byteOffset >= 0, o.byteOffset <= bytes.count else { return }
        line = o.line
        offset = Int(o.byteOffset)
    }
}
