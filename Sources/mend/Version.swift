/// What `mend --version` and the root help print. These are a source build's values, so a working
/// tree never changes when it builds: `make dist` compiles a staged copy of the tree in which
/// scripts/dist.sh writes this file with the release's version, commit and build date (D22).
enum BuildInfo {
    static let version = "dev"
    static let commit = "unknown"
    static let date = "unknown"

    static var description: String { "mend \(version) (commit \(commit), built \(date))" }
}
