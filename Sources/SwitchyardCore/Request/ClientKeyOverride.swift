import Foundation

/// A client's own upstream key (`allow_client_key`): taken out of the request's headers before anything else sees
/// them, so it reaches no upstream except as the credential of a provider that opted in, and no log.
public struct ClientKeyOverride: Sendable {
    public static let defaultHeader = "x-provider-key"

    /// The keys found, by lowercased header name (usually none).
    private let keys: [String: String]

    /// Removes from `headers` every header a provider of the request's model may take a key from, and
    /// `X-Provider-Key`, whether or not a provider opted in.
    public static func split(_ headers: [HeaderField], providers: [ProviderConfig]) -> ([HeaderField], ClientKeyOverride) {
        var names: Set<String> = [defaultHeader]
        for provider in providers { names.insert(provider.clientKeyHeader) }
        guard headers.contains(where: { names.contains($0.name.lowercased()) }) else { return (headers, ClientKeyOverride(keys: [:])) }
        var keys: [String: String] = [:]
        var kept: [HeaderField] = []
        for header in headers {
            let name = header.name.lowercased()
            guard names.contains(name) else {
                kept.append(header)
                continue
            }
            let value = header.value.trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { keys[name] = value }
        }
        return (kept, ClientKeyOverride(keys: keys))
    }

    /// The client's key for `provider`, if it opted in and the request brought one.
    public func key(for provider: ProviderConfig) -> String? {
        guard provider.allowClientKey else { return nil }
        return keys[provider.clientKeyHeader]
    }
}
