import ArgumentParser
import Foundation
import MendCore
import MendPipeline
import MendStore

struct SchemaCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema", abstract: "A table's columns, the source key paths each one holds, and its schema history.",
        discussion: """
            Each column lists the key paths whose values it holds. A key path is the keys from the record's top level \
            down, joined with '.'; a '.' or '\\' inside a key is escaped with '\\': `id.orig_h` is the key orig_h \
            inside id, `id\\.orig_h` the one key "id.orig_h". With --json, `source_paths` gives each as an array of keys.
            """)
    @Argument(help: "Table name.") var table: String
    @OptionGroup var options: DBOptions
    @OptionGroup var output: JSONFlag

    struct Col: Encodable {
        var name: String
        var type: String?
        var declared_type: String
        var nullable: Bool
        var source_keys: [String]
        var source_paths: [[String]]
    }
    struct Out: Encodable {
        var table: String
        var columns: [Col]
        var mappings: [String: String]
        var history: [StateStore.SchemaVersion]
        /// Child tables (`nested_lists: tables`), parents before children.
        var children: [Child]
    }
    struct Child: Encodable {
        var table: String
        var depth: Int
        /// The table its `_mend_parent_id` references with a foreign key (`foreign_keys: true`); null without one.
        var foreign_key_to: String?

        // Written as null when absent, not left out: the field is always there for a reader.
        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(table, forKey: .table)
            try c.encode(depth, forKey: .depth)
            try c.encode(foreign_key_to, forKey: .foreign_key_to)
        }
        enum CodingKeys: String, CodingKey { case table, depth, foreign_key_to }
    }

    func run() async throws {
        let engine = try await options.engine()
        guard let (schema, keys, history) = try await engine.schema(table: table) else {
            throw PipelineError.notFound("no table \(table); `mend stats` lists the tables Mend loads")
        }
        let cols = schema.columns.map {
            Col(
                name: $0.name, type: $0.type?.rawValue, declared_type: $0.declaredType, nullable: $0.nullable,
                source_keys: keys[$0.name] ?? [], source_paths: (keys[$0.name] ?? []).map(KeyPath.segments))
        }
        let children = try await engine.childTables(of: table).map {
            Child(table: $0.table, depth: $0.depth, foreign_key_to: $0.foreignKeyTo)
        }
        if output.json {
            return try printJSON(Out(table: table, columns: cols, mappings: schema.mappings, history: history, children: children))
        }
        print("\(table) (schema version \(history.last?.version ?? 1))")
        // Pad to the longest name, never cut it: two long names that share a prefix must
        // not print as the same column.
        let width = min(max(cols.map(\.name.count).max() ?? 0, 4), 64)
        for c in cols {
            let src = c.source_keys.isEmpty ? "" : "   ← \(c.source_keys.joined(separator: ", "))"
            let name = c.name.count >= width ? c.name : c.name + String(repeating: " ", count: width - c.name.count)
            print("  \(name) \(c.declared_type)\(c.nullable ? "" : " NOT NULL")\(src)")
        }
        for (s, c) in schema.mappings.sorted(by: { $0.key < $1.key }) { print("  mapping: \(s) → \(c)") }
        for h in history { print("  v\(h.version): \(h.ddl)") }
        if !children.isEmpty {
            // The tree of child tables: join on _mend_parent_id = parent's _mend_id.
            print("child tables (join _mend_parent_id to the parent's _mend_id):")
            for c in children {
                let key = c.foreign_key_to.map { "   (foreign key to \($0))" } ?? ""
                print(String(repeating: "  ", count: c.depth) + "└ " + c.table + key)
            }
        }
    }
}
