/// Whether a new key is an old key renamed upstream (`customer` → `client`), decided from
/// data and kept as data: the rules planner proposes `map_field NEW → OLD` only with this
/// evidence, and a person approves it (the default policy never maps on its own).
///
/// A rename needs all of:
/// - the old column had a value in nearly all recent loaded rows (`minOldPresence`, over at
///   least `minRecentRows` rows);
/// - the records that carry the new key nearly never carry the old one (`maxOverlap`);
/// - the types are compatible: equal, both numbers, or both strings;
/// - the values look alike (`minSimilarity`): their shapes (letters, digits, punctuation),
///   lengths, character classes and, for numbers, ranges;
/// - one candidate stands out: the runner-up scores at least `minMargin` lower.
///
/// Pure: value samples in, evidence out; the engine reads the samples.
public enum RenameDetector {
    public static let minRecentRows = 20
    public static let minOldPresence = 0.9
    public static let maxOverlap = 0.05
    public static let minSimilarity = 0.7
    public static let minMargin = 0.1
    /// Value pairs kept as evidence.
    public static let samplePairs = 3

    /// The new key as the parked records carry it.
    public struct NewKey: Sendable, Equatable {
        public var sourceKey: String
        public var column: String
        public var type: LogicalType
        /// Its values in the parked records that carry it, as text.
        public var values: [String]
        /// How many parked records carry it.
        public var records: Int
        /// Where the first of them came from ("source:line").
        public var firstSeen: String
        /// Per existing column: how many of those records also have a value for it.
        public var alsoCarrying: [String: Int]

        public init(
            sourceKey: String, column: String, type: LogicalType, values: [String], records: Int, firstSeen: String,
            alsoCarrying: [String: Int]
        ) {
            self.sourceKey = sourceKey
            self.column = column
            self.type = type
            self.values = values
            self.records = records
            self.firstSeen = firstSeen
            self.alsoCarrying = alsoCarrying
        }
    }

    /// An existing column, with its values in the most recent loaded rows (newest first,
    /// nil for null).
    public struct Candidate: Sendable, Equatable {
        public var column: String
        public var type: LogicalType?
        public var recent: [String?]
        /// Profiled once here, not once per new key: an incident with 100 new keys and 100
        /// candidate columns profiled 10,000 times 500 values before (D20).
        let profile: ValueProfile
        /// The recent values that are not null, once.
        let present: [String]

        public init(column: String, type: LogicalType?, recent: [String?]) {
            self.column = column
            self.type = type
            self.recent = recent
            present = recent.compactMap { $0 }
            profile = ValueProfile(present, type: type ?? .text)
        }
    }

    /// The answer: evidence for the rename, or why the best-looking candidate is not one.
    public struct Finding: Sendable, Equatable {
        public var evidence: RenameEvidence?
        /// Why the closest candidate was not taken, in words (nil when there was none worth naming).
        public var nearMiss: String?
    }

