public import Foundation
import MendCore

/// The two bodies a notification can take. Pure functions of the facts, so their tests
/// need no network: `CloudEventBody` (format json) and `SlackMessage` (format slack).
public enum NotificationRenderer {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    /// The CloudEvent's: snake_case keys, as the CLI's `--json` and MCP write the same views.
    static func factsEncoder() -> JSONEncoder {
        let e = encoder()
        e.keyEncodingStrategy = .convertToSnakeCase
        return e
    }

    public static func render(_ facts: NotificationFacts, format: NotifyEndpoint.Format, id: String, time: Date) -> Data {
        switch format {
        case .json: cloudEvent(facts, id: id, time: time)
        case .slack: slack(facts)
        }
    }

    /// CloudEvents 1.0, structured mode: the envelope's `data` is the versioned facts.
    struct CloudEvent: Encodable {
        var specversion = "1.0"
        var type: String
        var source = "mend"
        var id: String
        var time: String
        var subject: String
        var datacontenttype = "application/json"
        var dataschema = "https://mend.dev/schemas/notification/v2"
        var data: Payload

        struct Payload: Encodable {
            var version = 2
            var facts: NotificationFacts
            func encode(to encoder: any Encoder) throws {
                try facts.encode(to: encoder)
                var c = encoder.container(keyedBy: Key.self)
                try c.encode(version, forKey: Key(stringValue: "version"))
            }
        }
    }

    struct Key: CodingKey {
        var stringValue: String
        var intValue: Int? { nil }
        init(stringValue: String) { self.stringValue = stringValue }
        init?(intValue: Int) { nil }
    }

    public static func cloudEvent(_ facts: NotificationFacts, id: String, time: Date) -> Data {
        let event = CloudEvent(
            type: facts.kind.eventType, id: id, time: NotificationFacts.iso(time), subject: "incident/\(facts.incident.id)",
            data: .init(facts: facts))
        guard let data = try? factsEncoder().encode(event) else { return Data("{}".utf8) }
        return fenced(data)
    }

    /// JSON text with no `<`, `>` or `&` outside escapes (in JSON they occur only inside strings,
    /// where `\u003c` means the same): a receiver that pastes a parked record into HTML cannot be
    /// made to run it, and the values decode unchanged.
    static func fenced(_ json: Data) -> Data {
        let text = String(decoding: json, as: UTF8.self).replacingOccurrences(of: "&", with: "\\u0026")
            .replacingOccurrences(of: "<", with: "\\u003c").replacingOccurrences(of: ">", with: "\\u003e")
        return Data(text.utf8)
    }

    // MARK: Slack

    struct Text: Encodable {
        var type: String
        var text: String
    }

    struct Block: Encodable {
        var type: String
        var text: Text?
        var fields: [Text]?
        var elements: [Element]?
    }

    struct Element: Encodable {
        var type: String
        var text: Text?
        var url: String?
        var style: String?
        var actionID: String?
        enum CodingKeys: String, CodingKey {
            case type, text, url, style
            case actionID = "action_id"
        }
    }

    struct SlackBody: Encodable {
        var text: String
        var blocks: [Block]
    }

    /// Text from records, planners and people, made inert for Slack's mrkdwn: `&`, `<`
    /// and `>` escaped (no `<!channel>`, no disguised links), and no way out of a code fence.
    static func inert(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;")
            .replacingOccurrences(of: ">", with: "&gt;").replacingOccurrences(of: "```", with: "`\u{200B}`\u{200B}`")
    }

    static func cap(_ s: String, _ n: Int) -> String { s.count > n ? String(s.prefix(n)) + "…" : s }

    static func headline(_ f: NotificationFacts) -> String {
        let i = f.incident
        let plan = f.plan.map { " plan #\($0.id)" } ?? ""
        switch f.kind {
        case .opened: return "Incident #\(i.id) opened on \(i.table): \(i.parked) record(s) parked"
        case .awaitingApproval: return "Incident #\(i.id) on \(i.table):\(plan) waits for approval"
        case .applied: return "Incident #\(i.id) on \(i.table):\(plan) applied"
        case .refused: return "Incident #\(i.id) on \(i.table):\(plan) refused"
        case .failed: return "Incident #\(i.id) on \(i.table):\(plan) failed"
        }
    }

