import NotifyCore
import NotifyDomain
public import NotifyStorage

/// Builds the router of every RPC the service answers.
public enum NotifyService {
    /// - Parameters:
    ///   - store: where notifications, users, subscriptions and tokens live;
    ///     each service gets the narrower protocol it needs.
    ///   - configuration: the server's configuration (community mode, rate limit).
    ///   - health: what `/notify.v1.Health/Check` reports.
    public static func router(
        store: some NotificationLog & Directory, configuration: ServerConfiguration, health: HealthState
    ) -> RPCRouter {
        var router = RPCRouter(metrics: configuration.metrics)
        let lookups = CachedLookups(
            store: store, log: store, lifetime: configuration.lookupCacheLifetime,
            heardLifetime: configuration.heardLookupCacheLifetime, background: router.background)
        // Changes other instances make: evicted here at once, while the server serves.
        router.background.whileRunning { await lookups.followDirectoryChanges() }
        let guardrail = CallerGuard(
            lookups: lookups,
            authenticator: Authenticator(lookups: lookups),
            rateLimiter: RateLimiter(limits: configuration.rateLimits),
            authFailures: AuthFailureLimiter(limit: configuration.authFailureLimit)
        )
        HealthService.register(into: &router, state: health, store: store)
        NotificationService(
            store: store, guardrail: guardrail, communityMode: configuration.communityMode, random: RandomPool()
        )
            .register(into: &router)
        FeedService(store: store, tickets: store, guardrail: guardrail, metrics: configuration.metrics).register(into: &router)
        AdminService(store: store, guardrail: guardrail).register(into: &router)
        return router
    }
}
