// fuzz-json: arbitrary bytes into MendCore's JSONParser.
//
// Beyond "never crash, never hang" (libFuzzer, ASan, -timeout), each input checks:
//  1. Mend accepts exactly what the independent Reference accepts: valid UTF-8 (the
//     whole input), RFC 8259 grammar, paired surrogate escapes, nesting <= 64. Anything
//     else must throw, never load silently (and never be refused when it is valid).
//  2. When it parses, `jsonText` is byte for byte the Reference's canonical text (so
//     string bytes, number literals, key order and duplicate keys are all kept), the
//     value is at most 64 deep, and re-parsing `jsonText` gives the same value and the
//     same text again.
//  3. Numbers: `int` is set exactly for integer literals that fit in Int64, with the
//     value Int64(text) gives; `isInteger` matches the literal.
//  4. The String entry point agrees with the byte entry point on valid UTF-8.
//  5. A parse error points inside the input (0 ... count).

import MendCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzJSON(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    let input = UnsafeBufferPointer(start: size == 0 ? nil : data, count: size)
    checkJSON(input)
    return 0
}

func checkJSON(_ input: UnsafeBufferPointer<UInt8>) {
    let reference = Reference.canonical(input)
    let parsed: JSONValue
    do throws(JSONParseError) {
        parsed = try JSONParser.parse(input)
    } catch {
        if let reference {
            fuzzFail(
                "JSONParser refused valid JSON (\(error)); reference text: \(String(decoding: reference.text, as: UTF8.self))",
                input: input)
        }
        if error.offset < 0 || error.offset > input.count {
            fuzzFail("error offset \(error.offset) outside 0...\(input.count)", input: input)
        }
        if isValidUTF8(input) {
            let viaString = Result { () throws(JSONParseError) in try JSONParser.parse(String(decoding: input, as: UTF8.self)) }
            guard case .failure(let e2) = viaString, e2 == error else {
                fuzzFail("parse(String) disagrees with parse(bytes): \(viaString) vs \(error)", input: input)
            }
        }
        return
    }
    guard let reference else {
        fuzzFail("JSONParser accepted input the reference refuses: \(parsed.jsonText)", input: input)
    }
    if String(validating: input, as: UTF8.self) == nil {
        fuzzFail("accepted invalid UTF-8", input: input)
    }
    let text = parsed.jsonText
    if utf8(text) != reference.text {
        fuzzFail(
            "jsonText differs from reference:\n mend: \(text)\n  ref: \(String(decoding: reference.text, as: UTF8.self))",
            input: input)
    }
    let d = depth(parsed)
    if d > JSONParser.maxDepth || d != reference.depth {
        fuzzFail("depth \(d) (reference \(reference.depth), limit \(JSONParser.maxDepth))", input: input)
    }
    checkNumbers(parsed, input: input)

    // Round trip: serialise, parse again, same value and same bytes.
    let again: JSONValue
    do throws(JSONParseError) {
        again = try JSONParser.parse(text)
    } catch {
        fuzzFail("re-parsing jsonText failed: \(error)\n text: \(text)", input: input)
    }
    if again != parsed || utf8(again.jsonText) != utf8(text) {
        fuzzFail("round trip changed the value:\n first: \(text)\n again: \(again.jsonText)", input: input)
    }

    // The String entry point sees the same bytes.
    let viaString = Result { () throws(JSONParseError) in try JSONParser.parse(String(decoding: input, as: UTF8.self)) }
    guard case .success(let v2) = viaString, utf8(v2.jsonText) == utf8(text) else {
        fuzzFail("parse(String) disagrees with parse(bytes): \(viaString)", input: input)
    }
}

func checkNumbers(_ v: JSONValue, input: UnsafeBufferPointer<UInt8>) {
    switch v {
    case .number(let n):
        let literalIsInteger = !n.text.utf8.contains { $0 == 0x2E || $0 == 0x65 || $0 == 0x45 }
        let expected: Int64? = literalIsInteger ? Int64(n.text) : nil
        if n.int != expected || n.isInteger != literalIsInteger {
            fuzzFail(
                "number \(n.text): int \(String(describing: n.int)) isInteger \(n.isInteger), expected \(String(describing: expected))",
                input: input)
        }
    case .array(let items): for item in items { checkNumbers(item, input: input) }
    case .object(let members): for m in members { checkNumbers(m.value, input: input) }
    default: break
    }
}
