/// An immutable snapshot of the configuration with a route per model; requests keep the snapshot they started
/// with, and a reload swaps in a new one. Provider state (usage, cooldowns) is shared across snapshots.
public final class RoutingTable: Sendable {
    public let config: GatewayConfig
    /// Routes in config order.
    public let routes: [ModelRoute]
    private let routesByName: [String: ModelRoute]

    public init(config: GatewayConfig, states: [ProviderKey: ProviderState] = [:]) {
        self.config = config
        routes = config.models.map { ModelRoute($0, states: states) }
        routesByName = Dictionary(routes.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    }

    public func route(for model: String) -> ModelRoute? {
        routesByName[model]
    }
}
