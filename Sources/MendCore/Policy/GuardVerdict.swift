/// One named rule that fired on a statement.
public struct GuardFinding: Sendable, Codable, Equatable {
    public var rule: String
    public var risk: Risk
    public var reason: String
    public var saferAlternative: String?

    public init(rule: String, risk: Risk, reason: String, saferAlternative: String? = nil) {
        self.rule = rule
        self.risk = risk
        self.reason = reason
        self.saferAlternative = saferAlternative
    }
}

/// The guard's decision on one statement (or on a string that was not exactly one
/// statement): what `mend check-sql` prints, what a plan stores beside each compiled
/// statement, and what MCP and HTTP show. One type for all of them.
public struct GuardVerdict: Sendable, Codable, Equatable {
    /// The statement text judged.
    public var sql: String
    /// True iff `risk != .forbidden`.
    public var allowed: Bool
    /// Worst finding.
    public var risk: Risk
    /// Rule name of the worst finding (the first one, if several tie).
    public var rule: String
    public var reasons: [String]
    public var saferAlternative: String?
    public var findings: [GuardFinding]
    /// Parse node type, e.g. "AlterTableStmt", or "parse_error" / "multi_statement" / "empty".
    public var statementKind: String

    public init(sql: String, statementKind: String, findings: [GuardFinding]) {
        let fs =
            findings.isEmpty
            ? [GuardFinding(rule: "not-allow-listed", risk: .forbidden, reason: "No rule accepted this statement.")]
            : findings
        let worst = fs.map(\.risk).max() ?? .forbidden
        let lead = fs.first { $0.risk == worst } ?? fs[0]
        self.sql = sql
        self.risk = worst
        self.allowed = worst != .forbidden
        self.rule = lead.rule
        self.reasons = fs.map(\.reason)
        self.saferAlternative = lead.saferAlternative
        self.findings = fs
        self.statementKind = statementKind
    }
}

extension GuardVerdict {
    /// One finding, as a judge other than the parser's (a test's, a stricter site rule) reports it.
    public init(sql: String, rule: String, risk: Risk, reason: String, saferAlternative: String? = nil) {
        self.init(
            sql: sql, statementKind: "judged",
            findings: [GuardFinding(rule: rule, risk: risk, reason: reason, saferAlternative: saferAlternative)])
    }

    private enum CodingKeys: String, CodingKey {
        case sql, allowed, risk, rule, reasons, saferAlternative, findings, statementKind
    }

    /// Plans stored before findings were kept carry only the summary fields.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        sql = try c.decode(String.self, forKey: .sql)
        allowed = try c.decode(Bool.self, forKey: .allowed)
        risk = try c.decode(Risk.self, forKey: .risk)
        rule = try c.decode(String.self, forKey: .rule)
        reasons = try c.decode([String].self, forKey: .reasons)
        saferAlternative = try c.decodeIfPresent(String.self, forKey: .saferAlternative)
        findings =
            try c.decodeIfPresent([GuardFinding].self, forKey: .findings)
            ?? [GuardFinding(rule: rule, risk: risk, reason: reasons.joined(separator: "; "), saferAlternative: saferAlternative)]
        statementKind = try c.decodeIfPresent(String.self, forKey: .statementKind) ?? "stored"
    }
}
