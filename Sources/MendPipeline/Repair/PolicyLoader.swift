import Foundation
public import MendCore
import Yams

public enum PolicyLoader {
    /// Reads a YAML policy file; errors name the file and what is wrong: a key Mend does not
    /// know or a value of the wrong kind is refused with its path, line and nearest valid key.
    public static func load(path: String) throws -> Policy {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw PipelineError.policy("cannot read policy file \(path)")
        }
        return try parse(String(decoding: data, as: UTF8.self), name: path)
    }

    public static func parse(_ yaml: String, name: String = "policy file") throws -> Policy {
        // An empty or comment-only file means "no overrides": the default policy.
        let meaningful = yaml.split(separator: "\n").contains {
            let t = $0.trimmingCharacters(in: .whitespaces)
            return !t.isEmpty && !t.hasPrefix("#") && t != "---"
        }
        if !meaningful { return .default }
        if let problem = shapeProblem(yaml) { throw PipelineError.policy("\(name): \(problem)") }
        do {
            return try YAMLDecoder().decode(Policy.self, from: yaml)
        } catch let e as PolicyError {
            throw PipelineError.policy("\(name): \(e)")
        } catch let DecodingError.dataCorrupted(ctx) {
            // Yams wraps errors thrown by Policy's own decoder; show ours, not "not valid YAML".
            if let inner = ctx.underlyingError as? PolicyError { throw PipelineError.policy("\(name): \(inner)") }
            throw PipelineError.policy("\(name): \(path(ctx.codingPath)) \(ctx.debugDescription)")
        } catch let DecodingError.typeMismatch(_, ctx) {
            throw PipelineError.policy("\(name): \(path(ctx.codingPath)) \(ctx.debugDescription)")
        } catch let DecodingError.keyNotFound(key, ctx) {
            throw PipelineError.policy("\(name): \(path(ctx.codingPath)) is missing '\(key.stringValue)'")
        } catch {
            throw PipelineError.policy("\(name): \(error)")
        }
    }

    static func path(_ p: [any CodingKey]) -> String {
        p.isEmpty ? "" : "at " + p.map(\.stringValue).joined(separator: ".") + ":"
    }
}
