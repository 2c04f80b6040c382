/// An immutable snapshot of the configuration with a route per model; requests keep the snapshot they started
/// with, and a reload swaps in a new one.
public final class RoutingTable: Sendable {
    public let config: GatewayConfig
    private let routes: [String: ModelRoute]

    public init(config: GatewayConfig) {
        self.config = config
        var routes: [String: ModelRoute] = [:]
        for model in config.models {
            routes[model.name] = ModelRoute(model)
        }
        self.routes = routes
    }

    public func route(for model: String) -> ModelRoute? {
        routes[model]
    }
}
