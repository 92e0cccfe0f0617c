import HTTPTypes
import NIOCore

/// A whole request, as the endpoints see it: the connection reads the body
/// to its end, within the size limit, before an endpoint runs.
struct GatewayRequest: Sendable {
    var head: HTTPRequest
    var body: ByteBuffer

    var headers: HTTPFields { head.headerFields }

    /// The path without its query.
    var path: Substring {
        let target = head.path ?? "/"
        return target.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
    }
}

/// A whole answer: status, headers and body, written by the connection.
struct GatewayResponse: Sendable {
    var status: HTTPResponse.Status
    var headers: HTTPFields
    var body: ByteBuffer?

    /// Oversized or slow bodies are answered with `Connection: close`, so that
    /// the rest of the body is never read.
    var closesConnection: Bool {
        headers[.connection]?.lowercased() == "close"
    }
}
