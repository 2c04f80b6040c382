import Foundation

/// Every setting of the config file, object by object: the loader reads through these tables, and `document` is
/// the JSON Schema (draft 2020-12) made from them. Rules across settings (a unique provider name, an alias naming
/// one model, `max_open_seconds` ≥ `open_seconds`, a valid cron, a readable `ca_file`) are the loader's alone.
public enum ConfigSchema {
    static let global: [ConfigField<GlobalSettings>] = [
        ConfigField("api_key", .keyList, "Gateway keys clients must present on /v1/*; \"\" means no authentication.") { reader, node, path, global in
            global.apiKeys = reader.keyList(node, path)
        },
        ConfigField("admin_key", .nullable(.string(pattern: nil)), "Key for /admin/* and /metrics; defaults to api_key.") { reader, node, path, global in
            if case .null = node { return }
            if let key = reader.gatewayKey(node, path), !key.isEmpty { global.adminKey = key }
        },
        .number("default_timeout", .timeout, "timeout (s) of providers that set none.") { $0.defaultTimeout = $1 },
        .integer("default_retry", .retries, "retry of providers that set none.") { $0.defaultRetry = $1 },
        .bool("log_requests", "One JSON line per request in requests.log.") { $0.logRequests = $1 },
        .bool("metrics_public", "Serve /metrics without admin authentication.") { $0.metricsPublic = $1 },
        .number("shutdown_grace_seconds", .nonNegative(upTo: GlobalSettings.maximumShutdownGrace), "How long in-flight requests may run after SIGTERM.") {
            $0.shutdownGraceSeconds = $1
        },
        .number("max_request_body_mb", .positive(upTo: 1024), "Largest request body; larger ones get 413.") {
            $0.maxRequestBodyBytes = Int($1 * 1024 * 1024)
        },
        .number("cooldown_seconds", .nonNegative(upTo: 86_400), "How long a provider is skipped after a 429 without Retry-After, or a 401/403.") {
            $0.cooldownSeconds = $1
        },
        .integer("retry_backoff_ms", .nonNegative(upTo: 60_000), "First delay before retrying the same provider.") {
            $0.retryBackoffMilliseconds = $1
        },
        .number("request_head_timeout_seconds", .positive(upTo: 3600), "Time a client has to send a whole request head.") {
            $0.requestHeadTimeoutSeconds = $1
        },
        .number("keep_alive_timeout_seconds", .positive(upTo: 3600), "Idle time before a keep-alive client connection is closed.") {
            $0.keepAliveTimeoutSeconds = $1
        },
        .integer("max_request_head_kb", .positive(upTo: 1024), "Largest request line and headers; larger heads get 431.") {
            $0.maxRequestHeadBytes = $1 * 1024
        },
        .number("max_stream_event_mb", .positive(upTo: 256), "Largest single SSE event accepted from an upstream.") {
            $0.maxStreamEventBytes = Int($1 * 1024 * 1024)
        },
        .number("session_ttl_seconds", .positive(upTo: 30 * 86_400), "How long a session stays on its provider.") { $0.sessionTTLSeconds = $1 },
        .integer("responses_max_count", .nonNegative(upTo: 10_000_000), "Most /v1/responses answers kept.") { $0.responsesMaxCount = $1 },
        .number("responses_max_mb", .nonNegative(upTo: 65_536), "Most bytes kept responses may take together.") {
            $0.responsesMaxBytes = Int($1 * 1024 * 1024)
        },
        .number("responses_ttl_seconds", .positive(upTo: 366 * 86_400), "How long a kept response lives.") { $0.responsesTTLSeconds = $1 },
        .number("upstream_connect_timeout_seconds", .positive(upTo: 600), "Longest time to open a TCP connection to an upstream.") {
            $0.upstreamConnectTimeoutSeconds = $1
        },
        .number("upstream_idle_timeout_seconds", .positive(upTo: 3600), "How long an unused upstream connection is kept.") {
            $0.upstreamIdleTimeoutSeconds = $1
        },
        .integer("max_upstream_connections", .positive(upTo: 1_000_000), "Connections to one upstream origin per event-loop thread.") {
            $0.maxUpstreamConnections = $1
        },
        ConfigField("circuit_breaker", circuitBreakerValue, "The circuit breaker of every provider.") { reader, node, path, global in
            global.circuitBreaker = reader.readCircuitBreaker(node, path, base: global.circuitBreaker)
        },
        .bool("watch_config", "Reload the config file when it changes.") { $0.watchConfig = $1 },
        .bool("hide_unavailable_models", "Leave models without a usable provider out of /v1/models.") { $0.hideUnavailableModels = $1 },
    ] + proxyFields(\.proxy)

