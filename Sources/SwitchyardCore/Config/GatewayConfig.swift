/// A validated gateway configuration: `_global` settings plus one route per public model name.
public struct GatewayConfig: Sendable {
    public var global: GlobalSettings
    /// Models in file order.
    public var models: [ModelConfig]

    public init(global: GlobalSettings, models: [ModelConfig]) {
        self.global = global
        self.models = models
    }

    public func model(named name: String) -> ModelConfig? {
        models.first { $0.name == name }
    }

    /// The names clients can ask for by name: models that are not wildcard patterns, and every alias, in file
    /// order (what `/v1/models` lists).
    public var concreteModelNames: [String] {
        models.flatMap { model in (model.isPattern ? [] : [model.name]) + model.aliases }
    }
}

/// The `_global` section.
public struct GlobalSettings: Sendable, Equatable {
    /// Provider `timeout` when a provider does not set one (seconds).
    public var defaultTimeout: Double = 60
    /// Provider `retry` when a provider does not set one.
    public var defaultRetry: Int = 3
    public var logRequests: Bool = true
    /// Gateway keys accepted on `/v1/*`; empty means no authentication.
    public var apiKeys: [String] = []
    /// Key for `/admin/*` and `/metrics`; falls back to `apiKeys` when nil.
    public var adminKey: String?
    public var maxRequestBodyBytes: Int = 32 * 1024 * 1024
    /// How long a provider is skipped after a 429 without `Retry-After`, or after a 401/403 (seconds).
    public var cooldownSeconds: Double = 30
    /// First retry delay on the same provider; doubles per retry, with jitter (milliseconds).
    public var retryBackoffMilliseconds: Int = 100
    /// Serve `/metrics` without admin authentication.
    public var metricsPublic: Bool = false
    /// How long in-flight requests may run after SIGTERM before they are ended (seconds).
    public var shutdownGraceSeconds: Double = 30
    /// Longest time a client may take to send a complete request head, from its first byte (seconds).
    public var requestHeadTimeoutSeconds: Double = 30
    /// How long an idle keep-alive client connection is kept open between requests (seconds).
    public var keepAliveTimeoutSeconds: Double = 75
    /// Largest request head (request line and headers) accepted; larger ones get 431.
    public var maxRequestHeadBytes: Int = 64 * 1024
    /// Largest single server-sent event accepted from an upstream.
    public var maxStreamEventBytes: Int = 8 * 1024 * 1024
    /// How long a session (`X-Session-Id`) stays on its provider after its last request (seconds).
    public var sessionTTLSeconds: Double = 3600
    /// Stored `/v1/responses` answers: at most this many, …
    public var responsesMaxCount: Int = 10_000
    /// … this many bytes together, …
    public var responsesMaxBytes: Int = 256 * 1024 * 1024
    /// … each kept this long (seconds; OpenAI keeps them 30 days).
    public var responsesTTLSeconds: Double = 30 * 86_400
    /// Longest time to open a connection to an upstream, TLS excluded (seconds).
    public var upstreamConnectTimeoutSeconds: Double = 10
    /// How long an unused keep-alive upstream connection is kept for the next request (seconds).
    public var upstreamIdleTimeoutSeconds: Double = 60
    /// Connections to one upstream origin each event-loop thread may hold; requests beyond it wait for one.
    public var maxUpstreamConnections: Int = 4096
    /// Reload the config file when it changes.
    public var watchConfig = true
    /// Leave models none of whose providers can be used now out of `/v1/models`.
    public var hideUnavailableModels = false
    /// Outbound proxies of every provider that sets none of its own.
    public var proxy = ProxySettings()
    /// The circuit breaker of every provider that does not set its own.
    public var circuitBreaker = CircuitBreakerConfig()

    public init() {}

    /// The longest `shutdown_grace_seconds` accepted.
    public static let maximumShutdownGrace: Double = 3600
}

/// One public model name and the providers that can serve it.
public struct ModelConfig: Sendable {
    /// The public name, or a wildcard pattern (`claude-*`, `openrouter/*`) that serves every name it matches.
    public var name: String
    public var providers: [ProviderConfig]
    /// Other names clients may use for this model.
    public var aliases: [String]

    public init(name: String, providers: [ProviderConfig], aliases: [String] = []) {
        self.name = name
        self.providers = providers
        self.aliases = aliases
    }

    /// Whether `name` is a wildcard pattern (`*` stands for any run of characters).
    public var isPattern: Bool { name.contains("*") }
}

