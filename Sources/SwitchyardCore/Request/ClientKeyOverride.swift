import Foundation

/// A client's own upstream key (`allow_client_key`): taken out of the request's headers before anything else sees
/// them, so it reaches no upstream except as the credential of a provider that opted in, and no log.
public struct ClientKeyOverride: Sendable {
    public static let defaultHeader = "x-provider-key"

    /// The keys found, by lowercased header name (usually none).
    private let keys: [String: String]

    /// Removes from `headers` every header named in `names` (lowercased: `ModelRoute.clientKeyHeaders`, the
    /// headers any provider of the model may take a key from, and `X-Provider-Key`), whether or not a provider
    /// opted in. Requests without one, nearly all, cost a comparison of lengths per header.
    public static func split(_ headers: [HeaderField], names: [String]) -> ([HeaderField], ClientKeyOverride) {
        guard headers.contains(where: { matches($0.name, names) != nil }) else { return (headers, ClientKeyOverride(keys: [:])) }
        var keys: [String: String] = [:]
        var kept: [HeaderField] = []
        for header in headers {
            guard let name = matches(header.name, names) else {
                kept.append(header)
                continue
            }
            let value = header.value.trimmingCharacters(in: .whitespaces)
            if !value.isEmpty { keys[name] = value }
        }
        return (kept, ClientKeyOverride(keys: keys))
    }

    /// The name in `names` that `name` is, ignoring ASCII case, without making a lowercased copy.
    private static func matches(_ name: String, _ names: [String]) -> String? {
        let count = name.utf8.count
        return names.first { candidate in
            candidate.utf8.count == count && zip(candidate.utf8, name.utf8).allSatisfy { $0 == $1 | 0x20 || $0 == $1 }
        }
    }

    /// The client's key for `provider`, if it opted in and the request brought one.
    public func key(for provider: ProviderConfig) -> String? {
        guard provider.allowClientKey else { return nil }
        return keys[provider.clientKeyHeader]
    }
}
