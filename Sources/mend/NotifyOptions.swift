import ArgumentParser
import Foundation
import MendPipeline

/// `--notify URL` and `--public-url URL`: who is told when an incident opens, waits for
/// approval, is applied, refused or fails (ingest, consume, serve, approve). The policy
/// file's `notify:` list applies to every command that takes --policy.
struct NotifyOptions: ParsableArguments {
    @Option(
        name: .long,
        help: """
            POST notifications to this URL (repeatable): a CloudEvents JSON body, or a Slack message for \
            hooks.slack.com URLs and `slack:URL`. MEND_NOTIFY_SECRET signs the body (header Mend-Signature). \
            More endpoints, with event filters, in the policy file's notify: list (docs/serve.md).
            """)
    var notify: [String] = []

    @Option(
        name: .customLong("public-url"),
        help: """
            Where people reach `mend serve` (e.g. https://mend.example.com): notifications then link to the \
            incident page, signed and expiring when MEND_LINK_KEY is set (mend serve makes a key for its own \
            lifetime if it is not).
            """)
    var publicURL: String?

    @Option(name: .long, help: "Hours a signed approval link stays valid.") var linkHours: Double = 168

    /// Attaches a notifier with the policy file's endpoints and these; the links are
    /// signed with MEND_LINK_KEY. `serving`: the server's own address, the default public URL.
    @discardableResult
    func attach(to engine: Engine, policy: String?, serving: String? = nil) async throws -> ApprovalLinks? {
        try await Self.configure(engine, policy: policy, notify: notify, publicURL: publicURL, linkHours: linkHours, serving: serving)
    }

    /// The policy file's endpoints alone: what the commands without --notify get.
    static func configure(
        _ engine: Engine, policy: String?, notify: [String] = [], publicURL: String? = nil, linkHours: Double = 168,
        serving: String? = nil
    ) async throws -> ApprovalLinks? {
        let env = ProcessInfo.processInfo.environment
        guard linkHours > 0 else { throw ValidationError("--link-hours must be more than 0") }
        var endpoints: [NotifyEndpoint] = []
        do {
            if let policy { endpoints = try NotifyEndpoint.load(policyPath: policy) }
            for option in notify { endpoints.append(try NotifyEndpoint.parse(option: option, secret: env["MEND_NOTIFY_SECRET"])) }
        } catch {
            throw ValidationError("\(error)")
        }
        var links: ApprovalLinks?
        if let base = publicURL ?? serving {
            guard let u = URL(string: base), ["http", "https"].contains(u.scheme?.lowercased() ?? ""), u.host != nil else {
                throw ValidationError("--public-url takes an http:// or https:// URL, e.g. https://mend.example.com")
            }
            var key = env["MEND_LINK_KEY"]
            if let k = key, k.count < ApprovalLinks.minimumKeyLength {
                throw ValidationError("MEND_LINK_KEY is shorter than 16 characters: use `openssl rand -hex 32`")
            }
            if key == nil, serving != nil {
                key = ApprovalLinks.randomKey()
                logStderr(
                    "mend serve: no MEND_LINK_KEY: approval links are signed with a key of this process only (they stop working when it restarts, and links from other mend processes are not accepted)"
                )
            }
            links = ApprovalLinks(publicURL: base, key: key, lifetime: linkHours * 3600)
        }
        await engine.setLinks(links)
        if let old = await engine.notifier { await old.stop() }
        guard !endpoints.isEmpty else {
            await engine.setNotifier(nil)
            return links
        }
        let notifier = Notifier(endpoints: endpoints, store: engine.state, links: links)
        await engine.setNotifier(notifier)
        await OpenNotifiers.shared.add(notifier)
        return links
    }
}

/// The notifiers a command started; flushed before it exits, so a short command (`mend
/// approve`) does not end before it has told anyone.
actor OpenNotifiers {
    static let shared = OpenNotifiers()
    private var open: [Notifier] = []
    func add(_ n: Notifier) { open.append(n) }

    func flushAll(timeout: Duration = .seconds(15)) async {
        for n in open {
            let done = await n.flush(timeout: timeout)
            if !done { logStderr("mend: \(n.backlog) notification(s) not delivered before exit (the endpoint is slow or down)") }
        }
        open = []
    }
}
