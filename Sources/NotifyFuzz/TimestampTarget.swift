import NotifyDomain

/// The RFC 3339 parser of SendNotification's `expirationDateTime` and of the
/// messages' date-times, and the one formatter.
enum TimestampTarget {
    /// 0001-01-01T00:00:00Z and 9999-12-31T00:00:00Z: inside, the formatter's
    /// output has four-digit years and so must parse again.
    static let earliest = Timestamp(secondsSince1970: -62_135_596_800)
    static let latest = Timestamp(secondsSince1970: 253_402_214_400)

    static func run(_ bytes: UnsafeRawBufferPointer) {
        let text = String(decoding: bytes, as: UTF8.self)
        if let time = Timestamp(rfc3339: text) {
            let formatted = time.rfc3339
            if time > earliest && time < latest {
                FuzzCheck.require(
                    Timestamp(rfc3339: formatted) == time.truncatedToMilliseconds,
                    "a date-time changed through format and parse beyond its milliseconds"
                )
            }
        }
    }
}
