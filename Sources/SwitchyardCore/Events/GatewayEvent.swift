import Foundation

/// One key, routing or config event of the activity log (`logs/events.log`, `GET /admin/events`).
///
/// `key` is a key's name or fingerprint, never the key; `detail` is written by the gateway, never copied from a
/// request or an upstream answer.
public struct GatewayEvent: Sendable, Equatable {
    public enum Action: String, Sendable, CaseIterable {
        /// A pool key is tried after another key of its provider refused the request.
        case keySelected = "KEY_SELECTED"
        /// A pool key refused a request (401/403: disabled; 429: cooling down); `status` says which.
        case keyUnselected = "KEY_UNSELECTED"
        /// Every key of a provider's pool is disabled or cooling down: the provider is passed over.
        case keyExhausted = "KEY_EXHAUSTED"
        /// A provider is skipped for a while after a 429, 401, 403 or a 503 with `Retry-After`.
        case providerCooldown = "PROVIDER_COOLDOWN"
        /// A provider that cooled down served a request again.
        case providerRecovered = "PROVIDER_RECOVERED"
        /// A provider's circuit breaker opened (failures, a failed probe or a failed health check).
        case circuitOpened = "CIRCUIT_OPENED"
        /// A provider's circuit breaker closed again (a probe or a health check passed).
        case circuitClosed = "CIRCUIT_CLOSED"
        /// The first request of a quota period that a provider's quota refused.
        case quotaExhausted = "QUOTA_EXHAUSTED"
        /// A provider's usage counters were reset on its schedule.
        case quotaReset = "QUOTA_RESET"
        /// An outbound proxy failed a request or a health check and is passed over (`detail` names it).
        case proxyDown = "PROXY_DOWN"
        /// An outbound proxy that was out passed a health check.
        case proxyUp = "PROXY_UP"
        /// A new config was loaded (SIGHUP, `POST /admin/reload` or a changed file).
        case configReloaded = "CONFIG_RELOADED"
        /// A reload found the config invalid and kept the running one.
        case configRejected = "CONFIG_REJECTED"
    }

    public var time: Date
    public var action: Action
    public var model: String?
    public var provider: String?
    public var key: String?
    public var status: Int?
    public var detail: String?
    public var requestID: String?

    public init(
        time: Date, action: Action, model: String? = nil, provider: String? = nil, key: String? = nil,
        status: Int? = nil, detail: String? = nil, requestID: String? = nil
    ) {
        self.time = time
        self.action = action
        self.model = model
        self.provider = provider
        self.key = key
        self.status = status
        self.detail = detail
        self.requestID = requestID
    }
}
