import Foundation
import MendCore
import Testing

@testable import MendGuard

@Suite struct RobustnessTests {
    @Test func deeplyNestedInputIsRefusedNotCrashed() {
        for depth in [100, 1_000, 20_000] {
            let sql =
                "ALTER TABLE t ADD COLUMN x int DEFAULT " + String(repeating: "(", count: depth) + "1"
                + String(repeating: ")", count: depth)
            let v = SQLGuard().judge(sql)
            // Shallow nesting is just a constant; deep nesting hits the parser's stack limit or the decoder's.
            #expect(v.risk == .low || !v.allowed, "depth \(depth): \(v.rule)")
        }
    }

    @Test func manySubcommandsAreAllJudged() {
        let cmds = (0..<500).map { "ADD COLUMN c\($0) int" }
        let ok = SQLGuard().judge("ALTER TABLE t " + cmds.joined(separator: ", "))
        #expect(ok.allowed && ok.findings.count == 500)
        let bad = SQLGuard().judge("ALTER TABLE t " + (cmds + ["DROP COLUMN c1"]).joined(separator: ", "))
        #expect(bad.rule == "drop-column")
    }
}
