import Foundation

/// Lower-case UUID strings, as Graph writes ids and request ids.
///
/// Made from a `RandomNumberGenerator` rather than Foundation's `UUID()`,
/// which on Linux opens and reads `/dev/urandom` each time: that showed as
/// 4 % of the server's CPU when every call got a request id. The server's
/// per-call ids pass a user-space generator (NotifyCrypto's
/// `RandomPool.Generator`); the default makes system calls.
public enum UUIDText {
    /// A version 4 UUID (RFC 9562 §5.4): 122 random bits.
    public static func random() -> String {
        var generator = SystemRandomNumberGenerator()
        return random(using: &generator)
    }

    public static func random(using generator: inout some RandomNumberGenerator) -> String {
        let high = (generator.next() & 0xFFFF_FFFF_FFFF_0FFF) | 0x4000
        return format(high: high, low: variant(generator.next()))
    }

    /// A version 7 UUID (RFC 9562 §5.7): 48 bits of Unix milliseconds, then 74 random bits.
    ///
    /// Notification ids are time-ordered so that each new one lands at the end
    /// of the store's unique index on `id`: random ids put every append of a
    /// group-committed batch on a page of its own, and each such page is one
    /// more 4 KiB write to the WAL. Within a millisecond the order is random,
    /// which the index does not mind; callers must not read meaning into it.
    public static func timeOrdered(now: Timestamp = .now()) -> String {
        var generator = SystemRandomNumberGenerator()
        return timeOrdered(now: now, using: &generator)
    }

    public static func timeOrdered(now: Timestamp = .now(), using generator: inout some RandomNumberGenerator) -> String {
        let milliseconds = UInt64(max(0, now.millisecondsSince1970)) & 0xFFFF_FFFF_FFFF
        let high = (milliseconds << 16) | 0x7000 | (generator.next() & 0x0FFF)
        return format(high: high, low: variant(generator.next()))
    }

    /// The low 64 bits with RFC 9562's variant (`10`) in their top two bits.
    private static func variant(_ random: UInt64) -> UInt64 {
        (random & 0x3FFF_FFFF_FFFF_FFFF) | 0x8000_0000_0000_0000
    }

    /// `8-4-4-4-12` lower-case hex of the 128 bits `high` then `low`.
    static func format(high: UInt64, low: UInt64) -> String {
        let digits: StaticString = "0123456789abcdef"
        return String(unsafeUninitializedCapacity: 36) { buffer in
            digits.withUTF8Buffer { hex in
                var index = 0
                func put(_ value: UInt64, nibbles: Int) {
                    for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                        buffer[index] = hex[Int((value >> UInt64(shift)) & 0xF)]
                        index += 1
                    }
                }
                func dash() {
                    buffer[index] = UInt8(ascii: "-")
                    index += 1
                }
                put(high >> 32, nibbles: 8)
                dash()
                put((high >> 16) & 0xFFFF, nibbles: 4)
                dash()
                put(high & 0xFFFF, nibbles: 4)
                dash()
                put(low >> 48, nibbles: 4)
                dash()
                put(low & 0xFFFF_FFFF_FFFF, nibbles: 12)
            }
            return 36
        }
    }
}
