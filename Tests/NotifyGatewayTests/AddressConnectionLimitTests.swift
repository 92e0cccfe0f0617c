import NIOCore
@testable import NotifyGateway
import Testing

@Suite("AddressConnectionLimit: counts per IPv4 address and per IPv6 /64, and forgets an address with nothing open")
struct AddressConnectionLimitTests {
    private func address(_ ip: String) throws -> SocketAddress {
        try SocketAddress(ipAddress: ip, port: 1234)
    }

    @Test("an IPv6 /64 is one client; an IPv4-mapped address is its IPv4 address; ports do not matter")
    func keys() throws {
        typealias Key = AddressConnectionLimit.Key
        #expect(Key(try address("2001:db8:1:2::1")) == Key(try address("2001:db8:1:2:ffff::9")))
        #expect(Key(try address("2001:db8:1:2::1")) != Key(try address("2001:db8:1:3::1")))
        #expect(Key(try address("::ffff:192.0.2.7")) == Key(try address("192.0.2.7")))
        #expect(Key(try address("192.0.2.7")) != Key(try address("192.0.2.8")))
        #expect(Key(try SocketAddress(ipAddress: "192.0.2.7", port: 1)) == Key(try SocketAddress(ipAddress: "192.0.2.7", port: 2)))
        // ::/64 (the IPv6 loopback's) is not 0.0.0.0.
        #expect(Key(try address("::1")) != Key(try address("0.0.0.0")))
    }

    @Test("an address at the limit is refused until one of its connections closes; other addresses are not affected")
    func counts() throws {
        let limit = AddressConnectionLimit(limit: 2)
        let a = try address("192.0.2.1")
        let first = try #require(limit.admit(a))
        _ = try #require(limit.admit(a))
        #expect(limit.admit(a) == nil)
        #expect(limit.admit(try address("192.0.2.2")) != nil)
        limit.release(first)
        #expect(limit.admit(a) != nil)
        #expect(limit.admit(a) == nil)
    }
}
