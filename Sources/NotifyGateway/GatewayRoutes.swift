/// Every path the gateway serves, with its methods: the one list the
/// responder dispatches on and the test compares with docs/openapi.yaml.
public enum GatewayRoutes {
    /// What a route does.
    public enum Endpoint: Sendable, Hashable {
        /// SelfCommunity's Create Custom notification → Notify.
        case notify
        /// SelfCommunity's list of the caller's notifications, newest first
        /// → List (before_sequence, source notify), then one MarkRead up to.
        case selfCommunityList
        /// SelfCommunity's mark read `{"sids": [...]}` → MarkRead by ids.
        case selfCommunityRead
        /// SelfCommunity's unseen count → UnseenCount (source notify).
        case selfCommunityUnseen
        /// Graph's collection: POST is Create and send a notification →
        /// SendNotification; GET lists the caller's Graph notifications → List.
        /// The prefix ("", "/beta" or "/v1.0") is kept for Location and @odata.context.
        case sendNotification(prefix: String)
        /// One Graph notification, `{prefix}/me/notifications/{id}`: GET → Get,
        /// PATCH → SetActionState, DELETE → Delete.
        case graphEntry(prefix: String)
        /// A user's feed as server-sent events → FeedService/Watch.
        case feedEvents
        /// A stream ticket for a browser's EventSource → FeedService/CreateStreamTicket.
        case streamTicket
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
        for (path, endpoint, method) in [
            ("/api/v2/notification/", Endpoint.selfCommunityList, "GET"), ("/api/v2/notification/read/", .selfCommunityRead, "POST"),
            ("/api/v2/notification/unseen/count/", .selfCommunityUnseen, "GET"),
        ] {
            routes.append(Route(path: path, endpoint: endpoint, methods: [method]))
            routes.append(Route(path: String(path.dropLast()), endpoint: endpoint, methods: [method]))
        }
        for prefix in ["", "/beta", "/v1.0"] {
            for path in ["\(prefix)/me/notifications/", "\(prefix)/me/notifications"] {
                routes.append(Route(path: path, endpoint: .sendNotification(prefix: prefix), methods: ["GET", "POST"]))
            }
            // A notification id is a UUID: any other segment but "stream" names none (404 from the service).
            for path in ["\(prefix)/me/notifications/{id}", "\(prefix)/me/notifications/{id}/"] {
                routes.append(Route(path: path, endpoint: .graphEntry(prefix: prefix), methods: ["GET", "PATCH", "DELETE"]))
            }
            // Subscription ids are UUIDs: "stream" can never name one.
            for path in ["\(prefix)/me/notifications/stream", "\(prefix)/me/notifications/stream/"] {
                routes.append(Route(path: path, endpoint: .notificationStream, methods: ["GET"]))
            }
        }
        routes.append(Route(path: "/feed/events", endpoint: .feedEvents, methods: ["GET"]))
        routes.append(Route(path: "/feed/tickets", endpoint: .streamTicket, methods: ["POST"]))
        routes.append(Route(path: "/healthz", endpoint: .healthz, methods: ["GET"]))
        routes.append(Route(path: "/readyz", endpoint: .readyz, methods: ["GET"]))
        routes.append(Route(path: "/openapi.yaml", endpoint: .openAPI, methods: ["GET"]))
        return routes
    }()

    /// Keyed by `Substring`, so that a request's path, a slice of its URI,
    /// is looked up without being copied into a `String` first.
    private static let byPath: [Substring: Route] = Dictionary(uniqueKeysWithValues: all.map { ($0.path[...], $0) })

    /// The route of a request path (without its query): its own, or
    /// `{prefix}/me/notifications/{id}` for one segment after the collection.
    static func route(for path: Substring) -> Route? {
        if let route = byPath[path] { return route }
        guard let (prefix, _, slash) = entryPath(path) else { return nil }
        return byPath["\(prefix)/me/notifications/{id}\(slash ? "/" : "")"]
    }

    /// The prefix, id and trailing slash of `{prefix}/me/notifications/{id}[/]`,
    /// or nil for another path. The id is one non-empty segment, not yet checked.
    static func entryPath(_ path: Substring) -> (prefix: String, id: Substring, slash: Bool)? {
        for prefix in ["/beta", "/v1.0", ""] {
            let collection = "\(prefix)/me/notifications/"
            guard path.hasPrefix(collection) else { continue }
            var id = path.dropFirst(collection.utf8.count)
            let slash = id.hasSuffix("/")
            if slash { id = id.dropLast() }
            guard !id.isEmpty, !id.contains("/") else { return nil }
            return (prefix, id, slash)
        }
        return nil
    }

    /// Whose error body answers a request for `path`: its route's contract;
    /// for a path no route serves, SelfCommunity's under `/api/v2/` (that
    /// prefix is SelfCommunity's API, whose clients parse `{"errors": [...]}`
    /// whatever went wrong) and the gateway's anywhere else.
    static func contract(for path: Substring) -> Contract {
        if let route = route(for: path) { return route.endpoint.contract }
        return path == "/api/v2" || path.hasPrefix("/api/v2/") ? .selfCommunity : .gateway
    }
}

extension GatewayRoutes.Endpoint {
    /// Whose error body this route answers with.
    var contract: Contract {
        switch self {
        case .notify, .selfCommunityList, .selfCommunityRead, .selfCommunityUnseen: .selfCommunity
        case .sendNotification, .graphEntry, .notificationStream: .graph
        case .feedEvents, .streamTicket, .healthz, .readyz, .openAPI: .gateway
        }
    }
}
