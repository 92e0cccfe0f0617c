import NotifyCore
import NotifyCrypto
@testable import NotifyServer
import Testing

@Suite("CallerMemo: a caller's last token hash, compared in constant time")
struct CallerMemoTests {
    @Test("CallerMemo reuses the hash only for the very header it was computed for")
    func reusesHash() {
        let memo = CallerMemo()
        var computed: [String] = []
        func hash(_ header: String) -> [UInt8]? {
            memo.hash(for: header) { header in
                computed.append(header)
                return header.hasPrefix("Bearer ") ? SHA256.hash(header.utf8) : nil
            }
        }
        #expect(hash("Bearer abc") == SHA256.hash("Bearer abc".utf8))
        #expect(hash("Bearer abc") == SHA256.hash("Bearer abc".utf8))
        #expect(hash("Bearer abd") == SHA256.hash("Bearer abd".utf8))
        #expect(hash("Basic abc") == nil)
        #expect(hash("Basic abc") == nil)
        #expect(hash("Bearer abd") == SHA256.hash("Bearer abd".utf8))
        #expect(hash("Bearer ab") == SHA256.hash("Bearer ab".utf8))
        #expect(hash("Bearer é") == SHA256.hash("Bearer é".utf8))
        #expect(hash("Bearer e\u{301}") == SHA256.hash("Bearer e\u{301}".utf8))
        // A malformed header is not kept: the one before it still is.
        #expect(computed == ["Bearer abc", "Bearer abd", "Basic abc", "Basic abc", "Bearer ab", "Bearer é", "Bearer e\u{301}"])
    }
}
