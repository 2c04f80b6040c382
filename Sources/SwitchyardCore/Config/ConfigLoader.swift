import Foundation

/// One validation finding, with the place in the file it refers to, e.g. `gpt-4o.providers[1].weight`.
public struct ConfigProblem: Sendable, Equatable, CustomStringConvertible {
    public var path: String
    public var message: String

    public init(path: String, message: String) {
        self.path = path
        self.message = message
    }

    public var description: String { path.isEmpty ? message : "\(path): \(message)" }
}

/// A configuration that parsed but is not valid; lists every problem found.
public struct ConfigValidationError: Error, CustomStringConvertible {
    public var file: String
    public var problems: [ConfigProblem]
    public var description: String {
        "\(file): \(problems.count) problem\(problems.count == 1 ? "" : "s")\n"
            + problems.map { "  \($0)" }.joined(separator: "\n")
    }
}

/// A configuration file that could not be read.
public struct ConfigFileError: Error, CustomStringConvertible {
    public var file: String
    public var reason: String
    public var description: String { "\(file): \(reason)" }
}

/// A validated configuration together with the warnings found while loading it.
public struct LoadedConfig: Sendable {
    public var config: GatewayConfig
    public var warnings: [ConfigProblem]
    public var file: String
}

/// Reads, expands (`${ENV_NAME}`) and validates configuration files.
public enum ConfigLoader {
    /// `config/provider.json`, or `config/provider.yaml` (`.yml`) when there is no JSON file.
    public static func defaultPath(fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) })
        -> String
    {
        for candidate in ["config/provider.json", "config/provider.yaml", "config/provider.yml"] where fileExists(candidate) {
            return candidate
        }
        return "config/provider.json"
    }

    public static func load(file: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws
        -> LoadedConfig
    {
        guard let data = FileManager.default.contents(atPath: file) else {
            let reason = FileManager.default.fileExists(atPath: file) ? "cannot be read" : "no such file"
            throw ConfigFileError(file: file, reason: reason)
        }
        guard let text = String(data: data, encoding: .utf8) else {
            throw ConfigFileError(file: file, reason: "is not UTF-8 text")
        }
        let node = try ConfigNode.parse(contents: text, fileName: file)
        return try validate(node, file: file, environment: environment)
    }

    public static func validate(_ node: ConfigNode, file: String, environment: [String: String]) throws
        -> LoadedConfig
    {
        var reader = ConfigReader(environment: environment)
        let config = reader.readConfig(node)
        guard reader.problems.isEmpty, let config else {
            throw ConfigValidationError(file: file, problems: reader.problems)
        }
        return LoadedConfig(config: config, warnings: reader.warnings, file: file)
    }
}

/// Walks a `ConfigNode`, collecting every problem rather than stopping at the first.
struct ConfigReader {
    let environment: [String: String]
    var problems: [ConfigProblem] = []
    var warnings: [ConfigProblem] = []

    init(environment: [String: String]) {
        self.environment = environment
    }

    mutating func problem(_ path: String, _ message: String) {
        problems.append(ConfigProblem(path: path, message: message))
    }

    mutating func warning(_ path: String, _ message: String) {
        warnings.append(ConfigProblem(path: path, message: message))
    }

    // MARK: Document

    mutating func readConfig(_ root: ConfigNode) -> GatewayConfig? {
        guard case .object(let members) = root else {
            problem("", "the top level must be an object of models (and an optional _global)")
            return nil
        }
        // _global may stand anywhere in the file; providers take their defaults from it.
        let global = members.first { $0.key == "_global" }.map { readGlobal($0.value) } ?? GlobalSettings()
        var models: [ModelConfig] = []
        var seenModels = Set<String>()
        for (key, value) in members where !key.hasPrefix("_") {  // "_comment" and similar are notes, as in the seed
            if key.isEmpty {
                problem("\"\"", "model names must not be empty")
            } else if !seenModels.insert(key).inserted {
                problem(key, "model is defined twice")
            } else if let model = readModel(name: key, value, global: global) {
                models.append(model)
            }
        }
        if models.isEmpty && problems.isEmpty {
            problem("", "no models are configured")
        }
        checkUsageFileNames(models)
        checkAliases(models)
        return GatewayConfig(global: global, models: models)
    }

