import Foundation
import NotifyDomain

/// The RFC 3339 parsers of SendNotification's `expirationDateTime` and of the
/// messages' date-times.
enum TimestampTarget {
    /// 0001-01-01T00:00:00Z and 9999-12-31T00:00:00Z: inside, the formatters'
    /// output has four-digit years and so must parse again.
    static let earliest = Date(timeIntervalSince1970: -62_135_596_800)
    static let latest = Date(timeIntervalSince1970: 253_402_214_400)

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let date = Timestamps.parseRFC3339(text) {
            let formatted = Timestamps.formatRFC3339(date)
            if date > earliest && date < latest {
                FuzzCheck.require(Timestamps.parseRFC3339(formatted) != nil, "formatRFC3339 wrote what parseRFC3339 refuses")
            }
        }
        if let date = Timestamps.parseRFC3339Milliseconds(text) {
            let formatted = Timestamps.formatRFC3339Milliseconds(date)
            if date > earliest && date < latest {
                FuzzCheck.require(
                    Timestamps.parseRFC3339Milliseconds(formatted) == date,
                    "a millisecond date-time changed through format and parse"
                )
            }
        }
    }
}
