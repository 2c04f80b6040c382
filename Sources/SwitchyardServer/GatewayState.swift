import Foundation
import Synchronization
import SwitchyardCore

/// The live state shared by all requests: the current routing snapshot, which a reload replaces as a whole,
/// and the per-provider state that outlives snapshots (cooldowns).
final class GatewayState: Sendable {
    private let current: Mutex<RoutingTable>
    let cooldowns = ProviderCooldowns()
    let configFile: String

    init(config: GatewayConfig, configFile: String) {
        current = Mutex(RoutingTable(config: config))
        self.configFile = configFile
    }

    /// The snapshot a request should use from start to finish.
    var table: RoutingTable {
        current.withLock { $0 }
    }

    func replace(with config: GatewayConfig) {
        let table = RoutingTable(config: config)
        current.withLock { $0 = table }
    }

    /// Whether `provider` of `model` may be tried now.
    func availability(of provider: ProviderConfig, model: String, now: Date) -> ProviderAvailability {
        let key = ProviderKey(model: model, provider: provider.name)
        if let cooldown = cooldowns.cooldown(for: key, now: now) {
            return .coolingDown(until: cooldown.until)
        }
        return .available
    }
}