    /// An alias must name one model only: not another model, nor another model's alias.
    mutating func checkAliases(_ models: [ModelConfig]) {
        var owners: [String: String] = [:]
        for model in models where !model.isPattern { owners[model.name] = model.name }
        for model in models {
            for (index, alias) in model.aliases.enumerated() {
                if let owner = owners[alias] {
                    let what = owner == alias ? "the model \"\(alias)\"" : "an alias of \(owner)"
                    problem("\(model.name).aliases[\(index)]", "\"\(alias)\" is already \(what)")
                } else {
                    owners[alias] = model.name
                }
            }
        }
    }

    /// Usage files are named from sanitised model and provider names; two providers must not share one.
    mutating func checkUsageFileNames(_ models: [ModelConfig]) {
        var owners: [String: ProviderKey] = [:]
        for model in models {
            for (index, provider) in model.providers.enumerated() {
                let key = ProviderKey(model: model.name, provider: provider.name)
                let file = UsageFiles.fileName(for: key)
                if let owner = owners[file] {
                    guard owner != key else { continue }  // a duplicate name, reported already
                    problem(
                        "\(model.name).providers[\(index)].name",
                        "its usage file \(file) would be the same as \(owner)'s; rename one of them"
                    )
                } else {
                    owners[file] = key
                }
            }
        }
    }

    // MARK: _global

    mutating func readGlobal(_ node: ConfigNode) -> GlobalSettings {
        var global = GlobalSettings()
        guard let members = object(node, "_global") else { return global }
        apply(members, ConfigSchema.global, path: "_global", to: &global)
        if members.contains(where: { $0.key == "proxy" }) && members.contains(where: { $0.key == "proxies" }) {
            problem("_global.proxies", "set proxy or proxies, not both")
        }
        return global
    }

    /// Applies each member through its field; a key no field has is a warning.
    mutating func apply<Target>(
        _ members: [(key: String, value: ConfigNode)], _ fields: [ConfigField<Target>], path: String, to target: inout Target
    ) {
        for (key, value) in members {
            if let field = fields.first(where: { $0.key == key }) {
                field.apply(&self, value, "\(path).\(key)", &target)
            } else {
                warning("\(path).\(key)", "unknown setting (ignored)")
            }
        }
    }

    mutating func keyList(_ node: ConfigNode, _ path: String) -> [String] {
        switch node {
        case .null:
            return []
        case .string:
            return gatewayKey(node, path).map { $0.isEmpty ? [] : [$0] } ?? []
        case .array(let items):
            var keys: [String] = []
            for (index, item) in items.enumerated() {
                guard let key = string(item, "\(path)[\(index)]") else { continue }
                if key.isEmpty {
                    problem("\(path)[\(index)]", "must not be empty")
                } else {
                    keys.append(key)
                }
            }
            return keys
        default:
            problem(path, "must be a string or a list of strings, not \(node.typeName)")
            return []
        }
    }

    /// A gateway key. The literal "" means no authentication (the seed's config); an empty value from the
    /// environment is almost always an unset secret, and is a problem rather than a gateway silently left open.
    mutating func gatewayKey(_ node: ConfigNode, _ path: String) -> String? {
        guard let key = string(node, path) else { return nil }
        if key.isEmpty, case .string(let raw) = node, raw.contains("${") {
            problem(path, "\(raw) is empty; set it, or write \"\" to run without a key")
            return nil
        }
        return key
    }

    // MARK: Models and providers

    mutating func readModel(name: String, _ node: ConfigNode, global: GlobalSettings) -> ModelConfig? {
        guard let members = object(node, name) else { return nil }
        var providers: [ProviderConfig] = []
        var aliases: [String] = []
        var sawProviders = false
        for (key, value) in members {
            switch key {
            case "aliases":
                aliases = readAliases(value, "\(name).aliases")
            case "providers":
                sawProviders = true
                guard case .array(let items) = value else {
                    problem("\(name).providers", "must be a list, not \(value.typeName)")
                    continue
                }
                var namesSeen: [String: Int] = [:]
                for (index, item) in items.enumerated() {
                    let path = "\(name).providers[\(index)]"
                    guard let provider = readProvider(item, path: path, modelName: name, global: global) else {
                        continue
                    }
                    if let first = namesSeen[provider.name] {
                        problem(
                            "\(path).name",
                            "duplicate provider name \"\(provider.name)\" (also \(name).providers[\(first)])"
                        )
                    } else {
                        namesSeen[provider.name] = index
                    }
                    providers.append(provider)
                }
                if items.isEmpty { problem("\(name).providers", "must list at least one provider") }
            default:
                warning("\(name).\(key)", "unknown setting (ignored)")
            }
        }
        if !sawProviders {
            problem("\(name).providers", "is required")
            return nil
        }
        if !providers.isEmpty && !providers.contains(where: \.enabled) {
            warning(name, "every provider is disabled; requests for this model will fail")
        }
        return ModelConfig(name: name, providers: providers, aliases: aliases)
    }

