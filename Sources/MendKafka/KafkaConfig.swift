import Foundation

/// Where `mend consume kafka://…` connects, and the librdkafka properties it passes through.
public struct KafkaConfig: Sendable, Equatable {
    /// `bootstrap.servers`: HOST:PORT[,HOST:PORT…].
    public var brokers: String
    /// librdkafka properties from `--kafka-config` (security.protocol, SASL, TLS, timeouts…).
    public var properties: [String: String]

    public init(brokers: String, properties: [String: String] = [:]) {
        self.brokers = brokers
        self.properties = properties
    }

    /// Properties Mend sets itself: offsets are the warehouse's (docs/decisions.md, "Kafka offsets"), the group and the
    /// brokers are the command's. A file that sets one would silently break exactly once.
    static let reserved: [String: String] = [
        "bootstrap.servers": "give the brokers in the URL (kafka://HOST:PORT,HOST:PORT)",
        "metadata.broker.list": "give the brokers in the URL (kafka://HOST:PORT,HOST:PORT)",
        "group.id": "use --group",
        "enable.auto.commit": "Mend commits offsets itself, after the warehouse commit",
        "enable.auto.offset.store": "Mend stores offsets itself, after the warehouse commit",
        "enable.partition.eof": "Mend uses end-of-partition events to know it has caught up (--stop-when-idle)",
    ]

    /// Whether a property's value must never be shown (passwords, keys, tokens).
    public static func isSecret(_ key: String) -> Bool {
        let k = key.lowercased()
        return k.contains("password") || k.contains("secret") || k.contains("jaas") || k.contains("token")
            || k == "ssl.key.pem" || k == "sasl.oauthbearer.config" || k.hasSuffix("credentials")
    }

    /// `kafka://HOST:PORT[,HOST:PORT…]` as bootstrap servers. Credentials do not go in the
    /// URL (it shows in process lists and logs): they go in the `--kafka-config` file.
    public static func brokers(fromURL url: String) throws(KafkaError) -> String {
        guard url.hasPrefix("kafka://") else { throw .badURL(url, "use kafka://HOST:PORT[,HOST:PORT…]") }
        var rest = String(url.dropFirst("kafka://".count))
        if rest.hasSuffix("/") { rest.removeLast() }
        if rest.contains("@") {
            throw .badURL("kafka://…", "put credentials in the --kafka-config file (sasl.username, sasl.password), not in the URL")
        }
        if rest.contains("/") || rest.contains("?") { throw .badURL(url, "the URL names brokers only: kafka://HOST:PORT[,HOST:PORT…]") }
        let hosts = rest.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
        guard !hosts.isEmpty, hosts.allSatisfy({ !$0.isEmpty }) else { throw .badURL(url, "name at least one broker: kafka://HOST:PORT") }
        return hosts.map { h in
            // HOST alone: Kafka's usual port. An IPv6 literal is written [::1]:9092.
            let hasPort = h.hasPrefix("[") ? h.contains("]:") : h.contains(":")
            return hasPort ? h : h + ":9092"
        }.joined(separator: ",")
    }

    /// Reads a librdkafka properties file: `key=value` lines, `#` comments, blank lines.
    /// Errors name the line, never a secret's value.
    public static func properties(file path: String) throws(KafkaError) -> [String: String] {
        let text: String
        do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
            throw .config("cannot read --kafka-config \(path): \(error.localizedDescription)")
        }
        var out: [String: String] = [:]
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") { continue }
            guard let eq = line.firstIndex(of: "=") else {
                throw .config(
                    "--kafka-config \(path) line \(i + 1): write key=value (librdkafka property names, e.g. security.protocol=SASL_SSL)")
            }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces)
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            guard !key.isEmpty else { throw .config("--kafka-config \(path) line \(i + 1): the property name is empty") }
            if let why = reserved[key] { throw .config("--kafka-config \(path) line \(i + 1): \(key) is set by mend consume: \(why)") }
            out[key] = value
        }
        return out
    }

    /// The properties as people may see them: secrets replaced by `***`.
    public var redacted: [String: String] {
        Dictionary(uniqueKeysWithValues: properties.map { ($0.key, Self.isSecret($0.key) ? "***" : $0.value) })
    }
}
