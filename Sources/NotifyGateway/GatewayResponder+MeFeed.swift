import NotifyCore
import NotifyDomain

/// What the `/me` feed routes (Graph's list and entries, SelfCommunity's
/// list, read and unseen count) share: the caller's own feed, their query,
/// their links.
///
/// These routes make one to three calls each (a list and its mark read; a
/// get before a change, so that another view's entry is never touched), so
/// each runs in a task of its own rather than on the event loop.
extension GatewayResponder {
    /// Runs `body` in a task and hands its result to `outcome`.
    func inTask(
        _ outcome: @escaping Outcome, _ body: @escaping @Sendable () async -> Result<GatewayResponse, Failure>
    ) {
        if !tasks.run({ outcome(await body()) }) { outcome(.failure(Self.stopping)) }
    }

    /// The failure of a call the gateway made for `/me`, naming no user: a
    /// refusal that names `user` means the token has no feed of its own (an
    /// application's, an administrator's): 403 in the route's shape.
    static func meFailure(_ error: RPCError) -> Failure {
        if error.code == .invalidArgument, error.reason == .invalidFields,
            error.fieldViolations.contains(where: { $0.field == "user" })
        {
            return .noOwnFeed
        }
        return .rpc(error)
    }

    /// `scheme://host` + the request's own path + `?query`: the absolute
    /// links of a list (`next`, `previous`, `@odata.nextLink`), on the
    /// spelling of the path the client used.
    func link(_ request: GatewayRequest, query: String) -> String {
        "\(baseURL(request, prefix: ""))\(request.path)?\(query)"
    }
}

/// A request's query parameters, percent-decoded (Graph's SDKs send
/// `%24top` for `$top`), in order.
enum RequestQuery {
    static func parameters(_ uri: String) -> [(name: String, value: String)] {
        guard let mark = uri.firstIndex(of: "?") else { return [] }
        return uri[uri.index(after: mark)...].split(separator: "&").map { pair in
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            return (decode(parts[0]), parts.count > 1 ? decode(parts[1]) : "")
        }
    }

    /// `+` as a space and `%XX` as its byte; a malformed escape stays as it is.
    static func decode(_ text: Substring) -> String {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var utf8 = text.utf8.makeIterator()
        while let byte = utf8.next() {
            switch byte {
            case UInt8(ascii: "+"):
                bytes.append(UInt8(ascii: " "))
            case UInt8(ascii: "%"):
                let high = utf8.next()
                let low = utf8.next()
                if let high, let low, let h = hex(high), let l = hex(low) {
                    bytes.append(h << 4 | l)
                } else {
                    bytes.append(byte)
                    if let high { bytes.append(high) }
                    if let low { bytes.append(low) }
                }
            default:
                bytes.append(byte)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    private static func hex(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// A sequence cursor: digits only, within UInt64.
    static func sequence(_ value: String) -> UInt64? {
        guard !value.isEmpty, value.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return UInt64(value)
    }
}