    mutating func readAliases(_ node: ConfigNode, _ path: String) -> [String] {
        guard case .array(let items) = node else {
            problem(path, "must be a list of model names, not \(node.typeName)")
            return []
        }
        var aliases: [String] = []
        for (index, item) in items.enumerated() {
            guard let alias = string(item, "\(path)[\(index)]") else { continue }
            if alias.isEmpty || alias.hasPrefix("_") || alias.contains("*") {
                problem("\(path)[\(index)]", "must be a model name: not empty, no leading _ and no *")
            } else if !aliases.contains(alias) {
                aliases.append(alias)
            }
        }
        return aliases
    }

    mutating func readProvider(_ node: ConfigNode, path: String, modelName: String, global: GlobalSettings)
        -> ProviderConfig?
    {
        guard let members = object(node, path) else { return nil }
        var provider = ProviderConfig(name: "")
        provider.retry = global.defaultRetry
        provider.timeout = global.defaultTimeout
        provider.circuitBreaker = global.circuitBreaker
        provider.proxy = global.proxy
        // The kind first (which settings exist and which are required depend on it), then the identity, then the
        // rest in file order.
        let leading = ["type", "name", "endpoint", "api_key", "model"]
        for key in leading {
            guard let value = members.last(where: { $0.key == key })?.value else { continue }
            ConfigSchema.provider.first { $0.key == key }!.apply(&self, value, "\(path).\(key)", &provider)
        }
        let kind = provider.kind
        for (key, value) in members where !leading.contains(key) {
            let fieldPath = "\(path).\(key)"
            if let field = ConfigSchema.provider.first(where: { $0.key == key }) {
                field.apply(&self, value, fieldPath, &provider)
            } else if let setting = kind.settings.first(where: { $0.name == key }) {
                if let text = string(value, fieldPath) {
                    if let message = setting.problem(text) { problem(fieldPath, message) }
                    provider.settings[key] = text
                }
            } else {
                warning(fieldPath, "unknown setting (ignored)")
            }
        }
        let keys = Set(members.map(\.key))
        if !keys.contains("name") { problem("\(path).name", "is required") }
        if !provider.keyPool.isEmpty && kind.tokenExchange != nil {
            problem("\(path).api_keys", "providers of type \(kind.name) exchange their key for a token; use one api_key")
        }
        if keys.contains("proxy") && keys.contains("proxies") {
            problem("\(path).proxies", "set proxy or proxies, not both")
        }
        if provider.allowClientKey && (kind.tokenExchange != nil || !kind.callsUpstream) {
            problem("\(path).allow_client_key", "providers of type \(kind.name) cannot take a client's key")
        }
        if kind.callsUpstream {
            for required in ["endpoint", "model"] where !keys.contains(required) { problem("\(path).\(required)", "is required") }
        } else if !keys.contains("model") {
            provider.model = modelName
        }
        for setting in kind.settings where provider.settings[setting.name] == nil {
            provider.settings[setting.name] = setting.defaultValue(provider)
        }
        if !provider.streamSupport && !provider.nonStreamSupport {
            problem(path, "stream_support and non_stream_support cannot both be false")
        }
        return provider
    }

    /// A CA bundle must be a readable file holding PEM certificates. Whether they parse is only found out by the
    /// provider's first request (TLS lives in the server): one that does not fails as a connection error, logged.
    /// A CA bundle is at most this large (a system bundle is about 200 KB).
    static let largestCAFile = 4 * 1024 * 1024

