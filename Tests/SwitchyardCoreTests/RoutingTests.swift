import Foundation
import Testing
@testable import SwitchyardCore

/// Weighted rotation and priority tiers: the order in which a request tries providers.
@Suite struct SmoothWeightedRoundRobinTests {
    @Test func weights511GiveTheNginxSequence() {
        var rotation = SmoothWeightedRoundRobin(weights: [5, 1, 1])
        let names = ["a", "b", "c"]
        let picks = (0..<14).map { _ in names[rotation.next()!] }
        #expect(picks == ["a", "a", "b", "a", "c", "a", "a", "a", "a", "b", "a", "c", "a", "a"])
    }

    @Test func everyWindowOfSumOfWeightsPicksGivesExactShares() {
        var generator = SeededGenerator(seed: 99)
        for _ in 0..<50 {
            let weights = (0..<Int.random(in: 1...6, using: &generator)).map { _ in Int.random(in: 1...20, using: &generator) }
            var rotation = SmoothWeightedRoundRobin(weights: weights)
            let total = weights.reduce(0, +)
            for window in 0..<3 {
                var counts = Array(repeating: 0, count: weights.count)
                for _ in 0..<total { counts[rotation.next()!] += 1 }
                #expect(counts == weights, "weights \(weights), window \(window)")
            }
        }
    }

    @Test func picksAreInterleavedNotBursts() {
        var rotation = SmoothWeightedRoundRobin(weights: [1, 1, 1])
        #expect((0..<6).map { _ in rotation.next()! } == [0, 1, 2, 0, 1, 2])
        var uneven = SmoothWeightedRoundRobin(weights: [2, 1])
        #expect((0..<6).map { _ in uneven.next()! } == [0, 1, 0, 0, 1, 0])
    }

    @Test func onlyCandidatesArePicked() {
        var rotation = SmoothWeightedRoundRobin(weights: [5, 1, 1])
        for _ in 0..<20 {
            let pick = rotation.next { $0 != 0 }
            #expect(pick == 1 || pick == 2)
        }
        #expect(rotation.next { _ in false } == nil)
        var single = SmoothWeightedRoundRobin(weights: [3])
        #expect(single.next() == 0)
        #expect(single.next() == 0)
    }

    @Test func sharesAmongCandidatesFollowTheirWeights() {
        var rotation = SmoothWeightedRoundRobin(weights: [9, 3, 1])
        var counts = [0, 0, 0]
        for _ in 0..<(4 * 100) { counts[rotation.next { $0 != 0 }!] += 1 }
        #expect(counts == [0, 300, 100])
    }
}

@Suite struct ModelRouteTests {
    func provider(_ name: String, priority: Int = 1, weight: Int = 10, enabled: Bool = true) -> ProviderConfig {
        var provider = ProviderConfig(name: name)
        provider.endpoint = "https://\(name).example/v1"
        provider.model = "m"
        provider.priority = priority
        provider.weight = weight
        provider.enabled = enabled
        return provider
    }

    func route(_ providers: ProviderConfig...) -> ModelRoute {
        ModelRoute(ModelConfig(name: "gpt-4o", providers: providers))
    }

    /// Every provider the plan offers, in order, when each attempt fails.
    func order(_ route: ModelRoute, unavailable: Set<String> = []) -> (names: [String], skipped: [String]) {
        var plan = route.makePlan()
        var names: [String] = []
        while let next = plan.next(availability: { unavailable.contains($0.name) ? .coolingDown(until: .distantFuture) : .available }) {
            names.append(next.name)
        }
        return (names, plan.skipped.map(\.provider.name))
    }

    @Test func tiersAreSortedByPriorityAndExcludeDisabledProviders() {
        let route = route(
            provider("late", priority: 5), provider("a", priority: 1), provider("off", priority: 1, enabled: false),
            provider("b", priority: 1), provider("mid", priority: 2), provider("neg", priority: -1)
        )
        #expect(route.name == "gpt-4o")
        #expect(route.tiers.map { $0.map(\.name) } == [["neg"], ["a", "b"], ["mid"], ["late"]])
    }

    @Test func theLowerPriorityNumberIsTriedFirst() {
        let route = route(provider("backup", priority: 2), provider("primary", priority: 1))
        for _ in 0..<5 {
            var plan = route.makePlan()
            #expect(plan.next { _ in .available }?.name == "primary")
        }
    }

    @Test func firstPickSharesEqualWeightsExactly() {
        let route = route(provider("a", weight: 5), provider("b", weight: 3), provider("c", weight: 2), provider("z", priority: 2))
        var counts: [String: Int] = [:]
        for _ in 0..<(10 * 37) {
            var plan = route.makePlan()
            counts[plan.next { _ in .available }!.name, default: 0] += 1
        }
        #expect(counts == ["a": 185, "b": 111, "c": 74])
    }