    static let proxyURLPattern = "^([Hh][Tt][Tt][Pp]|[Ss][Oo][Cc][Kk][Ss]5)://"

    /// `proxy`, `proxies`, `fallback_to_direct` and `proxy_health`, the same in `_global` and on a provider.
    static func proxyFields<Target>(_ settings: any WritableKeyPath<Target, ProxySettings> & Sendable) -> [ConfigField<Target>] {
        [
            ConfigField("proxy", .nullable(.string(pattern: proxyURLPattern)), "An outbound proxy (http:// or socks5://); null goes directly.") {
                reader, node, path, target in
                if case .null = node { return target[keyPath: settings].proxies = [] }
                if let proxy = reader.proxy(node, path) { target[keyPath: settings].proxies = [proxy] }
            },
            ConfigField("proxies", .list(of: .string(pattern: proxyURLPattern), minimum: 1), "A pool of outbound proxies, spread over the healthy ones.") {
                reader, node, path, target in
                guard case .array(let items) = node else { return reader.problem(path, "must be a list, not \(node.typeName)") }
                if items.isEmpty { reader.problem(path, "must list at least one proxy") }
                target[keyPath: settings].proxies = items.enumerated().compactMap { index, item in reader.proxy(item, "\(path)[\(index)]") }
            },
            .bool("fallback_to_direct", "Go directly when no proxy is usable.") { $0[keyPath: settings].fallbackToDirect = $1 },
            ConfigField("proxy_health", .nullable(.reference("proxy_health")), "Background checks of the proxies.") { reader, node, path, target in
                target[keyPath: settings].health = reader.readOptional(node, path, proxyHealth, onto: ProxyHealthConfig())
            },
        ]
    }

