import Foundation
import NotifyJSON
import Testing

@Suite("JSONValue: the RFC 8259 reader and the compact writer")
struct JSONValueTests {
    private func parse(_ text: String) -> JSONValue? {
        JSONValue.parse(Data(text.utf8))
    }

    private func parse(bytes: [UInt8]) -> JSONValue? {
        JSONValue.parse(Data(bytes))
    }

    // MARK: Literals and structure

    @Test(
        "Reads literals, containers and whitespace",
        arguments: [
            ("null", .null),
            ("true", .bool(true)),
            ("false", .bool(false)),
            (" \t\r\n null \t\r\n", .null),
            ("[]", .array([])),
            ("[ ]", .array([])),
            ("{}", .object([:])),
            ("{ }", .object([:])),
            ("[1, \"a\", null, true, [false], {}]", .array([.integer(1), .string("a"), .null, .bool(true), .array([.bool(false)]), .object([:])])),
            ("{\"a\" : {\"b\" :[ 1 ,2 ] } , \"c\":null}", .object(["a": .object(["b": .array([.integer(1), .integer(2)])]), "c": .null])),
            ("\u{FEFF}{\"bom\":true}", .object(["bom": .bool(true)])),
        ] as [(String, JSONValue)])
    func structure(text: String, expected: JSONValue) {
        #expect(parse(text) == expected)
    }

    @Test("A member named twice keeps its first value")
    func duplicateKeys() {
        #expect(parse("{\"a\":1,\"a\":2}") == .object(["a": .integer(1)]))
        #expect(parse("{\"a\":{\"x\":1},\"b\":0,\"a\":null}") == .object(["a": .object(["x": .integer(1)]), "b": .integer(0)]))
    }

    @Test(
        "Rejects what RFC 8259 does not allow",
        arguments: [
            "", " ", "nul", "nulll", "True", "NULL", "tru", "falsee",
            "[1,]", "{\"a\":1,}", "[,1]", "[1 2]", "[1,,2]", "{\"a\" 1}", "{\"a\":}", "{a:1}", "{'a':1}", "{1:1}",
            "[", "]", "{", "}", "[1", "{\"a\":1", "[}", "{]", "\"abc", "\"",
            "[] x", "{} {}", "1 2", "null,", "\u{0}", "[1]\u{0}",
            "01", "-01", "00", "1.", ".5", "-", "+1", "1e", "1e+", "1.e3", "-.5", "0x10", "1_000", "Infinity", "NaN", "-Infinity",
            "1e400", "-1e400",
            "\u{FEFF}", "\u{FEFF}\u{FEFF}{}",
            "/* c */ 1", "// c\n1", "\u{0B}1", "\u{0C}1", "\u{A0}1",
        ])
    func rejects(text: String) {
        #expect(parse(text) == nil)
    }

    // MARK: Numbers

    @Test(
        "Integers fit Int64; integral values with a fraction or exponent are integers too",
        arguments: [
            ("0", 0), ("-0", 0), ("7", 7), ("-7", -7), ("1234567890", 1_234_567_890),
            ("9223372036854775807", .max), ("-9223372036854775808", .min),
            ("3.0", 3), ("-3.000", -3), ("1e2", 100), ("1E2", 100), ("1e+2", 100), ("100e-2", 1), ("0.1e1", 1),
            ("1.5e1", 15), ("-0.0", 0), ("0e10", 0), ("1e-400", 0), ("-9.223372036854775808e18", .min),
        ] as [(String, Int64)])
    func integers(text: String, expected: Int64) {
        #expect(parse(text) == .integer(expected))
    }

    @Test(
        "Other numbers are Doubles, rounded as Double(String) rounds them",
        arguments: [
            ("3.5", 3.5), ("-0.25", -0.25), ("1E-2", 0.01), ("0.1", 0.1), ("2.5e-3", 0.0025),
            ("9223372036854775808", 9_223_372_036_854_775_808.0), ("-9223372036854775809", -9_223_372_036_854_775_809.0),
            ("123456789012345678901234567890", 1.2345678901234568e29), ("1.0e19", 1e19),
            ("1.7976931348623157e308", .greatestFiniteMagnitude), ("5e-324", .leastNonzeroMagnitude),
            ("0.30000000000000004", 0.30000000000000004),
        ] as [(String, Double)])
    func doubles(text: String, expected: Double) {
        #expect(parse(text) == .number(expected))
    }

    // MARK: Strings

