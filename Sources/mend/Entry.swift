import ArgumentParser
import MendStore

/// Entry point: runs the command, then closes every database connection it opened
/// (also on errors), so no connection is dropped mid-protocol.
@main
enum Entry {
    static func main() async {
        do {
            var command = try Mend.parseAsRoot()
            if var async = command as? any AsyncParsableCommand {
                try await async.run()
            } else {
                try command.run()
            }
            // Notifications are audited in the database: told before it is closed.
            await OpenNotifiers.shared.flushAll()
            await OpenWarehouses.shared.closeAll()
        } catch {
            await OpenNotifiers.shared.flushAll()
            await OpenWarehouses.shared.closeAll()
            Mend.exit(withError: error)
        }
    }
}

actor OpenWarehouses {
    static let shared = OpenWarehouses()
    private var open: [any Warehouse] = []
    func add(_ w: any Warehouse) { open.append(w) }
    func closeAll() async {
        for w in open { await w.close() }
        open = []
    }
}
