import NotifyCore
import Testing

@Suite("Metadata")
struct MetadataTests {
    @Test("keys are lower-cased on insert and looked up case-insensitively")
    func lowerCasing() {
        var metadata = Metadata()
        metadata.add("X-Request-ID", "r1")
        #expect(metadata.map(\.key) == ["x-request-id"])
        #expect(metadata["x-request-id"] == "r1")
        #expect(metadata["X-REQUEST-ID"] == "r1")
        #expect(metadata["missing"] == nil)
    }

    @Test("a key may repeat; the subscript returns the first value, order is kept")
    func repeats() {
        var metadata: Metadata = ["a": "1", "b": "2"]
        metadata.add("A", "3")
        #expect(metadata.count == 3)
        #expect(metadata["a"] == "1")
        #expect(metadata.values(forKey: "a") == ["1", "3"])
        #expect(metadata.map(\.value) == ["1", "2", "3"])
    }

    @Test("only ASCII letters fold: other bytes of a key match only themselves")
    func asciiOnly() {
        var metadata = Metadata()
        metadata.add("X-Ä-Key", "1")
        #expect(metadata.map(\.key) == ["x-Ä-key"])
        #expect(metadata["x-Ä-KEY"] == "1")
        #expect(metadata["x-ä-key"] == nil)
    }

    @Test("replace keeps one value in the first one's place")
    func replace() {
        var metadata: Metadata = ["a": "1", "b": "2", "a": "3"]
        metadata.replace("A", "new")
        #expect(metadata.map(\.key) == ["a", "b"])
        #expect(metadata["a"] == "new")
        metadata.replace("c", "appended")
        #expect(metadata.map(\.key) == ["a", "b", "c"])
        metadata.removeAll("B")
        #expect(metadata.map(\.key) == ["a", "c"])
    }

    @Test("equality depends on order and values")
    func equality() {
        let one: Metadata = ["a": "1", "b": "2"]
        let two: Metadata = ["b": "2", "a": "1"]
        #expect(one != two)
        #expect(one == ["A": "1", "B": "2"])
        #expect(Metadata().isEmpty)
    }
}

@Suite("Metadata in logs")
struct MetadataDescriptionTests {
    @Test("the description shows keys but never values, which may be credentials")
    func redacted() {
        let metadata: Metadata = ["Authorization": "Bearer secret-token", "x-request-id": "r1"]
        #expect(metadata.description == "Metadata(keys: [authorization, x-request-id])")
        #expect(!metadata.description.contains("secret"))
    }
}
