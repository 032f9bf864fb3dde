public import MendTestSupport
public import Testing

// Paths, Backend, writeLines and KeepAlive come from MendTestSupport.
extension Backend: CustomTestStringConvertible {
    public var testDescription: String { rawValue }
}
