/// Every path the gateway serves, with its methods: the one list the
/// responder dispatches on and the test compares with docs/openapi.yaml.
public enum GatewayRoutes {
    /// What a route does.
    public enum Endpoint: Sendable, Hashable {
        /// SelfCommunity's Create Custom notification → Notify.
        case notify
        /// Graph's Create and send a notification → SendNotification. The
        /// prefix ("", "/beta" or "/v1.0") is kept for Location and @odata.context.
        case sendNotification(prefix: String)
        /// A user's feed as server-sent events → FeedService/Watch.
        case feedEvents
        /// One device endpoint's feed (the X-UNS-ID's subscription) as
        /// server-sent events → FeedService/Watch by subscription.
        case notificationStream
        case healthz
        case readyz
        case openAPI
    }

    /// One path and what it serves.
    public struct Route: Sendable, Hashable {
        public let path: String
        public let endpoint: Endpoint
        /// The methods it answers; others get 405 with these in Allow.
        public let methods: [String]
    }

    /// Both documented endpoints under every spelling the issue names, and
    /// the gateway's own routes.
    public static let all: [Route] = {
        var routes: [Route] = []
        for path in ["/api/v2/notification/notify/", "/api/v2/notification/notify"] {
            routes.append(Route(path: path, endpoint: .notify, methods: ["POST"]))
        }
        for prefix in ["", "/beta", "/v1.0"] {
            for path in ["\(prefix)/me/notifications/", "\(prefix)/me/notifications"] {
                routes.append(Route(path: path, endpoint: .sendNotification(prefix: prefix), methods: ["POST"]))
            }
            // Subscription ids are UUIDs: "stream" can never name one.
            for path in ["\(prefix)/me/notifications/stream", "\(prefix)/me/notifications/stream/"] {
                routes.append(Route(path: path, endpoint: .notificationStream, methods: ["GET"]))
            }
        }
        routes.append(Route(path: "/feed/events", endpoint: .feedEvents, methods: ["GET"]))
        routes.append(Route(path: "/healthz", endpoint: .healthz, methods: ["GET"]))
        routes.append(Route(path: "/readyz", endpoint: .readyz, methods: ["GET"]))
        routes.append(Route(path: "/openapi.yaml", endpoint: .openAPI, methods: ["GET"]))
        return routes
    }()

    /// Keyed by `Substring`, so that a request's path, a slice of its URI,
    /// is looked up without being copied into a `String` first.
    private static let byPath: [Substring: Route] = Dictionary(uniqueKeysWithValues: all.map { ($0.path[...], $0) })

    /// The route of a request path (without its query).
    static func route(for path: Substring) -> Route? {
        byPath[path]
    }

    /// Whose error body answers a request for `path`: its route's contract;
    /// for a path no route serves, SelfCommunity's under `/api/v2/` (that
    /// prefix is SelfCommunity's API, whose clients parse `{"errors": [...]}`
    /// whatever went wrong) and the gateway's anywhere else.
    static func contract(for path: Substring) -> Contract {
        if let route = byPath[path] { return route.endpoint.contract }
        return path == "/api/v2" || path.hasPrefix("/api/v2/") ? .selfCommunity : .gateway
    }
}

extension GatewayRoutes.Endpoint {
    /// Whose error body this route answers with.
    var contract: Contract {
        switch self {
        case .notify: .selfCommunity
        case .sendNotification, .notificationStream: .graph
        case .feedEvents, .healthz, .readyz, .openAPI: .gateway
        }
    }
}
