/// Identifies one provider of one public model; cooldowns and usage counters are kept per key.
public struct ProviderKey: Hashable, Sendable, CustomStringConvertible {
    public var model: String
    public var provider: String

    public init(model: String, provider: String) {
        self.model = model
        self.provider = provider
    }

    public var description: String { "\(model)/\(provider)" }
}