    /// A provider's settings; `type` is applied first (the others may depend on the kind).
    static let provider: [ConfigField<ProviderConfig>] = [
        ConfigField("type", .string(pattern: kindPattern), "The API the provider speaks.") { reader, node, path, provider in
            guard let name = reader.string(node, path) else { return }
            if ProviderKinds.kind(named: name.lowercased()) != nil {
                provider.type = name.lowercased()
            } else {
                reader.problem(path, "unknown provider type \"\(name)\" (known: \(ProviderKinds.names.joined(separator: ", ")))")
            }
        },
        ConfigField("name", .string(pattern: ".+"), "Unique within the model.") { reader, node, path, provider in
            guard let name = reader.string(node, path) else { return }
            if name.isEmpty { reader.problem(path, "must not be empty") }
            provider.name = name
        },
        ConfigField("endpoint", .string(pattern: "^[Hh][Tt][Tt][Pp][Ss]?://"), "The API's base URL.") { reader, node, path, provider in
            guard let endpoint = reader.string(node, path) else { return }
            if let message = ConfigReader.endpointProblem(endpoint) { reader.problem(path, message) }
            provider.endpoint = endpoint.hasSuffix("/") ? String(endpoint.dropLast()) : endpoint
        },
        ConfigField("api_key", .nullable(.string(pattern: nil)), "The provider's credential.") { reader, node, path, provider in
            guard let key = reader.optionalString(node, path) else { return }
            if key.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {  // bytes: "\r\n" is one Character
                reader.problem(path, "must not contain line breaks")
            }
            provider.apiKey = key
        },
        ConfigField("model", .string(pattern: ".+"), "The model name sent upstream; {model} stands for the client's.") { reader, node, path, provider in
            guard let model = reader.string(node, path) else { return }
            if model.isEmpty { reader.problem(path, "must not be empty") }
            provider.model = model
        },
        ConfigField("api_keys", .list(of: .either(.string(pattern: ".+"), .reference("api_key")), minimum: 1), "A pool of keys (after api_key).") {
            reader, node, path, provider in
            provider.keyPool = reader.readKeyPool(node, path, first: provider.apiKey)
            if provider.apiKey.isEmpty { provider.apiKey = provider.keyPool.first?.key ?? "" }
        },
        ConfigField("key_strategy", .string(pattern: "^(fill_first|round_robin)$"), "fill_first (default) or round_robin.") { reader, node, path, provider in
            guard let text = reader.string(node, path) else { return }
            if let strategy = KeyStrategy(rawValue: text) {
                provider.keyStrategy = strategy
            } else {
                reader.problem(path, "must be fill_first or round_robin")
            }
        },
        .number("disabled_key_retry_seconds", .positive(upTo: 30 * 86_400), "How long a key refused with 401/403 stays out (default: until reload).") {
            $0.disabledKeyRetrySeconds = $1
        },
        .bool("allow_client_key", "A request may bring its own key for this provider (in X-Provider-Key or client_key_header).") {
            $0.allowClientKey = $1
        },
        ConfigField("client_key_header", .string(pattern: "^[!#$%&'*+.^_`|~0-9A-Za-z-]+$"), "The header a client's own key comes in (default X-Provider-Key).") {
            reader, node, path, provider in
            guard let name = reader.string(node, path) else { return }
            if name.isEmpty || !name.utf8.allSatisfy(ConfigReader.isHeaderTokenByte) {
                reader.problem(path, "is not a valid HTTP header name")
            } else if HeaderForwarding.isReserved(name.lowercased()) {
                reader.problem(path, "\(name) is a header the gateway reads or sets itself")
            } else {
                provider.clientKeyHeader = name.lowercased()
            }
        },
        .integer("priority", .within(-1_000_000...1_000_000), "Lower numbers are tried first.") { $0.priority = $1 },
        .integer("weight", .positive(upTo: 1_000_000), "Share of traffic within a priority tier.") { $0.weight = $1 },
        .integer("retry", .retries, "Extra attempts on the same provider after a retryable failure.") { $0.retry = $1 },
        .number("timeout", .timeout, "Seconds until the answer's head, and the longest silence inside it.") { $0.timeout = $1 },
        .bool("stream_support", "Whether the provider can stream.") { $0.streamSupport = $1 },
        .bool("non_stream_support", "Whether it can answer without streaming.") { $0.nonStreamSupport = $1 },
        .bool("enabled", "Disabled providers are never used.") { $0.enabled = $1 },
        .bool("send_stream_options", "Ask streaming upstreams for stream_options.include_usage.") { $0.sendStreamOptions = $1 },
        ConfigField("responses", .boolean, "The provider serves OpenAI's Responses API itself (openai only).") { reader, node, path, provider in
            guard let flag = reader.bool(node, path) else { return }
            if flag && !provider.kind.speaksResponsesAPI {
                reader.problem(path, "providers of type \(provider.kind.name) do not serve the Responses API")
            }
            provider.responses = flag
        },
        ConfigField("custom_headers", .nullable(.headers), "Extra headers sent upstream.") { reader, node, path, provider in
            provider.customHeaders = reader.readHeaders(node, path)
        },
        ConfigField(
            "max_context_length", .nullable(.integer(.positive(upTo: 100_000_000))), "The provider's context window in tokens."
        ) { reader, node, path, provider in
            if case .null = node { return }
            if let length = reader.integer(node, path, .positive(upTo: 100_000_000)) { provider.maxContextLength = length }
        },
        ConfigField("rate_limit", .nullable(.reference("rate_limit")), "The provider's allowance per period.") { reader, node, path, provider in
            provider.rateLimit = reader.readOptional(node, path, rateLimit, onto: RateLimitConfig(periodCron: .daily))
        },
        ConfigField("ca_file", .string(pattern: nil), "A PEM bundle of extra trusted certificate authorities.") { reader, node, path, provider in
            guard let file = reader.string(node, path) else { return }
            if let message = ConfigReader.caFileProblem(file) { reader.problem(path, message) }
            provider.caFile = file
        },
        ConfigField("circuit_breaker", circuitBreakerValue, "This provider's circuit breaker over the global one.") { reader, node, path, provider in
            provider.circuitBreaker = reader.readCircuitBreaker(node, path, base: provider.circuitBreaker)
        },
        ConfigField("health_check", .nullable(.reference("health_check")), "Background checks of the provider.") { reader, node, path, provider in
            provider.healthCheck = reader.readOptional(node, path, healthCheck, onto: HealthCheckConfig())
        },
    ] + proxyFields(\.proxy)

