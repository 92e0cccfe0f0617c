public import Foundation

extension JSONValue {
    /// How deep arrays and objects may nest. The parser recurses once per
    /// level, so a body of a few kilobytes of "[" must not reach the stack's
    /// end; no documented body nests deeper than four.
    public static let maximumDepth = 64

    /// How deep a stored JSON object (Notify's `metadata_json`) may nest:
    /// Foundation's JSONSerialization's limit, which read it before, so that
    /// what was accepted then still is. Recursion this deep is a few tens of
    /// KiB of stack.
    public static let maximumStoredDepth = 512

    /// Parses a document (RFC 8259, UTF-8, an optional byte order mark);
    /// nil when it is not JSON or nests deeper than ``maximumDepth``.
    ///
    /// It reads the bytes itself rather than through `JSONDecoder`: trying
    /// each type in turn there threw and built an error for every mismatch,
    /// which cost more than the rest of a request's translation. A member
    /// named twice keeps its first value, as the decoder did.
    public static func parse(_ data: Data) -> JSONValue? {
        data.withUnsafeBytes(parse(bytes:))
    }

    /// ``parse(_:)`` over bytes the caller holds (a request body in a
    /// network buffer), with no copy into `Data` first.
    public static func parse(bytes: UnsafeRawBufferPointer) -> JSONValue? {
        parse(bytes: bytes, maximumDepth: maximumDepth)
    }

    /// ``parse(bytes:)`` with another nesting limit (``maximumStoredDepth``).
    public static func parse(bytes: UnsafeRawBufferPointer, maximumDepth: Int) -> JSONValue? {
        var parser = JSONParser(bytes: bytes, maximumDepth: maximumDepth)
        return parser.document()
    }
}

/// A recursive-descent reader over one document's bytes. Every method
/// returns nil on the first error; nothing is reported beyond "not JSON",
/// since the contracts answer every malformed body the same way.
private struct JSONParser {
    let bytes: UnsafeRawBufferPointer
    var index = 0
    var depth = 0
    let maximumDepth: Int

    init(bytes: UnsafeRawBufferPointer, maximumDepth: Int) {
        self.bytes = bytes
        self.maximumDepth = maximumDepth
    }