    public static func slack(_ f: NotificationFacts) -> Data {
        let title = headline(f)
        var blocks: [Block] = [Block(type: "header", text: Text(type: "plain_text", text: cap(title, 150)))]
        blocks.append(
            Block(
                type: "section", text: nil,
                fields: [
                    Text(type: "mrkdwn", text: "*Table*\n`\(inert(f.incident.table))`"),
                    Text(type: "mrkdwn", text: "*Status*\n\(inert(f.incident.status.rawValue))"),
                    Text(type: "mrkdwn", text: "*Drift*\n\(inert(f.incident.kinds.map(\.rawValue).joined(separator: ", ")))"),
                    Text(type: "mrkdwn", text: "*Parked*\n\(f.incident.parked)"),
                ], elements: nil))
        if !f.drift.isEmpty {
            let lines = f.drift.prefix(5).map { "• `\(inert($0.kind.rawValue))` \(inert(cap($0.reason, 200)))" }
            let more = f.drift.count > 5 ? "\n…and \(f.drift.count - 5) more" : ""
            blocks.append(
                Block(type: "section", text: Text(type: "mrkdwn", text: "*What changed*\n" + lines.joined(separator: "\n") + more)))
        }
        if let p = f.plan {
            let ops = p.operations.map(\.summary).map { "• \(inert($0))" }.joined(separator: "\n")
            blocks.append(
                Block(
                    type: "section",
                    text: Text(
                        type: "mrkdwn",
                        text: cap(
                            "*Plan #\(p.id)* by \(inert(p.plannedBy)) (confidence \(String(format: "%.2f", p.confidence)))\n\(ops)", 2900)))
            )
        }
        if !f.sql.isEmpty {
            blocks.append(
                Block(type: "section", text: Text(type: "mrkdwn", text: cap("*SQL*\n```\(inert(f.sql.joined(separator: ";\n")))```", 2900)))
            )
        }
        var verdict: [Text] = []
        if let g = f.guardVerdict {
            verdict.append(Text(type: "mrkdwn", text: "*Guard*\nrisk *\(inert(g.risk.rawValue))*, rule `\(inert(g.rule))`"))
        }
        if let d = f.decision {
            verdict.append(
                Text(
                    type: "mrkdwn",
                    text: cap("*Policy*\n*\(inert(d.autonomy.rawValue))*: \(inert(d.reasons.joined(separator: "; ")))", 1900)))
        }
        if !verdict.isEmpty { blocks.append(Block(type: "section", text: nil, fields: verdict, elements: nil)) }
        if let r = f.reason { blocks.append(Block(type: "section", text: Text(type: "mrkdwn", text: cap("*Why*\n\(inert(r))", 2900)))) }
        for s in f.samples {
            let cut = s.truncated ? " (first \(NotificationFacts.SampleFacts.limit) of \(s.bytes) bytes)" : ""
            blocks.append(
                Block(
                    type: "section",
                    text: Text(
                        type: "mrkdwn",
                        text: cap("*Parked sample* \(inert(s.source)):\(s.line)\(cut)\n```\(inert(cap(s.record, 2500)))```", 2900))))
        }
        if let link = f.link {
            let label = f.kind == .awaitingApproval ? "Review and approve" : "Open incident #\(f.incident.id)"
            blocks.append(
                Block(
                    type: "actions", text: nil, fields: nil,
                    elements: [
                        Element(
                            type: "button", text: Text(type: "plain_text", text: label), url: link,
                            style: f.kind == .awaitingApproval ? "primary" : nil, actionID: "open_incident")
                    ]))
        }
        let body = SlackBody(text: cap(title, 300), blocks: blocks)
        return (try? encoder().encode(body)) ?? Data("{}".utf8)
    }
}
