/// One-line descriptions of models, for `switchyard check` and reload answers.
public enum ConfigSummary {
    /// e.g. `gpt-4o: 3 providers (2 enabled); priority 1: a (openai, weight 10), b (weight 5); priority 2: c`.
    public static func line(for model: ModelConfig) -> String {
        let enabled = model.providers.filter(\.enabled)
        let tiers = Set(enabled.map(\.priority)).sorted().map { priority in
            let members = enabled.filter { $0.priority == priority }.map { provider in
                var traits = ["\(provider.type)", "weight \(provider.weight)"]
                if !provider.streamSupport { traits.append("no stream") }
                if !provider.nonStreamSupport { traits.append("stream only") }
                if provider.rateLimit != nil { traits.append("quota") }
                return "\(provider.name) (\(traits.joined(separator: ", ")))"
            }
            return "priority \(priority): \(members.joined(separator: ", "))"
        }
        let count = model.providers.count
        return "\(model.name): \(count) provider\(count == 1 ? "" : "s") (\(enabled.count) enabled)"
            + (tiers.isEmpty ? "" : "; " + tiers.joined(separator: "; "))
    }
}