    @Test func afterAFailureThePlanYieldsTheRestOfTheTierThenTheNextTier() {
        let route = route(
            provider("a", weight: 1), provider("b", weight: 1), provider("c", weight: 1),
            provider("d", priority: 2), provider("e", priority: 2), provider("f", priority: 3)
        )
        for _ in 0..<6 {
            let (names, skipped) = order(route)
            #expect(names.count == 6)
            #expect(Set(names.prefix(3)) == ["a", "b", "c"])
            #expect(Set(names[3..<5]) == ["d", "e"])
            #expect(names.last == "f")
            #expect(skipped.isEmpty)
        }
    }

    @Test func eachPlanTriesEveryProviderOnce() {
        let route = route(provider("a", weight: 7), provider("b", weight: 1))
        for _ in 0..<16 {
            #expect(order(route).names.sorted() == ["a", "b"])
        }
    }

    @Test func unavailableProvidersAreSkippedAndListed() {
        let route = route(provider("a"), provider("b"), provider("c", priority: 2))
        let (names, skipped) = order(route, unavailable: ["a"])
        #expect(names == ["b", "c"])
        #expect(skipped == ["a"])
        let none = order(route, unavailable: ["a", "b", "c"])
        #expect(none.names.isEmpty)
        #expect(none.skipped == ["a", "b", "c"])
    }

    @Test func skippedRecordsTheReason() {
        let route = route(provider("a"), provider("b"))
        let reset = Date(timeIntervalSince1970: 1_000)
        var plan = route.makePlan()
        let next = plan.next { $0.name == "a" ? .overQuota(until: reset) : .available }
        #expect(next?.name == "b")
        #expect(plan.skipped.count == 1)
        #expect(plan.skipped.first?.availability == .overQuota(until: reset))
        #expect(plan.next { _ in .available } == nil)
    }

    @Test func aSessionsProviderIsOfferedFirstWhateverItsTierAndNotAgain() {
        let route = route(provider("a"), provider("b"), provider("z", priority: 9), provider("off", enabled: false))
        var plan = route.makePlan()
        plan.tryFirst("z")
        var names: [String] = []
        while let next = plan.next(availability: { _ in .available }) { names.append(next.name) }
        #expect(names.first == "z" && names.count == 3 && Set(names) == ["a", "b", "z"])

        var unavailable = route.makePlan()
        unavailable.tryFirst("z")
        var order: [String] = []
        while let next = unavailable.next(availability: { $0.name == "z" ? .coolingDown(until: .distantFuture) : .available }) {
            order.append(next.name)
        }
        #expect(Set(order) == ["a", "b"] && unavailable.skipped.map(\.provider.name) == ["z"], "skipped once, with its reason")

        var disabled = route.makePlan()
        disabled.tryFirst("off")
        #expect(disabled.next { _ in .available }?.name != "off", "a disabled provider is never offered")
    }

    @Test func anUnavailableProviderIsAskedOnlyOnce() {
        let route = route(provider("a"), provider("b"), provider("c"))
        var plan = route.makePlan()
        var asked: [String: Int] = [:]
        while plan.next(availability: { asked[$0.name, default: 0] += 1; return $0.name == "b" ? .coolingDown(until: .distantFuture) : .available }) != nil {}
        #expect(asked["b"] == 1)
        #expect(plan.skipped.map(\.provider.name) == ["b"])
    }

    @Test func aLowerTierIsOnlyEnteredWhenTheTierAboveIsExhausted() {
        let route = route(provider("a"), provider("z", priority: 9))
        var plan = route.makePlan()
        #expect(plan.next { _ in .available }?.name == "a")
        #expect(plan.next { _ in .available }?.name == "z")
        #expect(plan.next { _ in .available } == nil)
    }

    @Test func aModelWithNoEnabledProvidersHasNoPlan() {
        let route = route(provider("a", enabled: false))
        #expect(route.tiers.isEmpty)
        var plan = route.makePlan()
        #expect(plan.next { _ in .available } == nil)
        #expect(plan.skipped.isEmpty)
    }

    @Test func routingTableHasARoutePerModel() throws {
        let config = GatewayConfig(
            global: GlobalSettings(),
            models: [ModelConfig(name: "a", providers: [provider("p")]), ModelConfig(name: "b", providers: [provider("q")])]
        )
        let table = RoutingTable(config: config)
        #expect(table.route(for: "a")?.tiers.first?.first?.name == "p")
        #expect(table.route(for: "b")?.name == "b")
        #expect(table.route(for: "missing") == nil)
    }
}

/// Which model serves a client's model name: exact names and aliases, then the most specific wildcard.
@Suite struct ModelNameRoutingTests {
    func table(_ models: [(String, [String])]) -> RoutingTable {
        let configs = models.map { name, aliases in
            var provider = ProviderConfig(name: "p")
            provider.type = "echo"
            return ModelConfig(name: name, providers: [provider], aliases: aliases)
        }
        return RoutingTable(config: GatewayConfig(global: GlobalSettings(), models: configs))
    }

