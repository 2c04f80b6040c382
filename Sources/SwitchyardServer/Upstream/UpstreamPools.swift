import NIOCore
import NIOConcurrencyHelpers

/// One `UpstreamConnectionPool` per event loop. The loops of the server's group get theirs up front, so finding a
/// request's pool takes no lock; a loop of another group (a test's) gets one on first use.
final class UpstreamPools: Sendable {
    let group: any EventLoopGroup
    /// The outbound proxies' health, shared by every loop's pool.
    let proxies: OutboundProxies
    private let tls = UpstreamTLS()
    private let settings: @Sendable () -> UpstreamConnectionPool.Settings
    private let pools: [ObjectIdentifier: UpstreamConnectionPool]
    private let otherPools = NIOLockedValueBox<[ObjectIdentifier: UpstreamConnectionPool]>([:])

    init(
        group: any EventLoopGroup, proxies: OutboundProxies,
        settings: @escaping @Sendable () -> UpstreamConnectionPool.Settings
    ) {
        self.group = group
        self.proxies = proxies
        self.settings = settings
        var pools: [ObjectIdentifier: UpstreamConnectionPool] = [:]
        for eventLoop in group.makeIterator() {
            pools[ObjectIdentifier(eventLoop)] = UpstreamConnectionPool(eventLoop: eventLoop, tls: tls, proxies: proxies, settings: settings)
        }
        self.pools = pools
    }

    func pool(for eventLoop: any EventLoop) -> UpstreamConnectionPool {
        if let pool = pools[ObjectIdentifier(eventLoop)] { return pool }
        return otherPools.withLockedValue { others in
            if let pool = others[ObjectIdentifier(eventLoop)] { return pool }
            let pool = UpstreamConnectionPool(eventLoop: eventLoop, tls: tls, proxies: proxies, settings: settings)
            others[ObjectIdentifier(eventLoop)] = pool
            return pool
        }
    }

    /// Stops every pool on its own loop.
    func shutdown() async {
        let all = Array(pools.values) + otherPools.withLockedValue { Array($0.values) }
        for pool in all {
            try? await pool.eventLoop.submit { pool.shutdown() }.get()
        }
    }
}
