import MendCore
import NIOCore

/// COPY text format: tab-separated, `\N` for NULL, backslash escapes.
enum CopyText {
    static func append(_ row: [SQLValue], types: [LogicalType?], to buffer: inout ByteBuffer) {
        for (i, v) in row.enumerated() {
            if i > 0 { buffer.writeInteger(UInt8(ascii: "\t")) }
            switch v {
            case .null: buffer.writeStaticString("\\N")
            case .bool(let b): buffer.writeStaticString(b ? "t" : "f")
            case .int(let n): writeInt(n, to: &buffer)
            case .double(let d): buffer.writeString(d.description)
            case .text(let s): escape(s, into: &buffer)
            }
        }
        buffer.writeInteger(UInt8(ascii: "\n"))
    }

    /// Decimal digits straight into the buffer: no String per integer, one capacity check.
    static func writeInt(_ n: Int64, to buffer: inout ByteBuffer) {
        buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: 20) { out in
            var v = n.magnitude
            var tmp: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes of scratch for up to 20 digits
            return withUnsafeMutableBytes(of: &tmp) { d in
                var count = 0
                repeat {
                    d[count] = UInt8(truncatingIfNeeded: v % 10) &+ 48
                    v /= 10
                    count += 1
                } while v > 0
                var w = 0
                if n < 0 {
                    out[0] = UInt8(ascii: "-")
                    w = 1
                }
                for k in stride(from: count - 1, through: 0, by: -1) {
                    out[w] = d[k]
                    w += 1
                }
                return w
            }
        }
    }

    static func escape(_ s: String, into buffer: inout ByteBuffer) {
        var s = s
        s.withUTF8 { bytes in
            var start = 0
            for i in bytes.indices {
                let b = bytes[i]
                guard b == 0x5C || b == 0x09 || b == 0x0A || b == 0x0D else { continue }
                buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<i]))
                switch b {
                case 0x5C: buffer.writeStaticString("\\\\")
                case 0x09: buffer.writeStaticString("\\t")
                case 0x0A: buffer.writeStaticString("\\n")
                default: buffer.writeStaticString("\\r")
                }
                start = i + 1
            }
            buffer.writeBytes(UnsafeRawBufferPointer(rebasing: UnsafeRawBufferPointer(bytes)[start..<bytes.count]))
        }
    }
}
