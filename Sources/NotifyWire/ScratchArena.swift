internal import CNotifyProto
internal import NotifyCore

/// A bump allocator over one temporary region, holding the C strings and repeated-field arrays that a
/// protobuf-c struct points at while it is packed.
///
/// Encoding is the hot path, and protobuf-c wants `char *` and arrays of pointers. Rather than one heap
/// allocation per string and per entry, ``Frame/encode(into:)`` sizes everything first (``Size``) and
/// asks for one region with `withUnsafeTemporaryAllocation`, which lives on the stack when small. The
/// region, and every pointer handed out, is valid only inside ``with(_:_:)``.
struct ScratchArena: ~Copyable {
    /// Accumulates an upper bound of the bytes an arena needs.
    struct Size {
        /// Starts above zero so that ``ScratchArena/nonNullPointer`` always has a byte to point at.
        private(set) var byteCount = 16

        mutating func add(string: String) {
            self.byteCount += string.utf8.count + 1
        }

        mutating func add<T>(_: T.Type, count: Int) {
            guard count > 0 else { return }
            self.byteCount += MemoryLayout<T>.stride * count + MemoryLayout<T>.alignment
        }

        mutating func add(metadata: Metadata) {
            self.add(Notify__V1__MetadataEntry.self, count: metadata.count)
            self.add(UnsafeMutablePointer<Notify__V1__MetadataEntry>?.self, count: metadata.count)
            for (key, value) in metadata {
                self.add(string: key)
                self.add(string: value)
            }
        }

        mutating func add(fieldViolations: [FieldViolation]) {
            self.add(Notify__V1__FieldViolation.self, count: fieldViolations.count)
            self.add(UnsafeMutablePointer<Notify__V1__FieldViolation>?.self, count: fieldViolations.count)
            for violation in fieldViolations {
                self.add(string: violation.field)
                self.add(string: violation.description)
            }
        }
    }

    private let region: UnsafeMutableRawBufferPointer
    private var used = 0

    private init(region: UnsafeMutableRawBufferPointer) {
        self.region = region
    }

    /// Runs `body` with an arena of at least `size` bytes, released when `body` returns.
    static func with<Result>(
        _ size: Size,
        _ body: (inout ScratchArena) throws(WireError) -> Result
    ) throws(WireError) -> Result {
        try withUnsafeTemporaryAllocation(byteCount: size.byteCount, alignment: 16) {
            region throws(WireError) -> Result in
            var arena = ScratchArena(region: region)
            return try body(&arena)
        }
    }

    /// A valid, non-null address for zero-length `bytes` fields: protobuf-c `memcpy`s from it, and
    /// `memcpy` from a null pointer is undefined even for zero bytes.
    var nonNullPointer: UnsafeMutablePointer<UInt8> {
        guard let base = self.region.baseAddress else {
            preconditionFailure("ScratchArena.Size always asks for at least one byte")
        }
        return base.assumingMemoryBound(to: UInt8.self)
    }

    private mutating func allocate<T>(_: T.Type, count: Int) -> UnsafeMutablePointer<T> {
        let alignment = MemoryLayout<T>.alignment
        let start = (self.used + alignment - 1) & ~(alignment - 1)
        let end = start + MemoryLayout<T>.stride * count
        // Size mirrors every allocation; overrunning means the two disagree, a bug here, not bad input.
        guard end <= self.region.count, let base = self.region.baseAddress else {
            preconditionFailure("ScratchArena overrun: \(end) > \(self.region.count)")
        }
        self.used = end
        return (base + start).bindMemory(to: T.self, capacity: count)
    }

    /// Copies `string` into the arena as a NUL-terminated C string.
    ///
    /// - Throws: ``WireError/Code/invalidString`` if `string` contains a NUL byte, which would silently
    ///   cut the value short when protobuf-c measures it with `strlen`.
    mutating func cString(_ string: String, field: StaticString) throws(WireError) -> UnsafeMutablePointer<CChar> {
        let count = string.utf8.count
        let start = self.allocate(UInt8.self, count: count + 1)
        let bytes = UnsafeMutableRawBufferPointer(start: start, count: count)
        bytes.copyBytes(from: string.utf8)
        if bytes.contains(0) {
            throw WireError(code: .invalidString, message: "\(field) contains a NUL byte")
        }
        start[count] = 0
        return UnsafeMutableRawPointer(start).bindMemory(to: CChar.self, capacity: count + 1)
    }

    /// A C string for an optional proto field: `nil` (absent) for `nil`.
    mutating func optionalCString(_ string: String?, field: StaticString) throws(WireError) -> UnsafeMutablePointer<CChar>? {
        guard let string else { return nil }
        return try self.cString(string, field: field)
    }

    /// Builds the `repeated MetadataEntry` array.
    mutating func metadata(
        _ metadata: Metadata
    ) throws(WireError) -> (count: Int, entries: UnsafeMutablePointer<UnsafeMutablePointer<Notify__V1__MetadataEntry>?>?) {
        guard !metadata.isEmpty else { return (0, nil) }
        let entries = self.allocate(Notify__V1__MetadataEntry.self, count: metadata.count)
        let pointers = self.allocate(UnsafeMutablePointer<Notify__V1__MetadataEntry>?.self, count: metadata.count)
        var index = 0
        for (key, value) in metadata {
            let entry = entries + index
            notify__v1__metadata_entry__init(entry)
            entry.pointee.key = try self.cString(key, field: "metadata key")
            entry.pointee.value = try self.cString(value, field: "metadata value")
            (pointers + index).initialize(to: entry)
            index += 1
        }
        return (metadata.count, pointers)
    }

    /// Builds the `repeated FieldViolation` array.
    mutating func fieldViolations(
        _ violations: [FieldViolation]
    ) throws(WireError) -> (count: Int, entries: UnsafeMutablePointer<UnsafeMutablePointer<Notify__V1__FieldViolation>?>?) {
        guard !violations.isEmpty else { return (0, nil) }
        let entries = self.allocate(Notify__V1__FieldViolation.self, count: violations.count)
        let pointers = self.allocate(UnsafeMutablePointer<Notify__V1__FieldViolation>?.self, count: violations.count)
        for (index, violation) in violations.enumerated() {
            let entry = entries + index
            notify__v1__field_violation__init(entry)
            entry.pointee.field = try self.cString(violation.field, field: "field violation field")
            entry.pointee.description = try self.cString(violation.description, field: "field violation description")
            (pointers + index).initialize(to: entry)
        }
        return (violations.count, pointers)
    }
}
