import Foundation
import NotifyJSON

/// Checks shared by both validators. Each returns the first problem as a
/// message, or nil when the value is acceptable.
enum FieldChecks {
    static let required = "This field is required."
    static let blank = "This field may not be blank."

    /// Length in Unicode scalars: what SelfCommunity's Python server calls
    /// characters, and stable, unlike grapheme clusters, across Unicode versions.
    static func length(_ text: String) -> Int {
        text.unicodeScalars.count
    }

    static let nul = "Must not contain U+0000 (NUL)."

    /// Whether `text` holds a NUL byte. The RPC protocol's strings are C
    /// strings in protobuf-c: a stored string holding one would reach every
    /// remote reader cut at it. Bytes sent over a connection are refused when
    /// decoded and JSON bodies when read; this catches a message handed over
    /// in-process, which is neither.
    static func holdsNUL(_ text: String) -> Bool {
        var text = text
        return text.withUTF8 { utf8 in utf8.baseAddress.map { memchr($0, 0, utf8.count) != nil } ?? false }
    }

    /// What is wrong with a stored text field, if anything: a NUL byte, or
    /// more than `max` characters.
    static func textProblem(_ text: String, max: Int) -> String? {
        if holdsNUL(text) { return nul }
        // A scalar takes at least one UTF-8 byte: a text no longer than `max`
        // bytes (the byte count is stored) needs no scalar count, which
        // decodes the whole text and was 1 % of an event loop per Notify.
        guard text.utf8.count > max else { return nil }
        return length(text) > max ? "Ensure this field has no more than \(max) characters." : nil
    }

    static func isBlank(_ text: String) -> Bool {
        text.unicodeScalars.allSatisfy(\.properties.isWhitespace)
    }

    /// `text` without leading and trailing white space (Unicode's White_Space:
    /// the set of Foundation's `.whitespacesAndNewlines`), in pure Swift:
    /// Foundation's `trimmingCharacters` bridges through NSString and showed
    /// as 2 % of the server's CPU on every Notify call.
    static func trimmed(_ text: String) -> String {
        let scalars = text.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        if first == scalars.startIndex && last == scalars.index(before: scalars.endIndex) { return text }
        return String(scalars[first...last])
    }

    /// Parses serialized JSON that must be an object.
    ///
    /// - Parameters:
    ///   - text: The serialized JSON.
    ///   - unwrapString: Also accept a JSON string whose content is an object
    ///     (SelfCommunity's own example sends `"metadata": "{}"`), and answer
    ///     that content.
    /// - Returns: The object's text, or nil when `text` is not an object.
    static func jsonObjectText(_ text: String, unwrapString: Bool) -> String? {
        switch JSONValue.parse(text: text, maximumDepth: JSONValue.maximumStoredDepth) {
        case .object?:
            return text
        case .string(let inner)? where unwrapString:
            return jsonObjectText(inner, unwrapString: false)
        default:
            return nil
        }
    }
}