    mutating func document() -> JSONValue? {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { index = 3 }
        skipWhitespace()
        guard let value = value() else { return nil }
        skipWhitespace()
        return index == bytes.count ? value : nil
    }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"): index += 1
            default: return
            }
        }
    }

    private mutating func value() -> JSONValue? {
        guard index < bytes.count else { return nil }
        switch bytes[index] {
        case UInt8(ascii: "{"): return object()
        case UInt8(ascii: "["): return array()
        case UInt8(ascii: "\""): return string().map(JSONValue.string)
        case UInt8(ascii: "t"): return literal("true") ? .bool(true) : nil
        case UInt8(ascii: "f"): return literal("false") ? .bool(false) : nil
        case UInt8(ascii: "n"): return literal("null") ? .null : nil
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return number()
        default: return nil
        }
    }

    private mutating func literal(_ word: StaticString) -> Bool {
        let count = word.utf8CodeUnitCount
        guard bytes.count - index >= count else { return false }
        let start = word.utf8Start
        for offset in 0..<count where bytes[index + offset] != start[offset] { return false }
        index += count
        return true
    }

    /// Consumes `byte` if it is next.
    private mutating func take(_ byte: UInt8) -> Bool {
        guard index < bytes.count, bytes[index] == byte else { return false }
        index += 1
        return true
    }

    private mutating func object() -> JSONValue? {
        guard depth < maximumDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        index += 1
        // Pairs first, then one dictionary of the right size: growing it a
        // member at a time rehashed it several times per object.
        var members: [(String, JSONValue)] = []
        skipWhitespace()
        if take(UInt8(ascii: "}")) { return .object([:]) }
        while true {
            guard index < bytes.count, bytes[index] == UInt8(ascii: "\""), let key = string() else { return nil }
            skipWhitespace()
            guard take(UInt8(ascii: ":")) else { return nil }
            skipWhitespace()
            guard let member = value() else { return nil }
            members.append((key, member))
            skipWhitespace()
            if take(UInt8(ascii: ",")) {
                skipWhitespace()
                continue
            }
            guard take(UInt8(ascii: "}")) else { return nil }
            return .object(Dictionary(members, uniquingKeysWith: { first, _ in first }))
        }
    }

    private mutating func array() -> JSONValue? {
        guard depth < maximumDepth else { return nil }
        depth += 1
        defer { depth -= 1 }
        index += 1
        var elements: [JSONValue] = []
        skipWhitespace()
        if take(UInt8(ascii: "]")) { return .array(elements) }
        while true {
            guard let element = value() else { return nil }
            elements.append(element)
            skipWhitespace()
            if take(UInt8(ascii: ",")) {
                skipWhitespace()
                continue
            }
            return take(UInt8(ascii: "]")) ? .array(elements) : nil
        }
    }

    // MARK: Strings

    /// Reads a string from its opening quote. Raw bytes are checked as UTF-8
    /// once, at the end; escapes add only well-formed UTF-8.
    private mutating func string() -> String? {
        index += 1
        let start = index
        // The common case: no escapes, so the string is the bytes as they
        // are, and ASCII needs no validation.
        var union: UInt8 = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                let raw = UnsafeRawBufferPointer(rebasing: bytes[start..<index])
                index += 1
                return union < 0x80 ? String(decoding: raw, as: UTF8.self) : String(validating: raw, as: UTF8.self)
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { return nil }
            union |= byte
            index += 1
        }
        guard index < bytes.count else { return nil }
        var decoded: [UInt8] = []
        decoded.reserveCapacity(index - start + 16)
        decoded.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[start..<index]))
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return String(validating: decoded, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard escape(into: &decoded) else { return nil }
            case 0..<0x20:
                return nil
            default:
                decoded.append(byte)
                index += 1
            }
        }
        return nil
    }

    /// Decodes one escape at `index` (the backslash) into UTF-8.
    private mutating func escape(into decoded: inout [UInt8]) -> Bool {
        index += 1
        guard index < bytes.count else { return false }
        let byte = bytes[index]
        index += 1
        switch byte {
        case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): decoded.append(byte)
        case UInt8(ascii: "b"): decoded.append(0x08)
        case UInt8(ascii: "f"): decoded.append(0x0C)
        case UInt8(ascii: "n"): decoded.append(0x0A)
        case UInt8(ascii: "r"): decoded.append(0x0D)
        case UInt8(ascii: "t"): decoded.append(0x09)
        case UInt8(ascii: "u"):
            guard let unit = hexQuad() else { return false }
            var scalarValue = UInt32(unit)
            switch unit {
            case 0xD800...0xDBFF:
                guard take(UInt8(ascii: "\\")), take(UInt8(ascii: "u")), let low = hexQuad(),
                      (0xDC00...0xDFFF).contains(low) else { return false }
                scalarValue = 0x10000 + ((UInt32(unit) - 0xD800) << 10) + (UInt32(low) - 0xDC00)
            case 0xDC00...0xDFFF:
                return false
            default:
                break
            }
            guard let scalar = Unicode.Scalar(scalarValue) else { return false }
            UTF8.encode(scalar) { decoded.append($0) }
        default:
            return false
        }
        return true
    }

    private mutating func hexQuad() -> UInt16? {
        guard bytes.count - index >= 4 else { return nil }
        var unit: UInt16 = 0
        for _ in 0..<4 {
            let byte = bytes[index]
            let digit: UInt8
            switch byte {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = byte - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = byte - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = byte - UInt8(ascii: "A") + 10
            default: return nil
            }
            unit = unit << 4 | UInt16(digit)
            index += 1
        }
        return unit
    }

    // MARK: Numbers

    /// Reads a number. A plain integer literal is accumulated directly; one
    /// with a fraction or exponent, or too long for Int64, goes through
    /// `Double(String)` (correctly rounded), and is still an integer when its
    /// value is integral and fits, as JSON Schema counts 3.0.
    private mutating func number() -> JSONValue? {
        let start = index
        let negative = take(UInt8(ascii: "-"))
        guard index < bytes.count else { return nil }
        var integer: Int64 = 0
        var fitsInteger = true
        if bytes[index] == UInt8(ascii: "0") {
            index += 1
        } else {
            guard isDigit(at: index) else { return nil }
            while isDigit(at: index) {
                if fitsInteger {
                    // Accumulate toward the sign so Int64.min still fits.
                    let digit = Int64(bytes[index] - UInt8(ascii: "0"))
                    let (shifted, overflowA) = integer.multipliedReportingOverflow(by: 10)
                    let (next, overflowB) = negative
                        ? shifted.subtractingReportingOverflow(digit) : shifted.addingReportingOverflow(digit)
                    if overflowA || overflowB { fitsInteger = false } else { integer = next }
                }
                index += 1
            }
        }
        var plain = true
        if take(UInt8(ascii: ".")) {
            plain = false
            guard isDigit(at: index) else { return nil }
            while isDigit(at: index) { index += 1 }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            plain = false
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard isDigit(at: index) else { return nil }
            while isDigit(at: index) { index += 1 }
        }
        if plain && fitsInteger { return .integer(integer) }
        let literal = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        guard let double = Double(literal), double.isFinite else { return nil }
        // An integer literal past Int64 stays a number even where it rounds
        // to -2^63. That bound is exact as a Double; 2^63 is the first value
        // past Int64.max.
        if !plain, double.rounded(.towardZero) == double, double >= -9_223_372_036_854_775_808.0, double < 9_223_372_036_854_775_808.0 {
            return .integer(Int64(double))
        }
        return .number(double)
    }

    private func isDigit(at position: Int) -> Bool {
        position < bytes.count && (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(bytes[position])
    }
}

extension JSONValue {
    /// ``parse(_:)`` of a string's UTF-8 (stored JSON text, a string member
    /// holding JSON).
    public static func parse(text: String, maximumDepth: Int = maximumDepth) -> JSONValue? {
        var text = text
        return text.withUTF8 { parse(bytes: UnsafeRawBufferPointer($0), maximumDepth: maximumDepth) }
    }
}
