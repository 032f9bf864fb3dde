import CPgQuery
import Foundation

/// One statement of a parsed script.
struct ParsedStatement: Sendable {
    var type: String  // node type, e.g. "AlterTableStmt"
    var fields: PgJSON
    var text: String  // the statement's own source text, from stmt_location/stmt_len
}

/// Serialises parser calls: libpg_query 15 documents thread safety, but older builds kept
/// global state, and a guard must not depend on which build Debian ships.
private let parserLock = NSLock()

enum PgParser {
    static func parse(_ sql: String) throws(GuardError) -> [ParsedStatement] {
        // The C API takes a NUL-terminated string: an embedded NUL would hide everything after it.
        if sql.utf8.contains(0) { throw .nulByte }
        let json = try callParser(sql).get()
        let root: PgJSON
        do {
            root = try PgJSON.parse(Data(json.utf8))
        } catch {
            throw .decode("cannot decode parse tree: \(error)")
        }
        let bytes = Array(sql.utf8)
        var out: [ParsedStatement] = []
        for entry in root["stmts"]?.array ?? [] {
            guard let node = entry["stmt"]?.node else { throw .decode("statement without a node") }
            // Offsets are UTF-8 byte offsets; absent means 0, and a length of 0 means "to the end".
            let loc = min(max(entry["stmt_location"]?.int ?? 0, 0), bytes.count)
            let len = entry["stmt_len"]?.int ?? 0
            let end = len > 0 ? min(loc + len, bytes.count) : bytes.count
            let text = String(decoding: bytes[loc..<end], as: UTF8.self)
                .trimmingCharacters(in: .whitespacesAndNewlines)
            out.append(ParsedStatement(type: node.type, fields: node.fields, text: text))
        }
        return out
    }

    private static func callParser(_ sql: String) -> Result<String, GuardError> {
        parserLock.lock()
        defer { parserLock.unlock() }
        let result = pg_query_parse(sql)
        defer { pg_query_free_parse_result(result) }
        if let err = result.error {
            let message = err.pointee.message.map { String(cString: $0) } ?? "unknown parse error"
            return .failure(.parse(message: message, cursor: Int(err.pointee.cursorpos)))
        }
        guard let tree = result.parse_tree else { return .failure(.decode("parser returned no tree")) }
        return .success(String(cString: tree))
    }

    /// Parse a bare type name (e.g. "character varying(20)") the way PostgreSQL would,
    /// so context types and ALTER targets share one canonical spelling.
    static func parseTypeName(_ type: String) -> SQLType? {
        guard !type.contains(";"), let stmts = try? parse("SELECT NULL::\(type)"), stmts.count == 1,
            let target = stmts[0].fields["targetList"]?.array.first?.node?.fields["val"]?.node,
            target.type == "TypeCast", let tn = target.fields["typeName"]
        else { return nil }
        return SQLType(typeName: tn)
    }
}