    @Test(
        "Decodes every escape, including surrogate pairs",
        arguments: [
            (#""""#, ""),
            (#""plain""#, "plain"),
            (#""\"\\\/\b\f\n\r\t""#, "\"\\/\u{8}\u{C}\n\r\t"),
            (#""\u0041\u00e9\u00E9\u20AC""#, "Aéé€"),
            (#""\u0000""#, "\u{0}"),
            (#""\u001f\u007F""#, "\u{1F}\u{7F}"),
            (#""\ud83d\ude00""#, "😀"),
            (#""\uD83D\uDE00x\uDBFF\uDFFF""#, "😀x\u{10FFFF}"),
            (#""a\nb""#, "a\nb"),
            ("\"héllo wörld 😀 ✓\"", "héllo wörld 😀 ✓"),
            ("\"raw\u{7F}del\"", "raw\u{7F}del"),
        ] as [(String, String)])
    func strings(text: String, expected: String) {
        #expect(parse(text) == .string(expected))
    }

    @Test(
        "Rejects bad escapes, lone surrogates and control characters",
        arguments: [
            #""\ud800""#, #""\udc00""#, #""\ud800x""#, #""\ud800\n""#, #""\ud800\u0041""#, #""\ud800\ud800""#,
            #""\udc00\ud800""#, #""\ud83d\""#, #""\u12""#, #""\u12g4""#, #""\U0041""#, #""\x41""#, #""\a""#,
            #""\'""#, #""\""#, "\"\\", "\"a\u{0}b\"", "\"a\nb\"", "\"a\tb\"", "\"\u{1F}\"",
        ])
    func rejectsStrings(text: String) {
        #expect(parse(text) == nil)
    }

    @Test(
        "Rejects invalid UTF-8 inside and outside strings",
        arguments: [
            [0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xC0, 0xAF, 0x22], [0x22, 0xE0, 0x80, 0xAF, 0x22],
            [0x22, 0xED, 0xA0, 0x80, 0x22], [0x22, 0xF4, 0x90, 0x80, 0x80, 0x22], [0x22, 0x80, 0x22],
            [0x22, 0x5C, 0x6E, 0xFF, 0x22], [0xC3, 0xA9], [0x5B, 0xC3, 0xA9, 0x5D], [0xEF, 0xBB],
        ] as [[UInt8]])
    func rejectsInvalidUTF8(bytes: [UInt8]) {
        #expect(parse(bytes: bytes) == nil)
    }

    @Test("Keys decode like strings")
    func keys() {
        #expect(parse(#"{"\u00e9t\u00E9":1,"a\"b":2,"":3}"#) == .object(["été": .integer(1), "a\"b": .integer(2), "": .integer(3)]))
    }

    // MARK: Depth

    @Test("Nests up to the depth limit and no further")
    func depth() {
        let limit = JSONValue.maximumDepth
        #expect(limit == 64)
        let deepest = String(repeating: "[", count: limit) + String(repeating: "]", count: limit)
        #expect(parse(deepest) != nil)
        let tooDeep = String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1)
        #expect(parse(tooDeep) == nil)
        let objects = String(repeating: "{\"a\":", count: limit) + "1" + String(repeating: "}", count: limit)
        #expect(parse(objects) != nil)
        let tooDeepObjects = String(repeating: "{\"a\":", count: limit + 1) + "1" + String(repeating: "}", count: limit + 1)
        #expect(parse(tooDeepObjects) == nil)
        // Far past the limit, and unbalanced: still just nil, no stack overflow.
        #expect(parse(String(repeating: "[", count: 200_000)) == nil)
        #expect(parse(String(repeating: "{\"a\":[", count: 100_000)) == nil)
    }

    // MARK: The documented bodies

    /// SelfCommunity's Notify example body, as its documentation shows it.
    static let notifyExample = """
        {
          "recipients_type": "string",
          "type": "string",
          "embed": {
            "embed_type": "string",
            "embed_id": "string",
            "url": "https://example.com",
            "metadata": "{}"
          },
          "title": "string",
          "description": "string",
          "user": 0
        }
        """

    /// Graph's notification example body, with the tabs its documentation has.
    static let graphExample = """
        {
            "targetHostName": "graphnotifications.sample.windows.com",
            "appNotificationId": "testDirectToastNotification",
            "expirationDateTime": "2019-10-30T23:59:00.000Z",
            "payload": {
                "visualContent": {
                    "title": "Hello World!",
                    "body": "Notifications are Great!"
                }
            },
            "targetPolicy": {
                "platformTypes": [
        \t"windows",
        \t"ios",
        \t"android"
                ]
        \t},
            "priority": "High",
            "groupName": "TestGroup",
            "displayTimeToLive": "60"
        }
        """

    /// Graph's example answer: "@odata.context" holds "$", "(", "'" and "%".
    static let graphAnswer = """
        {
            "@odata.context": "https://graph.microsoft.com/beta/$metadata#users('graphnotify%40contoso.com')/notifications/$entity",
            "displayTimeToLive": 59,
            "expirationDateTime": "2019-10-28T22:05:36.25Z",
            "groupName": "TestGroup",
            "id": "119081f2-f19d-4fa8-817c-7e01092c0f7d",
            "priority": "High",
            "payload": {
                "visualContent": {
                    "title": "Hello World!",
                    "body": "Notifications are Great!"
                }
            }
        }
        """

    @Test("Reads SelfCommunity's example body")
    func notifyBody() {
        #expect(parse(Self.notifyExample) == .object([
            "recipients_type": .string("string"),
            "type": .string("string"),
            "embed": .object([
                "embed_type": .string("string"), "embed_id": .string("string"),
                "url": .string("https://example.com"), "metadata": .string("{}"),
            ]),
            "title": .string("string"),
            "description": .string("string"),
            "user": .integer(0),
        ]))
    }

    @Test("Reads Graph's example body and answer")
    func graphBodies() throws {
        #expect(parse(Self.graphExample) == .object([
            "targetHostName": .string("graphnotifications.sample.windows.com"),
            "appNotificationId": .string("testDirectToastNotification"),
            "expirationDateTime": .string("2019-10-30T23:59:00.000Z"),
            "payload": .object(["visualContent": .object(["title": .string("Hello World!"), "body": .string("Notifications are Great!")])]),
            "targetPolicy": .object(["platformTypes": .array([.string("windows"), .string("ios"), .string("android")])]),
            "priority": .string("High"),
            "groupName": .string("TestGroup"),
            "displayTimeToLive": .string("60"),
        ]))
        guard case .object(let answer)? = parse(Self.graphAnswer) else {
            Issue.record("Graph's answer did not parse as an object")
            return
        }
        #expect(answer["displayTimeToLive"] == .integer(59))
        #expect(answer["@odata.context"] == .string("https://graph.microsoft.com/beta/$metadata#users('graphnotify%40contoso.com')/notifications/$entity"))
    }

    @Test("Agrees with JSONDecoder on every document both accept")
    func agreesWithDecoder() throws {
        var random = SplitMix64(seed: 0x5EED_0001)
        for body in [Self.notifyExample, Self.graphExample, Self.graphAnswer] {
            let decoded = try JSONDecoder().decode(DecodedJSON.self, from: Data(body.utf8)).value
            #expect(parse(body) == decoded)
        }
        for _ in 0..<500 {
            let value = randomValue(&random, depth: 0)
            let text = value.text
            let decoded = try JSONDecoder().decode(DecodedJSON.self, from: Data(text.utf8)).value
            #expect(parse(text) == decoded, "\(text)")
        }
    }

    // MARK: Round trips

    @Test("text parses back to the same value", arguments: [
        JSONValue.null, .bool(false), .integer(.min), .integer(.max), .number(3.5), .number(-1e-7), .number(1e300),
        .number(1.2345678901234568e29), .string(""), .string("\"\\/\u{8}\u{C}\n\r\t\u{0}\u{1F}\u{7F} é 😀"),
        .array([]), .object([:]), .object(["b": .array([.integer(1), .null]), "a": .object(["": .string("x")])]),
    ])
    func roundTrip(value: JSONValue) {
        #expect(parse(value.text) == value)
    }

    @Test("text is compact, sorts keys, and escapes only what JSON requires")
    func exactText() {
        let value = JSONValue.object([
            "b": .array([.integer(1), .null, .bool(true)]), "a": .string("q\"b\\s\n\u{1}é/"),
        ])
        #expect(value.text == #"{"a":"q\"b\\s\n\u0001é/","b":[1,null,true]}"#)
    }

    @Test("Random values survive text and parse")
    func randomRoundTrips() {
        var random = SplitMix64(seed: 0x5EED_0002)
        for _ in 0..<2_000 {
            let value = randomValue(&random, depth: 0)
            #expect(parse(value.text) == value, "\(value.text)")
        }
    }

    // MARK: Hostile input

    @Test("Mutated and random bytes never crash, and what parses round-trips")
    func fuzz() {
        var random = SplitMix64(seed: 0x5EED_0003)
        let seeds = [Self.notifyExample, Self.graphExample, Self.graphAnswer, #"{"s":"\ud83d\ude00\u00e9\n","n":[-1.5e-3,0,1e2,9223372036854775808]}"#]
            .map { Array($0.utf8) }
        let alphabet = Array(#"{}[]:,"\\ u0123456789abcdefABCDEF-+.eEtrunlsfx"#.utf8) + [0x00, 0x1F, 0x7F, 0x80, 0xBF, 0xC3, 0xED, 0xF0, 0xFF]
        var parsed = 0
        for round in 0..<20_000 {
            var bytes: [UInt8]
            if round % 4 == 3 {
                let count = Int(random.next() % 40)
                bytes = (0..<count).map { _ in alphabet[Int(random.next() % UInt64(alphabet.count))] }
            } else {
                bytes = seeds[Int(random.next() % UInt64(seeds.count))]
                for _ in 0..<(1 + Int(random.next() % 4)) {
                    mutate(&bytes, alphabet: alphabet, random: &random)
                }
            }
            guard let value = parse(bytes: bytes) else { continue }
            parsed += 1
            #expect(parse(value.text) == value, "\(bytes)")
        }
        // Some mutations (inside a string, say) keep the body valid: the
        // round trip above must have had something to check.
        #expect(parsed > 100)
    }

    private func mutate(_ bytes: inout [UInt8], alphabet: [UInt8], random: inout SplitMix64) {
        let position = bytes.isEmpty ? 0 : Int(random.next() % UInt64(bytes.count))
        switch random.next() % 5 {
        case 0 where !bytes.isEmpty: bytes[position] = alphabet[Int(random.next() % UInt64(alphabet.count))]
        case 1: bytes.insert(alphabet[Int(random.next() % UInt64(alphabet.count))], at: position)
        case 2 where !bytes.isEmpty: bytes.remove(at: position)
        case 3: bytes.removeSubrange(position...)
        default: if !bytes.isEmpty { bytes[position] ^= UInt8(truncatingIfNeeded: 1 << (random.next() % 8)) }
        }
    }

    private func randomValue(_ random: inout SplitMix64, depth: Int) -> JSONValue {
        switch random.next() % (depth < 4 ? 9 : 6) {
        case 0: return .null
        case 1: return .bool(random.next() % 2 == 0)
        case 2: return .integer(Int64(bitPattern: random.next()) >> (random.next() % 64))
        case 3:
            let double = Double(Int64(bitPattern: random.next()) >> 12) / Double(1 << (random.next() % 40))
            return double.rounded() == double ? .number(0.5) : .number(double)
        case 4, 5:
            let scalars: [Unicode.Scalar] = ["a", "Z", " ", "\"", "\\", "/", "\n", "\u{0}", "\u{1F}", "\u{7F}", "é", "€", "😀", "\u{FFFF}"]
            var string = ""
            for _ in 0..<(random.next() % 8) { string.unicodeScalars.append(scalars[Int(random.next() % UInt64(scalars.count))]) }
            return .string(string)
        case 6, 7:
            return .array((0..<(random.next() % 4)).map { _ in randomValue(&random, depth: depth + 1) })
        default:
            var members: [String: JSONValue] = [:]
            for index in 0..<(random.next() % 4) { members["k\(index)\(random.next() % 3)"] = randomValue(&random, depth: depth + 1) }
            return .object(members)
        }
    }
}

/// A small deterministic generator, so a failing round is the same on every run.
private struct SplitMix64: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) {
        state = seed
    }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}


/// JSONDecoder's reading of a document, the independent oracle the reader is
/// held to (production code reads JSON only through ``JSONValue/parse(_:)``).
struct DecodedJSON: Decodable {
    let value: JSONValue

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() {
            value = .null
        } else if let bool = try? container.decode(Bool.self) {
            value = .bool(bool)
        } else if let integer = try? container.decode(Int64.self) {
            value = .integer(integer)
        } else if let number = try? container.decode(Double.self) {
            value = .number(number)
        } else if let string = try? container.decode(String.self) {
            value = .string(string)
        } else if let array = try? container.decode([DecodedJSON].self) {
            value = .array(array.map(\.value))
        } else {
            value = .object(try container.decode([String: DecodedJSON].self).mapValues(\.value))
        }
    }
}
