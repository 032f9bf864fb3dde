// fuzz-flatten: the input is NDJSON; every line that parses as an object goes through
// a Flattener shared by the lines (as in a batch, so its key cache and shape shortcut
// are exercised) at the default depth (4) and at depth 64.
//
// Each flattened record checks:
//  1. Every column name is well formed by Mend's own rule (Identifier.isWellFormed:
//     lowercase letters, digits and '_', not starting with a digit, <= 63 bytes).
//  2. Column names are unique in the record, as bytes and as Swift strings (a key that
//     appears twice in one record is one key path: its one column, twice).
//  3. Nothing is lost or reordered: the fields are exactly the record's leaves (source
//     key path, value, validName) in document order, per the documented rule (non-empty
//     objects under a key with a letter or digit are opened, up to maxDepth).
//  4. Determinism: the shared Flattener (cached keys, the previous record's shape)
//     gives what a fresh one gives; canonically equivalent keys (the record with every
//     key in NFC, and in NFD) give byte-identical columns; reversing the record's
//     top-level members gives the same source key → column mapping (keys distinct).

import Foundation
import MendCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFlatten(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: size == 0 ? nil : data, count: size)
    var shared = [Flattener(), Flattener(maxDepth: 64)]
    var start = 0
    while start <= input.count {
        var end = start
        while end < input.count, input[end] != 0x0A { end += 1 }
        let line = UnsafeBufferPointer(rebasing: input[start..<end])
        if case .object(let members)? = try? JSONParser.parse(line) {
            for k in shared.indices { checkFlatten(members, with: &shared[k], input: input) }
        }
        start = end + 1
    }
    return 0
}

typealias Members = [(key: String, value: JSONValue)]

struct Leaf {
    var source: String
    var value: JSONValue
    var valid: Bool
}

/// The leaves the documented rule yields, in document order.
func leaves(_ members: Members, prefix: String?, depth: Int, maxDepth: Int, into out: inout [Leaf]) {
    for (key, value) in members {
        let source = KeyPath.join(prefix, key)
        let valid = Identifier.hasLetterOrDigit(key)
        if case .object(let inner) = value, !inner.isEmpty, depth < maxDepth, valid {
            leaves(inner, prefix: source, depth: depth + 1, maxDepth: maxDepth, into: &out)
        } else {
            out.append(Leaf(source: source, value: value, valid: valid))
        }
    }
}

func mapKeys(_ members: Members, _ f: (String) -> String) -> Members {
    members.map { m in
        if case .object(let inner) = m.value { return (f(m.key), .object(mapKeys(inner, f))) }
        return (f(m.key), m.value)
    }
}

func describe(_ fields: [FlatField]) -> String {
    fields.map { "\($0.sourceKey) -> \($0.column) [\(utf8($0.column).map(hex2).joined())]" }.joined(separator: "\n  ")
}

func checkFlatten(_ members: Members, with shared: inout Flattener, input: UnsafeBufferPointer<UInt8>) {
    let maxDepth = shared.maxDepth
    let fields = shared.flatten(members)
    var fresh = Flattener(maxDepth: maxDepth)
    let alone = fresh.flatten(members)
    if fields != alone || fields.map({ utf8($0.column) }) != alone.map({ utf8($0.column) }) {
        fuzzFail(
            "shared and fresh Flattener differ (maxDepth \(maxDepth)):\n  \(describe(fields))\n vs\n  \(describe(alone))", input: input)
    }
    // The same record again through the shared one (takes the same-shape shortcut).
    let twice = shared.flatten(members)
    if twice.map({ utf8($0.column) }) != fields.map({ utf8($0.column) }) {
        fuzzFail("the same record flattened twice differs:\n  \(describe(fields))\n vs\n  \(describe(twice))", input: input)
    }

    var byBytes: [[UInt8]: String] = [:]
    var byString: [String: String] = [:]
    for f in fields {
        if !Identifier.isWellFormed(f.column) {
            fuzzFail(
                "column is not well formed (maxDepth \(maxDepth)): '\(f.column)' [\(utf8(f.column).map(hex2).joined())] from key path '\(f.sourceKey)'\n  \(describe(fields))",
                input: input)
        }
        let a = byBytes.updateValue(f.sourceKey, forKey: utf8(f.column))
        let b = byString.updateValue(f.sourceKey, forKey: f.column)
        if (a != nil && a != f.sourceKey) || (b != nil && b != f.sourceKey) {
            fuzzFail("duplicate column '\(f.column)' (maxDepth \(maxDepth)):\n  \(describe(fields))", input: input)
        }
    }

    var expected: [Leaf] = []
    leaves(members, prefix: nil, depth: 1, maxDepth: maxDepth, into: &expected)
    let same =
        expected.count == fields.count
        && zip(expected, fields).allSatisfy {
            utf8($0.source) == utf8($1.sourceKey) && $0.value == $1.value && $0.valid == $1.validName
        }
    if !same {
        fuzzFail(
            "fields are not the record's leaves (maxDepth \(maxDepth)): expected \(expected.map(\.source)), got \(fields.map(\.sourceKey))",
            input: input)
    }

    let columns = fields.map { utf8($0.column) + [$0.validName ? 1 : 0] }
    for (form, f) in [
        ("NFC", { (s: String) in s.precomposedStringWithCanonicalMapping }),
        ("NFD", { (s: String) in s.decomposedStringWithCanonicalMapping }),
    ] {
        var g = Flattener(maxDepth: maxDepth)
        let other = g.flatten(mapKeys(members, f)).map { utf8($0.column) + [$0.validName ? 1 : 0] }
        if other != columns {
            fuzzFail(
                "keys in \(form) give other columns or validity (maxDepth \(maxDepth)):\n  \(describe(fields))\n vs\n  \(other.map { String(decoding: $0.dropLast(), as: UTF8.self) + ($0.last == 1 ? "" : " (invalid)") })",
                input: input)
        }
    }

    let keys = Set(fields.map(\.sourceKey))
    if keys.count == fields.count && Set(members.map(\.key)).count == members.count {
        var g = Flattener(maxDepth: maxDepth)
        let reversed = g.flatten(Array(members.reversed()))
        let a = Dictionary(uniqueKeysWithValues: fields.map { ($0.sourceKey, utf8($0.column)) })
        let b = Dictionary(uniqueKeysWithValues: reversed.map { ($0.sourceKey, utf8($0.column)) })
        if a != b {
            fuzzFail(
                "column mapping depends on key order (maxDepth \(maxDepth)):\n  \(describe(fields))\n vs\n  \(describe(reversed))",
                input: input)
        }
    }
}
