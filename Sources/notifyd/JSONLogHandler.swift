import Foundation
import Logging

/// A swift-log handler that writes one JSON object per line to standard
/// error, for log collectors that parse JSON (`--log-format json`).
///
/// Each line has `time` (RFC 3339, UTC, milliseconds), `level`, `label`,
/// `message` and `metadata` (an object: the handler's metadata, then the
/// line's; values as strings, lists as arrays, dictionaries as objects).
/// The line is written with one `write` so that lines from several threads
/// never interleave. What is logged is chosen by the callers, who never log
/// a token, a password or a message body (STYLE.md, "Logging").
struct JSONLogHandler: LogHandler {
    let label: String
    var logLevel: Logger.Level = .info
    var metadata: Logger.Metadata = [:]
    var metadataProvider: Logger.MetadataProvider?
    /// Where each line goes (standard error; tests capture it).
    private let write: @Sendable (String) -> Void

    init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.standardError) {
        self.label = label
        self.write = write
    }

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        write(Self.line(time: Date(), level: event.level, label: label, message: event.message.description, metadata: merged))
    }

    /// One log line: a JSON object and a newline.
    static func line(time: Date, level: Logger.Level, label: String, message: String, metadata: Logger.Metadata) -> String {
        var out = "{\"time\":"
        string(rfc3339(time), into: &out)
        out += ",\"level\":"
        string(level.rawValue, into: &out)
        out += ",\"label\":"
        string(label, into: &out)
        out += ",\"message\":"
        string(message, into: &out)
        out += ",\"metadata\":"
        object(metadata, into: &out)
        out += "}\n"
        return out
    }

    /// `2026-12-07T01:02:03.456Z`.
    static func rfc3339(_ date: Date) -> String {
        let milliseconds = Int64((date.timeIntervalSince1970 * 1000).rounded(.down))
        var seconds = time_t(milliseconds >= 0 ? milliseconds / 1000 : (milliseconds - 999) / 1000)
        let fraction = Int(milliseconds - Int64(seconds) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        func pad(_ value: Int32, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(parts.tm_year + 1900, 4))-\(pad(parts.tm_mon + 1, 2))-\(pad(parts.tm_mday, 2))T"
            + "\(pad(parts.tm_hour, 2)):\(pad(parts.tm_min, 2)):\(pad(parts.tm_sec, 2)).\(pad(Int32(fraction), 3))Z"
    }

    private static func object(_ metadata: Logger.Metadata, into out: inout String) {
        out += "{"
        var first = true
        for key in metadata.keys.sorted() {
            guard let value = metadata[key] else { continue }
            if !first { out += "," }
            first = false
            string(key, into: &out)
            out += ":"
            self.value(value, into: &out)
        }
        out += "}"
    }

    private static func value(_ value: Logger.Metadata.Value, into out: inout String) {
        switch value {
        case .string(let text): string(text, into: &out)
        case .stringConvertible(let convertible): string(convertible.description, into: &out)
        case .array(let values):
            out += "["
            for (index, element) in values.enumerated() {
                if index > 0 { out += "," }
                self.value(element, into: &out)
            }
            out += "]"
        case .dictionary(let dictionary): object(dictionary, into: &out)
        }
    }

    /// A JSON string: quotes, backslashes and control characters escaped.
    private static func string(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }

    /// Writes the line to standard error in one `write`.
    @Sendable static func standardError(_ line: String) {
        FileHandle.standardError.write(Data(line.utf8))
    }
}