/// One upstream provider of a model.
public struct ProviderConfig: Sendable, Equatable {
    public var name: String
    /// The provider kind's name (`type` in the config); see `ProviderKinds`.
    public var type: String = "openai"
    /// Base URL such as `https://api.example.com/v1`, without a trailing slash.
    public var endpoint: String = ""
    public var apiKey: String = ""
    /// The model name sent upstream; `{model}` in it stands for the name the client asked for.
    public var model: String = "" {
        didSet { forwardsClientModel = model.contains("{model}") }
    }
    /// Whether `model` holds `{model}` (kept, not searched for on every attempt).
    public private(set) var forwardsClientModel = false
    /// Lower numbers are tried first.
    public var priority: Int = 1
    public var weight: Int = 10
    public var rateLimit: RateLimitConfig?
    /// Extra attempts on the same provider after a retryable failure.
    public var retry: Int = 3
    /// Seconds until response headers, and the longest silence allowed inside a stream.
    public var timeout: Double = 60
    public var streamSupport: Bool = true
    public var nonStreamSupport: Bool = true
    public var enabled: Bool = true
    public var customHeaders: [CustomHeader] = []
    public var maxContextLength: Int?
    /// Ask streaming upstreams for `stream_options.include_usage`; servers that reject the field set this false
    /// (their streams are then counted by estimate).
    public var sendStreamOptions: Bool = true
    /// The provider serves OpenAI's Responses API (`/responses`): `/v1/responses` requests reach it byte-exact
    /// instead of translated to chat completions.
    public var responses: Bool = false
    /// Settings of the provider's kind (`deployment`, `auth_url`, …), defaults filled in.
    public var settings: [String: String] = [:]
    /// A PEM bundle of extra certificate authorities trusted for this provider's endpoint and auth URL.
    public var caFile: String?
    public var circuitBreaker = CircuitBreakerConfig()
    /// Background checks of the provider (off when nil).
    public var healthCheck: HealthCheckConfig?
    /// The keys of a pool (`api_keys`, after `api_key` when both are set); empty for a provider with one key.
    public var keyPool: [UpstreamKey] = []
    public var keyStrategy = KeyStrategy.fillFirst
    /// How long a key refused with 401/403 stays out (nil: until a reload).
    public var disabledKeyRetrySeconds: Double?
    /// Outbound proxies (`_global`'s unless the provider sets its own).
    public var proxy = ProxySettings()
    /// A request may bring its own key for this provider in `clientKeyHeader` (`allow_client_key`).
    public var allowClientKey = false
    /// The header a client's own key comes in, lowercased.
    public var clientKeyHeader = ClientKeyOverride.defaultHeader

    public init(name: String) {
        self.name = name
    }

    /// The provider as it serves a request for `requested`: `{model}` in its upstream `model` becomes the
    /// client's model name (how a wildcard model forwards the name it matched).
    public func serving(model requested: String) -> ProviderConfig {
        guard forwardsClientModel else { return self }
        var provider = self
        provider.model = model.replacing("{model}", with: requested)
        return provider
    }

    /// The provider's kind; the config loader admits only registered kinds.
    public var kind: any ProviderKind {
        ProviderKinds.kind(named: type) ?? OpenAIKind()
    }

    /// The longest `timeout` accepted (seconds).
    public static let maximumTimeout: Double = 3600
}

public struct CustomHeader: Sendable, Equatable {
    public var name: String
    public var value: String

    public init(name: String, value: String) {
        self.name = name
        self.value = value
    }
}

/// A provider's allowance per period; nil limits are unlimited.
public struct RateLimitConfig: Sendable, Equatable {
    public var requestsPerPeriod: Int?
    public var tokensPerPeriod: Int?
    public var periodCron: CronSchedule

    /// The largest `requests_per_period` / `tokens_per_period` accepted.
    public static let maximumAmount = 1_000_000_000_000_000

    public init(requestsPerPeriod: Int? = nil, tokensPerPeriod: Int? = nil, periodCron: CronSchedule) {
        self.requestsPerPeriod = requestsPerPeriod
        self.tokensPerPeriod = tokensPerPeriod
        self.periodCron = periodCron
    }
}

/// When a provider's circuit opens and for how long (`circuit_breaker` in `_global` or on a provider).
public struct CircuitBreakerConfig: Sendable, Equatable {
    public var enabled = true
    /// Consecutive failures that open it; 0 turns this rule off.
    public var failureThreshold = 5
    /// Consecutive timeouts that open it (each costs a whole `timeout`, so by default one does); 0 turns this
    /// rule off, leaving timeouts to `failureThreshold`.
    public var timeoutThreshold = 1
    /// Share of failed requests (0–1] over the last `windowSeconds` that opens it, once `minRequests` were seen;
    /// nil turns this rule off.
    public var errorRate: Double?
    public var minRequests = 20
    public var windowSeconds: Double = 60
    /// The first open period; each further one in a row doubles, up to `maxOpenSeconds`.
    public var openSeconds: Double = 30
    public var maxOpenSeconds: Double = 300

    public init() {}
}

/// A provider's active health check (`health_check`): every `intervalSeconds` a request is sent in the
/// background, `GET {endpoint}{path}` when a path is set, else a one-token chat request; a failing check opens the
/// provider's circuit, a passing one closes it. Off by default: a check can cost money.
public struct HealthCheckConfig: Sendable, Equatable {
    public var intervalSeconds: Double = 30
    public var timeoutSeconds: Double = 5
    public var path: String?

    public init() {}
}