    public static func detect(_ new: NewKey, among candidates: [Candidate]) -> Finding {
        var passed: [RenameEvidence] = []
        var misses: [(similarity: Double, why: String)] = []
        let profile = ValueProfile(new.values, type: new.type)
        for c in candidates where c.column != new.column {
            let present = c.present
            let overlap = new.records == 0 ? 1 : Double(new.alsoCarrying[c.column] ?? 0) / Double(new.records)
            let similarity = profile.similarity(to: c.profile)
            let presence = c.recent.isEmpty ? 0 : Double(present.count) / Double(c.recent.count)
            let why: String?
            if !compatible(new.type, c.type) {
                why = "\(c.column) is \(c.type?.rawValue ?? "unmanaged") and \(new.sourceKey) is \(new.type.rawValue)"
            } else if c.recent.count < minRecentRows {
                why = "only \(c.recent.count) loaded rows to compare with \(c.column) (at least \(minRecentRows))"
            } else if presence < minOldPresence {
                why =
                    "\(c.column) had a value in only \(present.count) of the last \(c.recent.count) rows: it was not a key records nearly always had"
            } else if overlap > maxOverlap {
                why =
                    "\(c.column) is still present in \(new.alsoCarrying[c.column] ?? 0) of the \(new.records) records that carry \(new.sourceKey)"
            } else if similarity < minSimilarity {
                why = "the values of \(c.column) and \(new.sourceKey) do not look alike (similarity \(format(similarity)))"
            } else {
                why = nil
            }
            if let why {
                // Only candidates that share the type and some look are worth naming as near misses.
                if compatible(new.type, c.type) || similarity >= minSimilarity { misses.append((similarity, why)) }
                continue
            }
            let trailing = c.recent.prefix { $0 != nil }.count
            let pairs = zip(present.prefix(samplePairs), new.values.prefix(samplePairs)).map { RenameEvidence.ValuePair(old: $0, new: $1) }
            passed.append(
                RenameEvidence(
                    newKey: new.sourceKey, newColumn: new.column, oldColumn: c.column, recentRows: c.recent.count,
                    recentWithOld: present.count, trailingWithOld: trailing, newRecords: new.records,
                    newRecordsWithOld: new.alsoCarrying[c.column] ?? 0, firstNewAt: new.firstSeen, samples: pairs,
                    similarity: rounded(similarity), score: rounded(similarity * presence * (1 - overlap))))
        }
        passed.sort { $0.score > $1.score }
        if let best = passed.first {
            if passed.count > 1, best.score - passed[1].score < minMargin {
                return Finding(
                    evidence: nil,
                    nearMiss:
                        "\(new.sourceKey) looks like a rename of both \(best.oldColumn) and \(passed[1].oldColumn): too close to choose")
            }
            return Finding(evidence: best, nearMiss: nil)
        }
        return Finding(evidence: nil, nearMiss: misses.max { $0.similarity < $1.similarity }?.why)
    }

    /// Equal, both numbers, or both strings (text and the types strings are recognised as).
    public static func compatible(_ new: LogicalType, _ old: LogicalType?) -> Bool {
        guard let old else { return false }
        if new == old { return true }
        let numbers: Set<LogicalType> = [.bigint, .double, .numeric]
        let strings: Set<LogicalType> = [.text, .uuid, .date, .timestamptz]
        return (numbers.contains(new) && numbers.contains(old)) || (strings.contains(new) && strings.contains(old))
    }

    static func rounded(_ x: Double) -> Double { (x * 1000).rounded() / 1000 }
    static func format(_ x: Double) -> String { String(rounded(x)) }
}

/// What values look like, to compare two keys' values without reading meaning into them.
struct ValueProfile: Sendable, Equatable {
    /// Share of values per shape: "c-37" → "a-9", "2026-12-01" → "9-9-9".
    var shapes: [String: Double] = [:]
    var meanLength = 0.0
    var classes: Set<Character> = []
    var range: ClosedRange<Double>?
    var numeric: Bool

    init(_ values: [String], type: LogicalType) {
        numeric = [.bigint, .double, .numeric].contains(type)
        guard !values.isEmpty else { return }
        var lengths = 0
        var low = Double.infinity, high = -Double.infinity
        for v in values {
            shapes[Self.shape(v), default: 0] += 1
            lengths += v.count
            for ch in v { classes.insert(Self.characterClass(ch)) }
            if numeric, let x = Double(v) {
                low = min(low, x)
                high = max(high, x)
            }
        }
        for (k, n) in shapes { shapes[k] = n / Double(values.count) }
        meanLength = Double(lengths) / Double(values.count)
        if low <= high { range = low...high }
    }

    /// Letters become "a", digits "9", anything else stays; runs collapse.
    static func shape(_ s: String) -> String {
        var out = ""
        var last: Character?
        for ch in s.prefix(64) {
            let c = characterClass(ch)
            if c != last { out.append(c) }
            last = c
        }
        return out
    }

