import Foundation
import Synchronization

/// State of one (model, provider) that outlives config snapshots: its usage counter and its cooldown.
public final class ProviderState: Sendable {
    public struct Cooldown: Sendable, Equatable {
        public var until: Date
        /// The upstream status that caused it.
        public var status: Int
    }

    public let key: ProviderKey
    public let usage: UsageCounter
    private let cooldownState = Mutex<Cooldown?>(nil)

    public init(key: ProviderKey, usage: UsageCounter) {
        self.key = key
        self.usage = usage
    }

    /// Skips the provider until `until` (an earlier end never shortens a longer cooldown).
    public func coolDown(until: Date, status: Int) {
        cooldownState.withLock { cooldown in
            if let existing = cooldown, existing.until > until { return }
            cooldown = Cooldown(until: until, status: status)
        }
    }

    /// The active cooldown, if any.
    public func cooldown(now: Date) -> Cooldown? {
        cooldownState.withLock { cooldown in
            guard let active = cooldown else { return nil }
            if active.until <= now {
                cooldown = nil
                return nil
            }
            return active
        }
    }
}

/// All provider states by key; a reload keeps the states of providers that still exist.
public final class ProviderStates: Sendable {
    private let states = Mutex<[ProviderKey: ProviderState]>([:])

    public init() {}

    /// The states for every provider in `config`: existing ones are kept, new ones made by `makeCounter`.
    /// Returns them with the states of providers no longer configured (which are dropped).
    public func adopt(_ config: GatewayConfig, makeCounter: (ProviderKey) -> UsageCounter)
        -> (current: [ProviderKey: ProviderState], removed: [ProviderState])
    {
        states.withLock { states in
            var current: [ProviderKey: ProviderState] = [:]
            for model in config.models {
                for provider in model.providers {
                    let key = ProviderKey(model: model.name, provider: provider.name)
                    current[key] = states[key] ?? ProviderState(key: key, usage: makeCounter(key))
                }
            }
            let removed = states.filter { current[$0.key] == nil }.map(\.value)
            states = current
            return (current, removed)
        }
    }

    public var all: [ProviderState] {
        states.withLock { Array($0.values) }
    }
}
