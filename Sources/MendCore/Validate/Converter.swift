import Foundation

/// Applies stored value conversions (from `convert_value` repairs).
public enum Converter {
    public static func apply(_ conversion: ValueConversion, to value: JSONValue) -> JSONValue? {
        switch (conversion, value) {
        case (.epochSecondsToTimestamp, .number(let n)):
            return .string(iso8601(seconds: n.double))
        case (.epochMillisToTimestamp, .number(let n)):
            return .string(iso8601(seconds: n.double / 1000))
        case (.timestampToEpochSeconds, .string(let s)):
            guard TextShapes.isTimestampTZ(s), let d = parseISO(s) else { return nil }
            return .number(JSONNumber(int: Int64(d.timeIntervalSince1970.rounded(.down))))
        case (.numericString, .string(let s)) where DecimalText.isCanonicalNumber(s):
            return .number(JSONNumber(text: s))
        case (.scale(let f), .number(let n)):
            let v = n.double * f
            if v == v.rounded(), abs(v) < 9e15 { return .number(JSONNumber(int: Int64(v))) }
            return .number(JSONNumber(text: v.description))
        default:
            return nil
        }
    }

    public static func iso8601(seconds: Double) -> String {
        let f = ISO8601DateFormatter()
        f.formatOptions = seconds == seconds.rounded() ? [.withInternetDateTime] : [.withInternetDateTime, .withFractionalSeconds]
        return f.string(from: Date(timeIntervalSince1970: seconds))
    }

    static func parseISO(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }
}