    static func characterClass(_ ch: Character) -> Character {
        // ASCII without the Unicode property tables (most values are ASCII).
        if let a = ch.asciiValue {
            switch a {
            case 0x41...0x5A: return "A"
            case 0x61...0x7A: return "a"
            case 0x30...0x39: return "9"
            case 0x20, 0x09...0x0D: return " "
            default: return ch
            }
        }
        if ch.isLetter { return ch.isUppercase ? "A" : "a" }
        if ch.isNumber { return "9" }
        if ch.isWhitespace { return " " }
        return ch
    }

    /// 0 (nothing alike) to 1: the mean of the shape overlap, the length ratio, and the
    /// character classes' overlap (strings) or the share of new values inside the old
    /// range, widened by half its span (numbers).
    func similarity(to old: ValueProfile) -> Double {
        guard !shapes.isEmpty, !old.shapes.isEmpty else { return 0 }
        let shape = shapes.reduce(0) { $0 + min($1.value, old.shapes[$1.key] ?? 0) }
        let length = min(meanLength, old.meanLength) / max(meanLength, old.meanLength, 1)
        let third: Double
        if numeric, old.numeric, let mine = range, let theirs = old.range {
            let pad = max((theirs.upperBound - theirs.lowerBound) / 2, abs(theirs.upperBound) * 0.1, 1)
            let wide = (theirs.lowerBound - pad)...(theirs.upperBound + pad)
            third = wide.contains(mine.lowerBound) && wide.contains(mine.upperBound) ? 1 : (wide.overlaps(mine) ? 0.5 : 0)
        } else {
            let union = classes.union(old.classes).count
            third = union == 0 ? 1 : Double(classes.intersection(old.classes).count) / Double(union)
        }
        return (shape + length + third) / 3
    }
}

/// The evidence a rename plan carries, as data: shown by `mend show` and `mend plan`, the
/// dashboard, the MCP tools, and written to the audit log with the plan.
public struct RenameEvidence: Codable, Sendable, Equatable {
    public struct ValuePair: Codable, Sendable, Equatable {
        public var old: String
        public var new: String
    }

    /// The key as it now arrives ("client"), and its column name.
    public var newKey: String
    public var newColumn: String
    /// The column it maps to, which keeps its name and data.
    public var oldColumn: String
    /// Recent loaded rows compared, and how many had a value in the old column.
    public var recentRows: Int
    public var recentWithOld: Int
    /// How many of the newest rows, in a row, had it: all of them means the old key was
    /// there up to the switch.
    public var trailingWithOld: Int
    /// Parked records that carry the new key, and how many of them still carry the old one.
    public var newRecords: Int
    public var newRecordsWithOld: Int
    /// Where the new key began: the first parked record that carries it ("source:line").
    public var firstNewAt: String
    /// Recent old values beside the new key's values.
    public var samples: [ValuePair]
    /// How alike the values look, 0 to 1.
    public var similarity: Double
    /// similarity × the old key's presence × the share of new records without it, 0 to 1.
    public var score: Double

    enum CodingKeys: String, CodingKey {
        case newKey = "new_key", newColumn = "new_column", oldColumn = "old_column", recentRows = "recent_rows"
        case recentWithOld = "recent_with_old", trailingWithOld = "trailing_with_old", newRecords = "new_records"
        case newRecordsWithOld = "new_records_with_old", firstNewAt = "first_new_at", samples, similarity, score
    }

    /// One line for people: the CLI, the audit entry and the plan's rationale.
    public var summary: String {
        let pairs = samples.map { "\($0.old) ↔ \($0.new)" }.joined(separator: ", ")
        return "\(newKey) looks like \(oldColumn) renamed (score \(score)): \(oldColumn) had a value in \(recentWithOld) of the last "
            + "\(recentRows) loaded rows; \(newKey) began at \(firstNewAt), and \(newRecordsWithOld) of its \(newRecords) records carry "
            + "\(oldColumn); the values look alike (similarity \(similarity)): \(pairs)"
    }
}
