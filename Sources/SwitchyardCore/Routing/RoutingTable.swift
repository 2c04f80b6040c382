import Foundation

/// An immutable snapshot of the configuration with a route per model; requests keep the snapshot they started
/// with, and a reload swaps in a new one. Provider state (usage, cooldowns) is shared across snapshots.
public final class RoutingTable: Sendable {
    public let config: GatewayConfig
    /// Routes in config order.
    public let routes: [ModelRoute]
    /// Routes by model name and alias.
    private let routesByName: [String: ModelRoute]
    /// Whether any provider has a `max_context_length` (only then is a request's context estimated).
    public let limitsContext: Bool
    /// Wildcard routes, most specific (most literal characters) first, then in config order.
    private let patterns: [(pattern: ModelNamePattern, route: ModelRoute)]

    public init(config: GatewayConfig, states: [ProviderKey: ProviderState] = [:]) {
        self.config = config
        routes = config.models.map { ModelRoute($0, states: states) }
        var byName: [String: ModelRoute] = [:]
        var patterns: [(pattern: ModelNamePattern, route: ModelRoute)] = []
        for (model, route) in zip(config.models, routes) {
            if model.isPattern {
                patterns.append((ModelNamePattern(model.name), route))
            } else if byName[model.name] == nil {
                byName[model.name] = route
            }
            for alias in model.aliases where byName[alias] == nil { byName[alias] = route }
        }
        routesByName = byName
        limitsContext = config.models.contains { $0.providers.contains { $0.maxContextLength != nil } }
        // A stable sort keeps config order among equally specific patterns.
        self.patterns = patterns.enumerated().sorted { left, right in
            left.element.pattern.literalCount != right.element.pattern.literalCount
                ? left.element.pattern.literalCount > right.element.pattern.literalCount : left.offset < right.offset
        }.map(\.element)
    }

    /// The names `/v1/models` lists: every concrete name, or with `hide_unavailable_models` only those whose
    /// model has a provider that can be used now (enabled, not cooling down, circuit not open, quota left).
    public func listedModelNames(now: Date, timeZone: TimeZone) -> [String] {
        let names = config.concreteModelNames
        guard config.global.hideUnavailableModels else { return names }
        return names.filter { name in
            route(for: name)?.tiers.joined().contains { $0.availability(now: now, timeZone: timeZone) == .available } ?? false
        }
    }

    /// The route serving a client's model name: its model or alias of that name, else the most specific
    /// wildcard model that matches it.
    public func route(for model: String) -> ModelRoute? {
        if let route = routesByName[model] { return route }
        return patterns.first { $0.pattern.matches(model) }?.route
    }
}

/// A model name with `*` wildcards, each standing for any run of characters (none included).
public struct ModelNamePattern: Sendable {
    private let parts: [Substring]
    /// Characters that are not wildcards: the more, the more specific.
    public let literalCount: Int

    public init(_ pattern: String) {
        parts = pattern.split(separator: "*", omittingEmptySubsequences: false)
        literalCount = parts.reduce(0) { $0 + $1.count }
    }

    public func matches(_ name: String) -> Bool {
        guard let first = parts.first, let last = parts.last, parts.count > 1 else { return parts.first.map { $0 == name } ?? false }
        guard name.hasPrefix(first), name.count >= literalCount else { return false }
        var rest = name.dropFirst(first.count)
        for part in parts.dropFirst().dropLast() where !part.isEmpty {
            guard let found = rest.firstRange(of: part) else { return false }
            rest = rest[found.upperBound...]
        }
        return rest.hasSuffix(last)
    }
}
