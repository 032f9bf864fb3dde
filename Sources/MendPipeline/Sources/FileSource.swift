import Foundation
public import MendStore

/// A JSON Lines file or standard input, read line by line (see `LineReader`).
public final class FileSource: RecordSource, @unchecked Sendable {
    public let name: String
    private let reader: LineReader

    /// `path` "-" reads standard input. `name` defaults to the file's absolute path, so
    /// the same file resumes whatever directory Mend runs from.
    public init(path: String, name: String? = nil) throws(PipelineError) {
        reader = try LineReader(path: path)
        self.name = name ?? (reader.name == "stdin" ? "stdin" : URL(fileURLWithPath: path).standardizedFileURL.path)
    }

    public func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool { reader.next(body) }
    public var position: StateStore.Offset {
        StateStore.Offset(line: reader.lineNumber, byteOffset: reader.byteOffset, fingerprint: nil)
    }
    /// Standard input cannot be read twice, so it keeps no offset.
    public var isResumable: Bool { name != "stdin" && reader.isSeekable }
    public func resume(from offset: StateStore.Offset) { reader.seek(line: offset.line, byteOffset: offset.byteOffset) }
}