    static let proxyHealth: [ConfigField<ProxyHealthConfig>] = [
        .number("interval_seconds", .within(1...86_400), "Time between checks.") { $0.intervalSeconds = $1 },
        .number("timeout_seconds", .positive(upTo: 600), "Longest wait for a check.") { $0.timeoutSeconds = $1 },
        ConfigField("check_url", .string(pattern: "^[Hh][Tt][Tt][Pp][Ss]?://"), "Fetched through the proxy (else the check only connects).") {
            reader, node, path, check in
            guard let url = reader.string(node, path) else { return }
            if let message = ConfigReader.endpointProblem(url) { return reader.problem(path, message) }
            check.checkURL = url
        },
    ]

    static let upstreamKey: [ConfigField<UpstreamKey>] = [
        ConfigField("key", .string(pattern: ".+"), "The key.") { reader, node, path, key in
            if let text = reader.string(node, path) { key.key = text }
        },
        ConfigField("name", .string(pattern: ".+"), "Shown for the key in /admin and metrics (else a fingerprint).") { reader, node, path, key in
            if let text = reader.string(node, path), !text.isEmpty { key.name = text }
        },
        .integer("weight", .positive(upTo: 1_000_000), "Share of round_robin's requests.") { $0.weight = $1 },
        ConfigField("rate_limit", .nullable(.reference("rate_limit")), "The key's own allowance per period, besides the provider's (needs name).") {
            reader, node, path, key in
            key.rateLimit = reader.readOptional(node, path, rateLimit, onto: RateLimitConfig(periodCron: .daily))
        },
    ]

    static let rateLimit: [ConfigField<RateLimitConfig>] = [
        ConfigField("requests_per_period", amountValue, "Requests allowed per period; null is unlimited.") { reader, node, path, limit in
            limit.requestsPerPeriod = reader.amount(node, path) ?? limit.requestsPerPeriod
        },
        ConfigField("tokens_per_period", amountValue, "Tokens allowed per period; null is unlimited.") { reader, node, path, limit in
            limit.tokensPerPeriod = reader.amount(node, path) ?? limit.tokensPerPeriod
        },
        ConfigField("period_cron", .string(pattern: nil), "5-field cron of the resets (default 0 0 * * *).") { reader, node, path, limit in
            guard let expression = reader.string(node, path) else { return }
            do throws(CronError) {
                limit.periodCron = try CronSchedule(expression)
            } catch {
                reader.problem(path, "invalid cron: \(error.message)")
            }
        },
    ]

    static let circuitBreaker: [ConfigField<CircuitBreakerConfig>] = [
        .bool("enabled", "false turns the breaker off.") { $0.enabled = $1 },
        .integer("failure_threshold", .nonNegative(upTo: 1_000_000), "Consecutive failures that open it; 0 turns the rule off.") {
            $0.failureThreshold = $1
        },
        .integer("timeout_threshold", .nonNegative(upTo: 1_000_000), "Consecutive timeouts that open it; 0 turns the rule off.") {
            $0.timeoutThreshold = $1
        },
        ConfigField("error_rate", .nullable(.number(.positive(upTo: 1))), "Share of failures in the window that opens it; null is off.") {
            reader, node, path, breaker in
            if case .null = node {
                breaker.errorRate = nil
            } else if let rate = reader.number(node, path, .positive(upTo: 1)) {
                breaker.errorRate = rate
            }
        },
        .integer("min_requests", .positive(upTo: 1_000_000), "Attempts the window must hold before error_rate applies.") { $0.minRequests = $1 },
        .number("window_seconds", .positive(upTo: 86_400), "The sliding window of error_rate.") { $0.windowSeconds = $1 },
        .number("open_seconds", .positive(upTo: 86_400), "First open period; doubles while it keeps failing.") { $0.openSeconds = $1 },
        .number("max_open_seconds", .positive(upTo: 86_400), "Cap of the open period.") { $0.maxOpenSeconds = $1 },
    ]

    static let healthCheck: [ConfigField<HealthCheckConfig>] = [
        .number("interval_seconds", .within(1...86_400), "Time between checks.") { $0.intervalSeconds = $1 },
        .number("timeout_seconds", .positive(upTo: 600), "Longest wait for a check's whole answer.") { $0.timeoutSeconds = $1 },
        ConfigField("path", .string(pattern: "^/[^\\s]*$"), "Check with GET of this path instead of a one-token chat request.") {
            reader, node, path, check in
            guard let text = reader.string(node, path) else { return }
            if !text.hasPrefix("/") || text.utf8.contains(where: { $0 <= 0x20 || $0 == 0x7F }) {
                reader.problem(path, "must be a path starting with / (appended to the endpoint), without spaces")
            } else {
                check.path = text
            }
        },
    ]