    static func caFileProblem(_ path: String) -> String? {
        // Only a regular file of sensible size is read: a device such as /dev/zero would never end.
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: (path as NSString).resolvingSymlinksInPath) else {
            return "cannot read the file \(path)"
        }
        guard attributes[.type] as? FileAttributeType == .typeRegular else { return "\(path) is not a regular file" }
        guard attributes[.size] as? Int ?? 0 <= largestCAFile else { return "\(path) is larger than 4 MB" }
        guard let contents = FileManager.default.contents(atPath: path) else { return "cannot read the file \(path)" }
        guard String(decoding: contents, as: UTF8.self).contains("-----BEGIN CERTIFICATE-----") else {
            return "\(path) holds no PEM certificate"
        }
        return nil
    }

    public static func endpointProblem(_ endpoint: String) -> String? {
        guard let url = URL(string: endpoint), let scheme = url.scheme?.lowercased(),
            scheme == "http" || scheme == "https"
        else {
            return "must be an http:// or https:// URL"
        }
        guard let host = url.host, !host.isEmpty else { return "must include a host" }
        if url.query != nil || url.fragment != nil { return "must not contain a query or fragment" }
        return nil
    }

    mutating func readHeaders(_ node: ConfigNode, _ path: String) -> [CustomHeader] {
        if case .null = node { return [] }
        guard let members = object(node, path) else { return [] }
        var headers: [CustomHeader] = []
        for (name, value) in members {
            let headerPath = "\(path).\(name)"
            guard let text = scalarText(value, headerPath) else { continue }
            if name.isEmpty || !name.utf8.allSatisfy(Self.isHeaderTokenByte) {
                problem(headerPath, "is not a valid HTTP header name")
            } else if text.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A || $0 == 0 }) {
                problem(headerPath, "header values must not contain line breaks")
            } else {
                headers.append(CustomHeader(name: name, value: text))
            }
        }
        return headers
    }

    static func isHeaderTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
            UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// A `requests_per_period` / `tokens_per_period`: null (unlimited) or 1…10^15.
    mutating func amount(_ node: ConfigNode, _ path: String) -> Int? {
        if case .null = node { return nil }
        guard let amount = integer(node, path) else { return nil }
        if let message = SettingRange.positive(upTo: Double(RateLimitConfig.maximumAmount)).problem(Double(amount)) {
            problem(path, amount > 0 ? message : message + " (use null for unlimited)")
            return nil
        }
        return amount
    }

    /// `circuit_breaker: {…}` over `base` (a provider's starts from `_global`'s), or `false` to turn it off.
    mutating func readCircuitBreaker(_ node: ConfigNode, _ path: String, base: CircuitBreakerConfig) -> CircuitBreakerConfig {
        var breaker = base
        if case .object = node {} else {
            if let flag = bool(node, path) { breaker.enabled = flag }
            return breaker
        }
        guard let members = object(node, path) else { return breaker }
        apply(members, ConfigSchema.circuitBreaker, path: path, to: &breaker)
        if breaker.maxOpenSeconds < breaker.openSeconds {
            problem("\(path).max_open_seconds", "must not be below open_seconds (\(SettingRange.format(breaker.openSeconds)))")
        }
        return breaker
    }

    /// `api_keys`: strings or `{key, name, weight}`, after `first` (the provider's `api_key`) when it is set.
    mutating func readKeyPool(_ node: ConfigNode, _ path: String, first: String) -> [UpstreamKey] {
        guard case .array(let items) = node, !items.isEmpty else {
            problem(path, "must be a non-empty list of keys")
            return []
        }
        var pool = first.isEmpty ? [] : [UpstreamKey(key: first)]
        for (index, item) in items.enumerated() {
            let itemPath = "\(path)[\(index)]"
            var key = UpstreamKey(key: "")
            if case .object(let members) = item {
                apply(members, ConfigSchema.upstreamKey, path: itemPath, to: &key)
            } else if let text = string(item, itemPath) {
                key.key = text
            }
            if key.rateLimit != nil && key.name == nil {
                problem("\(itemPath).name", "is required with rate_limit (it names the key's usage file)")
            }
            if key.key.isEmpty {
                problem(itemPath, "must be a key (an empty one is an unset variable or a missing key:)")
            } else if key.key.utf8.contains(where: { $0 == 0x0D || $0 == 0x0A }) {
                problem(itemPath, "must not contain line breaks")
            } else if pool.contains(where: { $0.key == key.key }) {
                problem(itemPath, "the same key is in the pool twice")
            } else {
                pool.append(key)
            }
        }
        return pool
    }

    mutating func proxy(_ node: ConfigNode, _ path: String) -> OutboundProxy? {
        guard let text = string(node, path) else { return nil }
        switch OutboundProxy.parse(text) {
        case .success(let proxy): return proxy
        case .failure(let error):
            problem(path, error.message)
            return nil
        }
    }

    /// An object read through `fields` onto `defaults`; nil for `null` (the setting is off) or a non-object.
    mutating func readOptional<Target>(_ node: ConfigNode, _ path: String, _ fields: [ConfigField<Target>], onto defaults: Target)
        -> Target?
    {
        if case .null = node { return nil }
        guard let members = object(node, path) else { return nil }
        var target = defaults
        apply(members, fields, path: path, to: &target)
        return target
    }

    // MARK: Typed values

    mutating func object(_ node: ConfigNode, _ path: String) -> [(key: String, value: ConfigNode)]? {
        guard case .object(let members) = node else {
            problem(path, "must be an object, not \(node.typeName)")
            return nil
        }
        return members
    }

    /// A string, with `${ENV_NAME}` references replaced.
    mutating func string(_ node: ConfigNode, _ path: String) -> String? {
        guard case .string(let raw) = node else {
            problem(path, "must be a string, not \(node.typeName)")
            return nil
        }
        return expand(raw, path)
    }

    mutating func optionalString(_ node: ConfigNode, _ path: String) -> String? {
        if case .null = node { return "" }
        return string(node, path)
    }

    /// A header value may be written as a number or boolean too.
    mutating func scalarText(_ node: ConfigNode, _ path: String) -> String? {
        switch node {
        case .string: return string(node, path)
        case .int(let value): return String(value)
        case .double(let value): return String(value)
        case .bool(let value): return String(value)
        default:
            problem(path, "must be a string, not \(node.typeName)")
            return nil
        }
    }

    mutating func integer(_ node: ConfigNode, _ path: String) -> Int? {
        switch node {
        case .int(let value): return value
        case .string(let raw) where raw.contains("${"):
            guard let text = expand(raw, path) else { return nil }
            guard let value = Int(text.trimmingCharacters(in: .whitespaces)) else {
                problem(path, "must be an integer, got \"\(text)\" from the environment")
                return nil
            }
            return value
        default:
            problem(path, "must be an integer, not \(node.typeName)")
            return nil
        }
    }

    mutating func number(_ node: ConfigNode, _ path: String) -> Double? {
        switch node {
        case .int(let value): return Double(value)
        case .double(let value): return value
        case .string(let raw) where raw.contains("${"):
            guard let text = expand(raw, path) else { return nil }
            guard let value = Double(text.trimmingCharacters(in: .whitespaces)) else {
                problem(path, "must be a number, got \"\(text)\" from the environment")
                return nil
            }
            return value
        default:
            problem(path, "must be a number, not \(node.typeName)")
            return nil
        }
    }

    mutating func bool(_ node: ConfigNode, _ path: String) -> Bool? {
        switch node {
        case .bool(let value): return value
        case .string(let raw) where raw.contains("${"):
            guard let text = expand(raw, path) else { return nil }
            switch text.lowercased() {
            case "true", "1", "yes": return true
            case "false", "0", "no": return false
            default:
                problem(path, "must be true or false, got \"\(text)\" from the environment")
                return nil
            }
        default:
            problem(path, "must be true or false, not \(node.typeName)")
            return nil
        }
    }

    /// A number inside `range`; one outside it (or not finite) is a problem.
    mutating func number(_ node: ConfigNode, _ path: String, _ range: SettingRange) -> Double? {
        guard let value = number(node, path) else { return nil }
        if let message = range.problem(value) {
            problem(path, message)
            return nil
        }
        return value
    }

    /// An integer inside `range`; one outside it is a problem.
    mutating func integer(_ node: ConfigNode, _ path: String, _ range: SettingRange) -> Int? {
        guard let value = integer(node, path) else { return nil }
        if let message = range.problem(Double(value)) {
            problem(path, message)
            return nil
        }
        return value
    }

    /// Replaces `${NAME}` with the environment variable; an unset variable is a problem naming it.
    mutating func expand(_ raw: String, _ path: String) -> String? {
        guard raw.contains("${") else { return raw }
        var output = ""
        var rest = raw[...]
        var ok = true
        while let open = rest.range(of: "${") {
            output += rest[..<open.lowerBound]
            let afterOpen = rest[open.upperBound...]
            guard let close = afterOpen.firstIndex(of: "}") else {
                output += rest[open.lowerBound...]
                rest = rest[rest.endIndex...]
                break
            }
            let name = String(afterOpen[..<close])
            if Self.isEnvironmentName(name) {
                if let value = environment[name] {
                    output += value
                } else {
                    problem(path, "environment variable \(name) is not set")
                    ok = false
                }
            } else {
                output += rest[open.lowerBound...close]
            }
            rest = afterOpen[afterOpen.index(after: close)...]
        }
        output += rest
        return ok ? output : nil
    }

    static func isEnvironmentName(_ name: String) -> Bool {
        guard let first = name.utf8.first, first == UInt8(ascii: "_") || (first | 0x20) >= UInt8(ascii: "a") && (first | 0x20) <= UInt8(ascii: "z")
        else { return false }
        return name.utf8.allSatisfy { byte in
            byte == UInt8(ascii: "_") || (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte)
                || (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(byte | 0x20)
        }
    }
}
