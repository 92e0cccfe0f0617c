import NotifyCore
import Testing

@Suite("RandomPool")
struct RandomPoolTests {
    @Test("hands out each drawn word once, across refills, and no two pools agree")
    func wordsAreFresh() {
        let first = RandomPool()
        var second = RandomPool().generator
        // 512 words per draw: 600 cross a refill.
        let words = (0..<600).map { _ in first.next() } + (0..<600).map { _ in second.next() }
        #expect(Set(words).count == words.count)
        // Every bit position takes both values: not a buffer left at zero.
        let union = words.reduce(0, |)
        let intersection = words.reduce(~0, &)
        #expect(union == ~0 && intersection == 0)
    }
}
