import Foundation
import MendStore
import Testing

@testable import MendServer

/// Error replies say what failed without echoing SQL or a record at length.
@Suite struct ErrorReplyTests {
    @Test func aDatabaseErrorDoesNotEchoTheStatement() {
        let r = MendRouter.reply(
            for: StoreError.sql(message: "value out of range", sql: "INSERT INTO secret_table VALUES ('card 4111')"), html: false)
        let body = String(decoding: r.body, as: UTF8.self)
        #expect(r.status == 503)
        #expect(body.contains("value out of range"))
        #expect(!body.contains("secret_table") && !body.contains("4111"), "\(body)")
    }

    @Test func aLongMessageIsTruncated() {
        let r = MendRouter.reply(for: StoreError.notFound(String(repeating: "x", count: 100_000)), html: false)
        #expect(r.body.count < 1_000)
    }
}