    @Test func patternsMatchAnyRunOfCharactersWhereTheStarStands() {
        let cases: [(String, String, Bool)] = [
            ("claude-*", "claude-3-opus", true), ("claude-*", "claude-", true), ("claude-*", "claud", false),
            ("openrouter/*", "openrouter/meta/llama", true), ("*", "anything", true), ("*-mini", "gpt-4o-mini", true),
            ("*-mini", "gpt-4o", false), ("a*b*c", "abc", true), ("a*b*c", "axxbyyc", true), ("a*b*c", "ac", false),
            ("ab*ba", "aba", false), ("*x*xy", "axxy", true), ("*b*bc", "xbc", false), ("gpt-4o", "gpt-4o", true),
        ]
        for (pattern, name, expected) in cases {
            #expect(ModelNamePattern(pattern).matches(name) == expected, "\(pattern) ~ \(name)")
        }
    }

    @Test func anExactNameOrAliasWinsThenTheMostSpecificPatternThenConfigOrder() {
        let routes = table([
            ("*", []), ("claude-*", []), ("claude-3-*", ["opus"]), ("claude-3-opus", ["best"]), ("gpt-*", []), ("*-4o", []),
        ])
        #expect(routes.route(for: "claude-3-opus")?.name == "claude-3-opus")
        #expect(routes.route(for: "best")?.name == "claude-3-opus")
        #expect(routes.route(for: "opus")?.name == "claude-3-*")
        #expect(routes.route(for: "claude-3-haiku")?.name == "claude-3-*")
        #expect(routes.route(for: "claude-2")?.name == "claude-*")
        #expect(routes.route(for: "gpt-4o")?.name == "gpt-*", "as specific as *-4o, and first in the file")
        #expect(routes.route(for: "mistral")?.name == "*")
        #expect(table([("a", [])]).route(for: "b") == nil)
        let config = GatewayConfig(global: GlobalSettings(), models: [
            ModelConfig(name: "claude-*", providers: [], aliases: ["sonnet"]), ModelConfig(name: "gpt-4o", providers: [], aliases: ["gpt4"]),
        ])
        #expect(config.concreteModelNames == ["sonnet", "gpt-4o", "gpt4"])
    }

    @Test func aProvidersModelForwardsTheClientsNameWhereItSaysModel() {
        var provider = ProviderConfig(name: "p")
        provider.model = "{model}"
        #expect(provider.serving(model: "openrouter/meta/llama").model == "openrouter/meta/llama")
        provider.model = "us.{model}-v1"
        #expect(provider.serving(model: "claude").model == "us.claude-v1")
        provider.model = "fixed"
        #expect(provider.serving(model: "claude").model == "fixed")
    }
}

/// What `/admin/explain` is built from: the next request's order, reasons and shares, without moving a rotation.
@Suite struct RouteExplanationTests {
    func route() -> ModelRoute {
        func provider(_ name: String, priority: Int = 1, weight: Int = 10, enabled: Bool = true) -> ProviderConfig {
            var provider = ProviderConfig(name: name)
            provider.priority = priority
            provider.weight = weight
            provider.enabled = enabled
            return provider
        }
        return ModelRoute(ModelConfig(name: "m", providers: [
            provider("a", weight: 30), provider("b", weight: 10), provider("c", weight: 60), provider("d", priority: 2),
            provider("off", enabled: false),
        ]))
    }

    @Test func theOrderFollowsTiersAndWeightsWithSharesAmongTheCandidatesAndChangesNoRotation() {
        let route = route()
        let until = Date(timeIntervalSince1970: 2_000_000_000)
        let availability: (ProviderSlot) -> ProviderAvailability = { $0.name == "c" ? .circuitOpen(until: until) : .available }
        let first = RouteExplanation(route: route, preferring: nil, availability: availability)
        let again = RouteExplanation(route: route, preferring: nil, availability: availability)
        #expect(first.candidates.map(\.provider.name) == ["a", "b", "d"])
        #expect(again.candidates.map(\.provider.name) == ["a", "b", "d"], "explaining does not advance the rotation")
        let byName = Dictionary(uniqueKeysWithValues: first.entries.map { ($0.provider.name, $0) })
        #expect(byName["a"]?.share == 0.75 && byName["b"]?.share == 0.25 && byName["d"]?.share == 1)
        #expect(byName["c"]?.exclusion == .unavailable(.circuitOpen(until: until)) && byName["c"]?.share == 0)
        #expect(byName["off"]?.exclusion == .disabled && byName["off"]?.position == nil)
        var plan = route.makePlan()
        #expect(plan.next(availability: availability)?.name == "a")
    }

    @Test func aSessionsProviderComesFirst() {
        let explanation = RouteExplanation(route: route(), preferring: "d") { _ in .available }
        #expect(explanation.candidates.map(\.provider.name) == ["d", "c", "a", "b"])
        #expect(explanation.candidates.first?.preferred == true)
    }
}
