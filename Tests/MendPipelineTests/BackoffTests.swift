import Foundation
import MendStore
import Testing

/// The one backoff of database and broker retries: doubling waits with jitter inside the
/// budget, a last try at the budget's end, then nothing.
@Suite struct BackoffTests {
    @Test func waitsDoubleWithJitterUpToTheCap() {
        var b = Backoff(budget: 1000, first: 0.1, cap: 5)
        var ceilings: [Double] = []
        for i in 0..<10 {
            let wait = b.next()
            let ceiling = min(5, 0.1 * pow(2, Double(i)))
            #expect(
                wait.map { $0 >= ceiling / 2 && $0 <= ceiling } == true,
                "try \(i + 1): \(String(describing: wait)) within \(ceiling / 2)…\(ceiling)")
            ceilings.append(ceiling)
        }
        #expect(b.attempts == 10)
        #expect(ceilings.last == 5)
    }

    @Test func theBudgetEndsWithOneLastTryThenNil() async throws {
        var b = Backoff(budget: 0.3, first: 1, cap: 1)
        let last = b.next()
        let wait = try #require(last)
        #expect(wait <= 0.3, "the last wait ends where the budget does: \(wait)")
        #expect(b.next() == nil, "then no more tries")
        var spent = Backoff(budget: 0.05)
        try await Task.sleep(for: .milliseconds(80))
        #expect(spent.next() == nil, "a budget already spent gives no wait")
    }
}
