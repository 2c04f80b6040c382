import Foundation
import Logging
import NIOCore
import SwitchyardCore

/// The access tokens of providers whose kind exchanges its `api_key` for one (GigaChat), cached until shortly before
/// they expire. Concurrent requests share one refresh. Kinds without an exchange never enter this actor: their
/// credential is the key itself (`ProxyEngine.credential`).
actor Credentials {
    private struct TokenKey: Hashable {
        var provider: String
        var url: String
        var key: String
        var scope: String
    }

    private let transport: UpstreamTransport
    private let clock: any GatewayClock
    private var tokens: [TokenKey: AccessToken] = [:]
    private var refreshes: [TokenKey: Task<AccessToken, any Error>] = [:]
    /// Tokens are renewed this long before they expire (seconds).
    static let refreshMargin: TimeInterval = 60

    init(transport: UpstreamTransport, clock: any GatewayClock) {
        self.transport = transport
        self.clock = clock
    }

    /// The access token for a provider; `replacing` names a token the upstream refused, which is then renewed
    /// (unless another request renewed it already).
    func token(for provider: ProviderConfig, exchange: any TokenExchange, replacing refused: String? = nil) async throws
        -> String
    {
        let key = TokenKey(
            provider: provider.name, url: provider.settings["auth_url"] ?? "", key: provider.apiKey,
            scope: provider.settings["scope"] ?? ""
        )
        if let token = tokens[key], token.value != refused, !token.needsRefresh(at: clock.now(), margin: Self.refreshMargin) {
            return token.value
        }
        if let running = refreshes[key] { return try await running.value.value }
        let (transport, clock) = (transport, clock)
        let refresh = Task { () async throws -> AccessToken in
            try await Self.fetchToken(for: provider, exchange: exchange, transport: transport, now: { clock.now() })
        }
        refreshes[key] = refresh
        defer { refreshes[key] = nil }
        do {
            let token = try await refresh.value
            tokens[key] = token
            return token.value
        } catch {
            tokens[key] = nil
            throw error
        }
    }

    private static func fetchToken(
        for provider: ProviderConfig, exchange: any TokenExchange, transport: UpstreamTransport,
        now: @Sendable () -> Date
    ) async throws -> AccessToken {
        let request = exchange.tokenRequest(for: provider)
        let response: UpstreamResponse
        do {
            response = try await transport.send(
                request, provider: provider, kind: provider.kind, on: transport.pools.group.any()
            )
        } catch {
            throw CredentialFailure(reason: "the token endpoint could not be reached", status: nil)
        }
        let body = (try? await response.body.collect(upTo: 64 * 1024)) ?? ByteBuffer()
        guard (200..<300).contains(response.status) else {
            throw CredentialFailure(reason: "the token endpoint answered HTTP \(response.status)", status: response.status)
        }
        do {
            return try exchange.token(fromAnswer: body, now: now())
        } catch {
            throw CredentialFailure(reason: "the token endpoint's answer has no usable token", status: nil)
        }
    }
}

/// No credential could be obtained for an attempt.
struct CredentialFailure: Error {
    var reason: String
    /// The token endpoint's status, when it answered with an error.
    var status: Int?

    /// Refused keys cool the provider down like a 401 would; everything else is a connection failure.
    var attemptFailure: AttemptFailure {
        if let status, status == 401 || status == 403 { return .status(status, retryAfter: nil) }
        return .connection("no access token: \(reason)")
    }
}
