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
        if let time = Timestamp(rfc3339: text), time > earliest, time < latest {
            // What the service keeps (whole milliseconds) prints and parses back exactly.
            let kept = time.truncatedToMilliseconds
            FuzzCheck.require(
                Timestamp(rfc3339: kept.rfc3339) == kept,
                "a whole-millisecond date-time changed through format and parse"
            )
            // A finer time (data from an earlier release) prints rounded to
            // the nearest millisecond: never further than half of one.
            if let printed = Timestamp(rfc3339: time.rfc3339) {
                let off = printed.microsecondsSince1970 - time.microsecondsSince1970
                FuzzCheck.require(off >= -500 && off <= 500, "a date-time printed more than half a millisecond away")
            } else {
                FuzzCheck.require(false, "a printed date-time does not parse")
            }
        }
    }
}
