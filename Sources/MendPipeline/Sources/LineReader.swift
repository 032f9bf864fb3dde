#if canImport(Glibc)
    import Glibc
#elseif canImport(Darwin)
    import Darwin
#endif

/// Streams a JSON Lines source one line at a time with `getline`, so memory stays flat
/// however large the file is. Keeps the line number and the byte offset after each
/// line, which is what a resumable offset needs.
public final class LineReader {
    public let name: String
    private let file: UnsafeMutablePointer<FILE>
    private let ownsFile: Bool
    private var buffer: UnsafeMutablePointer<CChar>? = nil
    private var capacity = 0
    public private(set) var lineNumber: Int64 = 0
    public private(set) var byteOffset: Int64 = 0
    public let isSeekable: Bool

    /// `path` "-" reads standard input.
    public init(path: String) throws(PipelineError) {
        if path == "-" {
            guard let f = fdopen(0, "r") else { throw PipelineError.input("cannot read standard input") }
            file = f
            ownsFile = false
            name = "stdin"
            isSeekable = false
        } else {
            var st = stat()
            guard stat(path, &st) == 0 else {
                throw PipelineError.input("no such file: \(path) (give a JSON Lines file, or - for standard input)")
            }
            if (st.st_mode & S_IFMT) == S_IFDIR { throw PipelineError.input("\(path) is a directory, not a JSON Lines file") }
            guard let f = fopen(path, "r") else { throw PipelineError.input("cannot open \(path): permission denied?") }
            file = f
            ownsFile = true
            name = path
            isSeekable = (st.st_mode & S_IFMT) == S_IFREG
        }
        // stdio's default 4 KiB buffer costs a read(2) per 4 KiB; 1 MiB makes that noise.
        setvbuf(file, nil, _IOFBF, 1 << 20)
    }

    deinit {
        free(buffer)
        if ownsFile { fclose(file) }
    }

    /// Skips to a committed position (resume). Falls back to reading lines when the
    /// source cannot seek.
    public func seek(line: Int64, byteOffset offset: Int64) {
        if isSeekable, fseeko(file, off_t(offset), SEEK_SET) == 0 {
            lineNumber = line
            byteOffset = offset
            return
        }
        while lineNumber < line, next({ _ in }) {}
    }

    /// Calls `body` with the next line (without its newline); false at end of input.
    @discardableResult
    public func next(_ body: (UnsafeBufferPointer<UInt8>) -> Void) -> Bool {
        let n = getline(&buffer, &capacity, file)
        guard n >= 0, let buffer else { return false }
        lineNumber += 1
        byteOffset += Int64(n)
        var len = n
        while len > 0, buffer[len - 1] == 0x0A || buffer[len - 1] == 0x0D { len -= 1 }
        buffer.withMemoryRebound(to: UInt8.self, capacity: n) { p in
            body(UnsafeBufferPointer(start: p, count: len))
        }
        return true
    }
}
