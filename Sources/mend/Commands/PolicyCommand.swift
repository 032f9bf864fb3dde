import ArgumentParser
import Foundation
import MendCore
import MendPipeline

struct PolicyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "policy", abstract: "Check a policy file.", subcommands: [Check.self])

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Validate a policy file and print the effective policy, defaults included, per table.",
            discussion: """
                Exits 1 with the key's path, its line and the nearest valid key when the file has a key Mend does not \\
                know or a value of the wrong kind; otherwise prints what each table gets. Needs no database: CI can run it.
                """)
        @Argument(help: "The policy YAML file.") var file: String

        func run() async throws {
            let policy = try PolicyLoader.load(path: file)
            _ = try NotifyEndpoint.load(policyPath: file)
            print("\(file): OK")
            print(PolicyLoader.effective(policy))
        }
    }
}