    static let circuitBreakerValue = ConfigValueType.either(.boolean, .reference("circuit_breaker"))
    static let amountValue = ConfigValueType.nullable(.integer(.positive(upTo: Double(RateLimitConfig.maximumAmount))))

    /// `type` is matched without regard to case.
    static var kindPattern: String { pattern(matching: ProviderKinds.names) }
    static var localKindPattern: String { pattern(matching: ProviderKinds.all.filter { !$0.callsUpstream }.map(\.name)) }

    private static func pattern(matching names: [String]) -> String {
        let names = names.map { name in
            name.map { character in
                let lower = character.lowercased(), upper = character.uppercased()
                return lower == upper ? String(character) : "[\(upper)\(lower)]"
            }.joined()
        }
        return "^(\(names.joined(separator: "|")))$"
    }

    /// The settings only some kinds read, with the kinds that read them.
    static var kindSettings: [(name: String, kinds: [String])] {
        var settings: [(name: String, kinds: [String])] = []
        for kind in ProviderKinds.all {
            for setting in kind.settings {
                if let index = settings.firstIndex(where: { $0.name == setting.name }) {
                    settings[index].kinds.append(kind.name)
                } else {
                    settings.append((setting.name, [kind.name]))
                }
            }
        }
        return settings
    }

    /// The JSON Schema (draft 2020-12) of the config file. Unknown keys are allowed, as the loader only warns
    /// about them; keys starting with `_` are notes.
    public static var document: JSONObject {
        var providerProperties = properties(provider)
        for setting in kindSettings {
            providerProperties[setting.name] = ["type": "string", "description": "Only for type \(setting.kinds.joined(separator: ", "))."]
        }
        let model: JSONObject = [
            "type": "object", "required": ["providers"],
            "properties": [
                "aliases": [
                    "type": "array", "description": "Other names clients may use for this model.",
                    "items": ["type": "string", "pattern": "^[^_*][^*]*$"],
                ] as JSONObject,
                "providers": ConfigValueType.list(of: .reference("provider"), minimum: 1).schema,
            ] as JSONObject,
        ]
        return [
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$id": "https://switchyard.dev/provider.schema.json",
            "title": "Switchyard gateway configuration",
            "description": "A public model name (or a pattern with *) per key, each with its providers; _global holds gateway settings.",
            "type": "object", "propertyNames": ["minLength": 1], "minProperties": 1,
            "properties": ["_global": ["$ref": "#/$defs/global"]] as JSONObject,
            "patternProperties": ["^_": [:] as JSONObject] as JSONObject,
            "additionalProperties": ["$ref": "#/$defs/model"],
            "$defs": [
                "global": ["type": "object", "properties": properties(global)] as JSONObject,
                "model": model,
                "provider": [
                    "type": "object", "required": ["name"], "properties": providerProperties,
                    // Kinds that answer locally need neither endpoint nor model.
                    "if": ["properties": ["type": ["pattern": localKindPattern]], "required": ["type"]] as JSONObject,
                    "else": ["required": ["endpoint", "model"]],
                ] as JSONObject,
                "rate_limit": ["type": "object", "properties": properties(rateLimit)] as JSONObject,
                "api_key": ["type": "object", "required": ["key"], "properties": properties(upstreamKey)] as JSONObject,
                "circuit_breaker": ["type": "object", "properties": properties(circuitBreaker)] as JSONObject,
                "health_check": ["type": "object", "properties": properties(healthCheck)] as JSONObject,
                "proxy_health": ["type": "object", "properties": properties(proxyHealth)] as JSONObject,
            ] as JSONObject,
        ]
    }

    /// `document` as JSON text, keys sorted (the shipped `config/provider.schema.json`).
    public static var text: String {
        let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    private static func properties<Target>(_ fields: [ConfigField<Target>]) -> JSONObject {
        var properties: JSONObject = [:]
        for field in fields {
            var schema = field.value.schema
            schema["description"] = field.summary
            properties[field.key] = schema
        }
        return properties
    }
}
