/// Lets one request at a time hold a key (a table, an idempotency key).
actor KeyedLocks {
    private var held: Set<String> = []
    private var waiters: [String: [CheckedContinuation<Void, Never>]] = [:]

    func acquire(_ key: String) async {
        if !held.contains(key) {
            held.insert(key)
            return
        }
        await withCheckedContinuation { waiters[key, default: []].append($0) }
    }

    func tryAcquire(_ key: String) -> Bool {
        held.insert(key).inserted
    }

    func release(_ key: String) {
        if var w = waiters[key], !w.isEmpty {
            let next = w.removeFirst()
            waiters[key] = w.isEmpty ? nil : w
            next.resume()  // ownership passes on; the key stays held
        } else {
            held.remove(key)
        }
    }
}
