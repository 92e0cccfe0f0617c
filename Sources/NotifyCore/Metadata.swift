/// The key-value pairs sent with a request or a response, in order.
///
/// Order is kept and a key may repeat because the wire allows both (`repeated MetadataEntry`).
///
/// The one rule for keys (docs/PROTOCOL.md, "Metadata"): keys are ASCII and compared
/// case-insensitively. `A`–`Z` are folded to `a`–`z` on insert, so that lookups need not care how a
/// peer spelled them; any other byte (a non-ASCII one included) is kept and matches only itself, so
/// that no locale or Unicode case mapping decides what a key means. Where a key repeats, the reader
/// takes **the first** pair (``subscript(_:)``): a later `authorization` cannot replace an earlier one.
/// Values are kept as they are.
public struct Metadata: Hashable, Sendable, Sequence, ExpressibleByDictionaryLiteral {
    /// One pair; a named struct so that the storage is `Hashable`.
    @usableFromInline
    struct Entry: Hashable, Sendable {
        @usableFromInline var key: String
        @usableFromInline var value: String

        @inlinable
        init(key: String, value: String) {
            self.key = key
            self.value = value
        }
    }

    @usableFromInline
    var entries: [Entry]

    /// Creates empty metadata.
    @inlinable
    public init() {
        self.entries = []
    }

    /// Creates metadata from a literal; a key may appear more than once.
    public init(dictionaryLiteral elements: (String, String)...) {
        self.entries = []
        self.entries.reserveCapacity(elements.count)
        for (key, value) in elements {
            self.add(key, value)
        }
    }

    /// The number of pairs, counting repeated keys once per pair.
    @inlinable
    public var count: Int {
        self.entries.count
    }

    @inlinable
    public var isEmpty: Bool {
        self.entries.isEmpty
    }

    /// The first value for `key` (matched case-insensitively), or `nil` if there is none. Later pairs
    /// with the same key are ignored: the first wins.
    public subscript(key: String) -> String? {
        let key = Metadata.normalize(key)
        for entry in self.entries where entry.key == key {
            return entry.value
        }
        return nil
    }

    /// Every value for `key` (matched case-insensitively), in order.
    public func values(forKey key: String) -> [String] {
        let key = Metadata.normalize(key)
        return self.entries.lazy.filter { $0.key == key }.map(\.value)
    }

    /// Appends a pair, keeping any existing pairs with the same key.
    public mutating func add(_ key: String, _ value: String) {
        self.entries.append(Entry(key: Metadata.normalize(key), value: value))
    }

    /// Sets `key` to exactly one value: the first existing pair is overwritten in place and the rest are
    /// removed; if there was none, the pair is appended.
    public mutating func replace(_ key: String, _ value: String) {
        let key = Metadata.normalize(key)
        guard let first = self.entries.firstIndex(where: { $0.key == key }) else {
            self.entries.append(Entry(key: key, value: value))
            return
        }
        self.entries[first].value = value
        var index = self.entries.index(after: first)
        while index < self.entries.endIndex {
            if self.entries[index].key == key {
                self.entries.remove(at: index)
            } else {
                index = self.entries.index(after: index)
            }
        }
    }

    /// Removes every pair with `key`.
    public mutating func removeAll(_ key: String) {
        let key = Metadata.normalize(key)
        self.entries.removeAll { $0.key == key }
    }

    /// Reserves room for `capacity` pairs; the frame decoder knows the count before it adds them.
    package mutating func reserveCapacity(_ capacity: Int) {
        self.entries.reserveCapacity(capacity)
    }

    public struct Iterator: IteratorProtocol {
        @usableFromInline var base: IndexingIterator<[Entry]>

        @inlinable
        init(base: IndexingIterator<[Entry]>) {
            self.base = base
        }

        @inlinable
        public mutating func next() -> (key: String, value: String)? {
            guard let entry = self.base.next() else { return nil }
            return (entry.key, entry.value)
        }
    }

    @inlinable
    public func makeIterator() -> Iterator {
        Iterator(base: self.entries.makeIterator())
    }

    @inlinable
    public var underestimatedCount: Int {
        self.entries.count
    }

    /// Lower-cases ASCII letters and nothing else, without allocating when the key is already
    /// lower-case (the common case on the hot path: our own peers send lower-case keys).
    static func normalize(_ key: String) -> String {
        guard key.utf8.contains(where: isUpperASCII) else { return key }
        return String(decoding: key.utf8.map { isUpperASCII($0) ? $0 | 0x20 : $0 }, as: UTF8.self)
    }

    private static func isUpperASCII(_ byte: UInt8) -> Bool {
        byte >= UInt8(ascii: "A") && byte <= UInt8(ascii: "Z")
    }
}

extension Metadata: CustomStringConvertible {
    /// Lists the keys only: values may be credentials (`authorization`), and metadata ends up in logs.
    public var description: String {
        "Metadata(keys: [" + self.entries.map(\.key).joined(separator: ", ") + "])"
    }
}

extension Metadata.Iterator: Sendable {}
