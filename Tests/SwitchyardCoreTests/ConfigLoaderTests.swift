import Foundation
import Testing
@testable import SwitchyardCore

/// Loading, `${ENV}` expansion and validation of `provider.json` / `provider.yaml`.
@Suite struct ConfigLoaderTests {
    static let seedJSON = """
        {"_global":{"default_timeout":120,"api_key":""},"gpt-4o":{"providers":[{"name":"provider-1","endpoint":"https://api.example.com/v1","api_key":"sk-your-api-key","model":"gpt-4o","priority":1,"weight":10,"rate_limit":{"requests_per_period":100,"tokens_per_period":500000,"period_cron":"0 0 * * *"},"retry":3,"timeout":60,"stream_support":true,"non_stream_support":true,"enabled":true}]}}
        """

    static let seedYAML = """
        _global:
          default_timeout: 120
          api_key: ""
        gpt-4o:
          providers:
            - name: provider-1
              endpoint: https://api.example.com/v1
              api_key: sk-your-api-key
              model: gpt-4o
              priority: 1
              weight: 10
              rate_limit:
                requests_per_period: 100
                tokens_per_period: 500000
                period_cron: "0 0 * * *"
              retry: 3
              timeout: 60
              stream_support: true
              non_stream_support: true
              enabled: true
        """

    // MARK: Helpers

    func load(_ contents: String, fileName: String = "provider.json", environment: [String: String] = [:]) throws
        -> LoadedConfig
    {
        try ConfigLoader.validate(
            ConfigNode.parse(contents: contents, fileName: fileName), file: fileName, environment: environment
        )
    }

    /// The problems a config that should fail validation reports (empty when it unexpectedly passed).
    func problems(_ contents: String, fileName: String = "provider.json", environment: [String: String] = [:])
        throws -> [String]
    {
        do {
            _ = try load(contents, fileName: fileName, environment: environment)
            Issue.record("expected validation to fail")
            return []
        } catch let error as ConfigValidationError {
            return error.problems.map(\.description)
        }
    }

    /// One model `gpt-4o` with the given provider objects (JSON text).
    func model(_ providers: String...) -> String {
        #"{"gpt-4o":{"providers":["# + providers.joined(separator: ",") + "]}}"
    }

    func provider(_ extra: String = "", name: String = "p") -> String {
        let fields = #""name":"\#(name)","endpoint":"https://api.example.com/v1","model":"m""#
        return "{" + fields + (extra.isEmpty ? "" : "," + extra) + "}"
    }

    // MARK: The seed file

    @Test func seedProviderJSONLoadsWithItsValues() throws {
        let loaded = try load(Self.seedJSON)
        #expect(loaded.warnings.isEmpty)
        let config = loaded.config
        #expect(config.global.defaultTimeout == 120)
        #expect(config.global.defaultRetry == 3)
        #expect(config.global.apiKeys.isEmpty)
        #expect(config.global.adminKey == nil)
        #expect(config.models.map(\.name) == ["gpt-4o"])
        let provider = try #require(config.model(named: "gpt-4o")?.providers.first)
        #expect(provider.name == "provider-1")
        #expect(provider.type == "openai")
        #expect(provider.endpoint == "https://api.example.com/v1")
        #expect(provider.apiKey == "sk-your-api-key")
        #expect(provider.model == "gpt-4o")
        #expect(provider.priority == 1)
        #expect(provider.weight == 10)
        #expect(provider.retry == 3)
        #expect(provider.timeout == 60)
        #expect(provider.streamSupport)
        #expect(provider.nonStreamSupport)
        #expect(provider.enabled)
        #expect(provider.customHeaders.isEmpty)
        #expect(provider.maxContextLength == nil)
        let limit = try #require(provider.rateLimit)
        #expect(limit.requestsPerPeriod == 100)
        #expect(limit.tokensPerPeriod == 500_000)
        #expect(limit.periodCron == CronSchedule.daily)
        #expect(limit.periodCron.expression == "0 0 * * *")
    }

    @Test func omittedProviderFieldsTakeTheDocumentedDefaults() throws {
        let loaded = try load(model(provider()))
        let provider = try #require(loaded.config.models.first?.providers.first)
        #expect(provider.priority == 1)
        #expect(provider.weight == 10)
        #expect(provider.retry == 3)
        #expect(provider.timeout == 60)
        #expect(provider.streamSupport == true)
        #expect(provider.nonStreamSupport == true)
        #expect(provider.enabled == true)
        #expect(provider.apiKey == "")
        #expect(provider.rateLimit == nil)
        #expect(provider.type == "openai")
        #expect(loaded.config.global == GlobalSettings())
    }

    @Test func rateLimitPeriodDefaultsToMidnightDaily() throws {
        let loaded = try load(model(provider(#""rate_limit":{"requests_per_period":5}"#)))
        let limit = try #require(loaded.config.models.first?.providers.first?.rateLimit)
        #expect(limit.requestsPerPeriod == 5)
        #expect(limit.tokensPerPeriod == nil)
        #expect(limit.periodCron.expression == "0 0 * * *")
    }

    @Test func nullRateLimitAmountsMeanUnlimited() throws {
        let loaded = try load(
            model(provider(#""rate_limit":{"requests_per_period":null,"tokens_per_period":null,"period_cron":"@weekly"}"#))
        )
        let limit = try #require(loaded.config.models.first?.providers.first?.rateLimit)
        #expect(limit.requestsPerPeriod == nil)
        #expect(limit.tokensPerPeriod == nil)
        #expect(limit.periodCron.expression == "@weekly")
    }

    @Test func endpointTrailingSlashIsDropped() throws {
        let json = model(#"{"name":"p","endpoint":"https://api.example.com/v1/","model":"m"}"#)
        #expect(try load(json).config.models[0].providers[0].endpoint == "https://api.example.com/v1")
    }

    @Test func theSeedConfigInYAMLGivesTheSameResult() throws {
        let fromJSON = try load(Self.seedJSON).config
        let fromYAML = try load(Self.seedYAML, fileName: "provider.yaml").config
        #expect(fromYAML.global == fromJSON.global)
        #expect(fromYAML.models.map(\.name) == fromJSON.models.map(\.name))
        #expect(fromYAML.models[0].providers == fromJSON.models[0].providers)
        #expect(try load(Self.seedYAML, fileName: "provider.yml").config.models[0].providers == fromJSON.models[0].providers)
    }

    @Test func yamlScalarsKeepTheirTypes() throws {
        let node = try ConfigNode.parse(
            contents: "a: 1\nb: 2.5\nc: true\nd: null\ne: text\nf: \"7\"\ng: [x, 2]\n", fileName: "c.yaml"
        )
        let expected: ConfigNode = .object([
            ("a", .int(1)), ("b", .double(2.5)), ("c", .bool(true)), ("d", .null), ("e", .string("text")),
            ("f", .string("7")), ("g", .array([.string("x"), .int(2)])),
        ])
        #expect(node == expected)
    }

    @Test func aYAMLSyntaxErrorSaysWhereWithoutQuotingTheLine() {
        // Yams quotes the offending line, which may hold a key; the gateway logs and reports only its position.
        for broken in ["m:\n  providers:\n    - api_key: \"sk-live-123\n", "m:\n  api_key: sk-live-123\n api: [\n", "a: 1\na: sk-live-123\n"] {
            do {
                _ = try ConfigNode.parse(contents: broken, fileName: "c.yaml")
                Issue.record("parsed: \(broken)")
            } catch {
                let text = "\(error)"
                #expect(text.contains("invalid YAML") && text.contains("line"), "\(text)")
                #expect(!text.contains("sk-live"), "\(text)")
            }
        }
    }

    @Test func aWholeNumberIsAnIntegerInYAMLAsInJSON() throws {
        for contents in ["m:\n  providers:\n    - {name: p, type: echo, weight: 10.0}\n", "m:\n  providers:\n    - {name: p, type: echo, weight: 1e1}\n"] {
            #expect(try load(contents, fileName: "provider.yaml").config.models[0].providers[0].weight == 10, "\(contents)")
        }
        #expect(try ConfigNode.parse(contents: "a: 2.5\n", fileName: "c.yaml") == .object([("a", .double(2.5))]))
    }

    @Test func jsonScalarsKeepTheirTypes() throws {
        let node = try ConfigNode.parse(
            contents: #"{"a":1,"b":2.5,"c":true,"d":null,"e":"text","f":"7","g":["x",2],"h":false}"#, fileName: "c.json"
        )
        let expected: ConfigNode = .object([
            ("a", .int(1)), ("b", .double(2.5)), ("c", .bool(true)), ("d", .null), ("e", .string("text")),
            ("f", .string("7")), ("g", .array([.string("x"), .int(2)])), ("h", .bool(false)),
        ])
        #expect(node == expected)
    }

    @Test func modelsKeepFileOrderInJSON() throws {
        let json = """
            {"zeta":{"providers":[{"type":"echo","name":"e"}]},
             "_global":{},
             "alpha":{"providers":[{"type":"echo","name":"e"}]},
             "mid":{"providers":[{"type":"echo","name":"e"}]},
             "beta":{"providers":[{"type":"echo","name":"e"}]}}
            """
        #expect(try load(json).config.models.map(\.name) == ["zeta", "alpha", "mid", "beta"])
    }

    @Test func modelsKeepFileOrderInYAML() throws {
        let yaml = """
            zeta:
              providers: [{type: echo, name: e}]
            alpha:
              providers: [{type: echo, name: e}]
            _global: {}
            mid:
              providers: [{type: echo, name: e}]
            beta:
              providers: [{type: echo, name: e}]
            """
        #expect(try load(yaml, fileName: "provider.yaml").config.models.map(\.name) == ["zeta", "alpha", "mid", "beta"])
    }

    @Test func providersKeepFileOrder() throws {
        let json = model(provider(name: "c"), provider(name: "a"), provider(name: "b"))
        #expect(try load(json).config.models[0].providers.map(\.name) == ["c", "a", "b"])
    }

    // MARK: _global

    @Test func globalDefaultTimeoutAndRetryBecomeProviderDefaults() throws {
        let json = """
            {"_global":{"default_timeout":90,"default_retry":5},
             "m":{"providers":[
               {"name":"inherits","endpoint":"https://a.example/v1","model":"x"},
               {"name":"own","endpoint":"https://a.example/v1","model":"x","timeout":15,"retry":0}]}}
            """
        let providers = try load(json).config.models[0].providers
        #expect(providers[0].timeout == 90)
        #expect(providers[0].retry == 5)
        #expect(providers[1].timeout == 15)
        #expect(providers[1].retry == 0)
    }

    @Test func globalMayFollowTheModelsItConfigures() throws {
        let json = #"{"m":{"providers":[{"type":"echo","name":"e"}]},"_global":{"default_timeout":7,"default_retry":1}}"#
        let provider = try load(json).config.models[0].providers[0]
        #expect(provider.timeout == 7)
        #expect(provider.retry == 1)
    }

    @Test func globalApiKeyAsAString() throws {
        let json = #"{"_global":{"api_key":"gw-secret"},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(try load(json).config.global.apiKeys == ["gw-secret"])
    }

    @Test func globalApiKeyAsAList() throws {
        let json = #"{"_global":{"api_key":["k1","k2"]},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(try load(json).config.global.apiKeys == ["k1", "k2"])
    }

    @Test func globalApiKeyEmptyOrNullMeansNoAuthentication() throws {
        for value in [#""""#, "null", "[]"] {
            let json = #"{"_global":{"api_key":\#(value)},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
            #expect(try load(json).config.global.apiKeys == [], "api_key: \(value)")
        }
    }

    @Test func globalApiKeyListRejectsEmptyAndNonStringEntries() throws {
        let json = #"{"_global":{"api_key":["k1","",3]},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(
            try problems(json) == [
                "_global.api_key[1]: must not be empty",
                "_global.api_key[2]: must be a string, not an integer",
            ])
        let number = #"{"_global":{"api_key":42},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(try problems(number) == ["_global.api_key: must be a string or a list of strings, not an integer"])
    }

    @Test func globalSettingsAreRead() throws {
        let json = """
            {"_global":{"log_requests":false,"admin_key":"adm","max_request_body_mb":2,"cooldown_seconds":12.5,
                        "retry_backoff_ms":0,"metrics_public":true,"shutdown_grace_seconds":3},
             "m":{"providers":[{"type":"echo","name":"e"}]}}
            """
        let global = try load(json).config.global
        #expect(global.logRequests == false)
        #expect(global.adminKey == "adm")
        #expect(global.maxRequestBodyBytes == 2 * 1024 * 1024)
        #expect(global.cooldownSeconds == 12.5)
        #expect(global.retryBackoffMilliseconds == 0)
        #expect(global.metricsPublic == true)
        #expect(global.shutdownGraceSeconds == 3)
    }

    @Test func invalidGlobalValuesAreProblems() throws {
        let json = """
            {"_global":{"default_timeout":0,"default_retry":-1,"log_requests":"yes","cooldown_seconds":-2},
             "m":{"providers":[{"type":"echo","name":"e"}]}}
            """
        #expect(
            Set(try problems(json)) == [
                "_global.default_timeout: must be > 0",
                "_global.default_retry: must be >= 0",
                "_global.log_requests: must be true or false, not a string",
                "_global.cooldown_seconds: must be >= 0",
            ])
    }

    // MARK: ${ENV} expansion

    @Test func environmentReferencesAreExpandedInStrings() throws {
        let json = model(#"{"name":"p","endpoint":"https://${HOST}/v1","model":"${MODEL}","api_key":"${KEY}"}"#)
        let provider = try load(json, environment: ["HOST": "api.example.com", "MODEL": "gpt-4o", "KEY": "sk-1"])
            .config.models[0].providers[0]
        #expect(provider.endpoint == "https://api.example.com/v1")
        #expect(provider.model == "gpt-4o")
        #expect(provider.apiKey == "sk-1")
    }

    @Test func severalReferencesInOneStringAreAllExpanded() throws {
        let json = model(provider(#""api_key":"${A}-${B_2}-${A}""#))
        let key = try load(json, environment: ["A": "x", "B_2": "y"]).config.models[0].providers[0].apiKey
        #expect(key == "x-y-x")
    }

    @Test func textThatIsNotAReferenceIsKeptAsIs() throws {
        let json = model(provider(#""api_key":"$HOME ${not-a-name} ${1X} ${unclosed""#))
        let key = try load(json).config.models[0].providers[0].apiKey
        #expect(key == "$HOME ${not-a-name} ${1X} ${unclosed")
    }

    @Test func environmentReferencesInNumericAndBooleanFields() throws {
        let json = model(
            provider(#""weight":"${W}","priority":"${P}","retry":"${R}","timeout":"${T}","enabled":"${E}""#)
        )
        let provider = try load(json, environment: ["W": "7", "P": " 2 ", "R": "0", "T": "2.5", "E": "false"])
            .config.models[0].providers[0]
        #expect(provider.weight == 7)
        #expect(provider.priority == 2)
        #expect(provider.retry == 0)
        #expect(provider.timeout == 2.5)
        #expect(provider.enabled == false)
    }

    @Test func environmentReferencesInGlobalFields() throws {
        let json = #"{"_global":{"api_key":["${K1}","static"],"default_timeout":"${TO}"},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        let global = try load(json, environment: ["K1": "from-env", "TO": "30"]).config.global
        #expect(global.apiKeys == ["from-env", "static"])
        #expect(global.defaultTimeout == 30)
    }

    @Test func aMissingVariableIsAProblemNamingItAtItsPath() throws {
        let json = model(provider(name: "a"), provider(#""api_key":"${OPENAI_KEY}""#, name: "b"))
        #expect(try problems(json) == ["gpt-4o.providers[1].api_key: environment variable OPENAI_KEY is not set"])
    }

    @Test func everyMissingVariableIsReported() throws {
        let json = model(#"{"name":"p","endpoint":"https://${HOST}/v1","model":"m","api_key":"${K}","weight":"${W}"}"#)
        #expect(
            try problems(json) == [
                "gpt-4o.providers[0].endpoint: environment variable HOST is not set",
                "gpt-4o.providers[0].api_key: environment variable K is not set",
                "gpt-4o.providers[0].weight: environment variable W is not set",
            ])
    }

    @Test func aVariableThatIsNotANumberIsAProblem() throws {
        let json = model(provider(#""weight":"${W}","timeout":"${T}","enabled":"${E}""#))
        #expect(
            Set(try problems(json, environment: ["W": "ten", "T": "soon", "E": "maybe"])) == [
                #"gpt-4o.providers[0].weight: must be an integer, got "ten" from the environment"#,
                #"gpt-4o.providers[0].timeout: must be a number, got "soon" from the environment"#,
                #"gpt-4o.providers[0].enabled: must be true or false, got "maybe" from the environment"#,
            ])
    }

    @Test func aPlainStringIsNotANumber() throws {
        let json = model(provider(#""weight":"5""#))
        #expect(try problems(json) == ["gpt-4o.providers[0].weight: must be an integer, not a string"])
    }

    @Test func environmentExpansionWorksInYAMLToo() throws {
        let yaml = """
            m:
              providers:
                - name: p
                  endpoint: https://api.example.com/v1
                  model: m
                  api_key: ${KEY}
                  weight: ${W}
            """
        let provider = try load(yaml, fileName: "provider.yaml", environment: ["KEY": "k", "W": "3"])
            .config.models[0].providers[0]
        #expect(provider.apiKey == "k")
        #expect(provider.weight == 3)
    }

    // MARK: Validation problems

    @Test func nonPositiveWeightIsReportedWithItsLocation() throws {
        let json = model(provider(name: "a"), provider(#""weight":0"#, name: "b"))
        #expect(try problems(json) == ["gpt-4o.providers[1].weight: must be > 0"])
        #expect(try problems(model(provider(#""weight":-3"#))) == ["gpt-4o.providers[0].weight: must be > 0"])
    }

    @Test func negativeRetryIsAProblem() throws {
        #expect(try problems(model(provider(#""retry":-1"#))) == ["gpt-4o.providers[0].retry: must be >= 0"])
    }

    @Test func nonPositiveTimeoutIsAProblem() throws {
        #expect(try problems(model(provider(#""timeout":0"#))) == ["gpt-4o.providers[0].timeout: must be > 0"])
        #expect(try problems(model(provider(#""timeout":-1.5"#))) == ["gpt-4o.providers[0].timeout: must be > 0"])
    }

    @Test func badEndpointURLsAreProblems() throws {
        let cases: [(String, String)] = [
            ("api.example.com/v1", "must be an http:// or https:// URL"),
            ("ftp://api.example.com/v1", "must be an http:// or https:// URL"),
            ("http:///v1", "must include a host"),
            ("https://api.example.com/v1?x=1", "must not contain a query or fragment"),
            ("", "must be an http:// or https:// URL"),
        ]
        for (endpoint, message) in cases {
            let json = model(#"{"name":"p","endpoint":"\#(endpoint)","model":"m"}"#)
            #expect(try problems(json) == ["gpt-4o.providers[0].endpoint: \(message)"], "endpoint \(endpoint)")
        }
        for endpoint in ["http://localhost:8080", "HTTPS://API.EXAMPLE.COM/v1", "http://10.0.0.1/openai/v1"] {
            let json = model(#"{"name":"p","endpoint":"\#(endpoint)","model":"m"}"#)
            #expect(throws: Never.self, "endpoint \(endpoint)") { try load(json) }
        }
    }

    @Test func duplicateProviderNamesInAModelAreAProblem() throws {
        let json = model(provider(name: "a"), provider(name: "b"), provider(name: "a"))
        #expect(
            try problems(json) == [#"gpt-4o.providers[2].name: duplicate provider name "a" (also gpt-4o.providers[0])"#]
        )
    }

    @Test func theSameProviderNameInDifferentModelsIsFine() throws {
        let json = #"{"m1":{"providers":[\#(provider(name: "a"))]},"m2":{"providers":[\#(provider(name: "a"))]}}"#
        #expect(try load(json).config.models.count == 2)
    }

    @Test func badCronIsAProblem() throws {
        let json = model(provider(#""rate_limit":{"requests_per_period":1,"period_cron":"0 0 * *"}"#))
        let found = try problems(json)
        #expect(found.count == 1)
        #expect(found.first?.hasPrefix("gpt-4o.providers[0].rate_limit.period_cron: invalid cron: ") == true)
        let never = model(provider(#""rate_limit":{"period_cron":"0 0 31 2 *"}"#))
        #expect(try problems(never).first?.hasPrefix("gpt-4o.providers[0].rate_limit.period_cron: invalid cron") == true)
    }

    @Test func nonPositiveQuotaIsAProblem() throws {
        let json = model(provider(#""rate_limit":{"requests_per_period":0,"tokens_per_period":-5}"#))
        #expect(
            try problems(json) == [
                "gpt-4o.providers[0].rate_limit.requests_per_period: must be > 0 (use null for unlimited)",
                "gpt-4o.providers[0].rate_limit.tokens_per_period: must be > 0 (use null for unlimited)",
            ])
    }

    @Test func streamAndNonStreamSupportCannotBothBeFalse() throws {
        let json = model(provider(#""stream_support":false,"non_stream_support":false"#))
        #expect(try problems(json) == ["gpt-4o.providers[0]: stream_support and non_stream_support cannot both be false"])
        let one = model(provider(#""stream_support":false"#))
        #expect(try load(one).config.models[0].providers[0].streamSupport == false)
    }

    @Test func openAIProvidersNeedNameEndpointAndModel() throws {
        #expect(
            try problems(model("{}")) == [
                "gpt-4o.providers[0].name: is required",
                "gpt-4o.providers[0].endpoint: is required",
                "gpt-4o.providers[0].model: is required",
            ])
        #expect(
            try problems(model(#"{"type":"openai","name":"","endpoint":"https://a.example","model":""}"#)) == [
                "gpt-4o.providers[0].name: must not be empty",
                "gpt-4o.providers[0].model: must not be empty",
            ])
    }

    @Test func echoProvidersNeedNeitherEndpointNorModel() throws {
        let loaded = try load(#"{"demo":{"providers":[{"type":"echo","name":"local"}]}}"#)
        let provider = loaded.config.models[0].providers[0]
        #expect(provider.type == "echo")
        #expect(provider.model == "demo")
        #expect(provider.endpoint == "")
        #expect(loaded.warnings.isEmpty)
        // An echo provider still needs a name.
        #expect(try problems(#"{"demo":{"providers":[{"type":"echo"}]}}"#) == ["demo.providers[0].name: is required"])
    }

    @Test("each kind reads its own settings, with defaults, and checks them where they stand")
    func kindSettingsHaveDefaultsAndLocatedProblems() throws {
        let json = model(
            #"{"type":"azure","name":"az","endpoint":"https://r.openai.azure.com/openai","model":"gpt-4o"}"#,
            #"{"type":"gigachat","name":"giga","endpoint":"https://gigachat.devices.sberbank.ru/api/v1","model":"GigaChat","scope":"GIGACHAT_API_B2B"}"#
        )
        let providers = try load(json).config.models[0].providers
        #expect(providers[0].settings == ["deployment": "gpt-4o", "api_version": "2024-10-21"])
        #expect(providers[1].settings["auth_url"] == "https://ngw.devices.sberbank.ru:9443/api/v2/oauth")
        #expect(providers[1].settings["scope"] == "GIGACHAT_API_B2B")

        let bad = model(
            #"{"type":"azure","name":"az","endpoint":"https://r.example/openai","model":"m","deployment":"a/../b"}"#,
            #"{"type":"gigachat","name":"g","endpoint":"https://g.example/api/v1","model":"m","auth_url":"ftp://x","scope":"pers"}"#,
            #"{"name":"o","endpoint":"https://o.example/v1","model":"m","deployment":"d"}"#
        )
        #expect(try problems(bad) == [
            "gpt-4o.providers[0].deployment: may contain only letters, digits, '-', '_' and '.'",
            "gpt-4o.providers[1].auth_url: must be an http:// or https:// URL",
            "gpt-4o.providers[1].scope: must be a scope name such as GIGACHAT_API_PERS, GIGACHAT_API_B2B or GIGACHAT_API_CORP",
        ])
    }

    @Test("a setting of another kind is an unknown setting")
    func settingsOfAnotherKindAreWarnedAbout() throws {
        let loaded = try load(model(#"{"name":"o","endpoint":"https://o.example/v1","model":"m","deployment":"d"}"#))
        #expect(loaded.warnings.map(\.description) == ["gpt-4o.providers[0].deployment: unknown setting (ignored)"])
    }

    @Test("ca_file must be a readable PEM bundle")
    func caFileMustBeAReadablePEMBundle() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("ca-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let pem = directory.appendingPathComponent("ca.pem")
        try "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n".write(to: pem, atomically: true, encoding: .utf8)
        let notPEM = directory.appendingPathComponent("notes.txt")
        try "hello".write(to: notPEM, atomically: true, encoding: .utf8)
        let good = model(#"{"name":"p","endpoint":"https://p.example/v1","model":"m","ca_file":"\#(pem.path)"}"#)
        #expect(try load(good).config.models[0].providers[0].caFile == pem.path)
        #expect(try problems(model(#"{"name":"p","endpoint":"https://p.example/v1","model":"m","ca_file":"\#(notPEM.path)"}"#))
            == ["gpt-4o.providers[0].ca_file: \(notPEM.path) holds no PEM certificate"])
        #expect(try problems(model(#"{"name":"p","endpoint":"https://p.example/v1","model":"m","ca_file":"/no/such.pem"}"#))
            == ["gpt-4o.providers[0].ca_file: cannot read the file /no/such.pem"])
        // A device would be read for ever; a link to a bundle (as in /etc/ssl/certs) is followed.
        #expect(try problems(model(#"{"name":"p","endpoint":"https://p.example/v1","model":"m","ca_file":"/dev/zero"}"#))
            == ["gpt-4o.providers[0].ca_file: /dev/zero is not a regular file"])
        let link = directory.appendingPathComponent("link.pem")
        try FileManager.default.createSymbolicLink(at: link, withDestinationURL: pem)
        #expect(try load(model(#"{"name":"p","endpoint":"https://p.example/v1","model":"m","ca_file":"\#(link.path)"}"#)).config.models.count == 1)
    }

    @Test func providerTypeIsCaseInsensitive() throws {
        let json = #"{"demo":{"providers":[{"type":"ECHO","name":"local"}]}}"#
        #expect(try load(json).config.models[0].providers[0].type == "echo")
    }

    @Test func unknownProviderTypeIsAProblem() throws {
        let json = model(#"{"type":"bedrock","name":"p","endpoint":"https://a.example","model":"m"}"#)
        #expect(try problems(json) == [#"gpt-4o.providers[0].type: unknown provider type "bedrock" (known: openai, echo, azure, anthropic, gemini, gigachat)"#])
    }

    @Test func providersMustBeANonEmptyList() throws {
        #expect(try problems(#"{"m":{"providers":{"name":"p"}}}"#) == ["m.providers: must be a list, not an object"])
        #expect(try problems(#"{"m":{"providers":"p"}}"#) == ["m.providers: must be a list, not a string"])
        #expect(try problems(#"{"m":{"providers":[]}}"#) == ["m.providers: must list at least one provider"])
        #expect(try problems(#"{"m":{}}"#) == ["m.providers: is required"])
        #expect(try problems(#"{"m":{"providers":[1]}}"#) == ["m.providers[0]: must be an object, not an integer"])
        #expect(try problems(#"{"m":[]}"#) == ["m: must be an object, not a list"])
    }

    @Test func wrongValueTypesAreProblems() throws {
        let json = model(provider(#""priority":1.5,"enabled":"yes","stream_support":1,"custom_headers":[]"#))
        // Nested JSON objects are read in key order, so compare as a set.
        #expect(
            Set(try problems(json)) == [
                "gpt-4o.providers[0].priority: must be an integer, not a number",
                "gpt-4o.providers[0].enabled: must be true or false, not a string",
                "gpt-4o.providers[0].stream_support: must be true or false, not an integer",
                "gpt-4o.providers[0].custom_headers: must be an object, not a list",
            ])
    }

    @Test func everyProblemIsCollectedAtOnce() throws {
        let json = """
            {"_global":{"default_timeout":-1},
             "gpt-4o":{"providers":[
               {"name":"a","endpoint":"ftp://x.example","model":"m","weight":0},
               {"name":"a","endpoint":"https://x.example","model":"m","retry":-2,"timeout":0},
               {"name":"c","endpoint":"https://x.example","model":"m","rate_limit":{"period_cron":"61 * * * *"}},
               {"name":"d","endpoint":"https://x.example","model":"m","stream_support":false,"non_stream_support":false},
               {"type":"bogus","name":"e","endpoint":"https://x.example","model":"m"},
               {"endpoint":"https://x.example"}]},
             "other":{"providers":[]},
             "third":{"providers":{}}}
            """
        let found = try problems(json)
        let expectedPrefixes = [
            "_global.default_timeout: must be > 0",
            "gpt-4o.providers[0].endpoint: must be an http:// or https:// URL",
            "gpt-4o.providers[0].weight: must be > 0",
            "gpt-4o.providers[1].retry: must be >= 0",
            "gpt-4o.providers[1].timeout: must be > 0",
            #"gpt-4o.providers[1].name: duplicate provider name "a" (also gpt-4o.providers[0])"#,
            "gpt-4o.providers[2].rate_limit.period_cron: invalid cron",
            "gpt-4o.providers[3]: stream_support and non_stream_support cannot both be false",
            #"gpt-4o.providers[4].type: unknown provider type "bogus""#,
            "gpt-4o.providers[5].name: is required",
            "gpt-4o.providers[5].model: is required",
            "other.providers: must list at least one provider",
            "third.providers: must be a list, not an object",
        ]
        for prefix in expectedPrefixes {
            #expect(found.contains { $0.hasPrefix(prefix) }, "missing: \(prefix)\nfound: \(found)")
        }
        #expect(found.count == expectedPrefixes.count, "found: \(found)")
    }

    @Test func validationErrorDescriptionListsEveryProblem() throws {
        let json = model(provider(#""retry":-1,"weight":0"#))
        do {
            _ = try load(json, fileName: "conf/provider.json")
            Issue.record("expected a validation error")
        } catch let error as ConfigValidationError {
            #expect(error.file == "conf/provider.json")
            #expect(
                error.description == """
                    conf/provider.json: 2 problems
                      gpt-4o.providers[0].retry: must be >= 0
                      gpt-4o.providers[0].weight: must be > 0
                    """)
        }
    }

    @Test func unknownKeysAreWarningsNotProblems() throws {
        let json = """
            {"_global":{"colour":"blue"},
             "gpt-4o":{"description":"x","providers":[
               {"name":"p","endpoint":"https://a.example","model":"m","flavour":1,
                "rate_limit":{"requests_per_period":1,"burst":3}}]}}
            """
        let loaded = try load(json)
        #expect(
            loaded.warnings.map(\.description) == [
                "_global.colour: unknown setting (ignored)",
                "gpt-4o.description: unknown setting (ignored)",
                "gpt-4o.providers[0].flavour: unknown setting (ignored)",
                "gpt-4o.providers[0].rate_limit.burst: unknown setting (ignored)",
            ])
        #expect(loaded.config.models[0].providers[0].name == "p")
    }

    @Test func aModelWithEveryProviderDisabledIsAWarning() throws {
        let loaded = try load(model(provider(#""enabled":false"#)))
        #expect(loaded.warnings.map(\.description) == ["gpt-4o: every provider is disabled; requests for this model will fail"])
        #expect(loaded.config.models[0].providers[0].enabled == false)
    }

    @Test func underscoreKeysOtherThanGlobalAreIgnored() throws {
        let json = """
            {"_comment":"notes", "_example":{"providers":"not even valid"}, "_global":{},
             "m":{"providers":[{"type":"echo","name":"e"}]}}
            """
        let loaded = try load(json)
        #expect(loaded.config.models.map(\.name) == ["m"])
        #expect(loaded.warnings.isEmpty)
    }

    @Test func aConfigWithoutModelsIsAProblem() throws {
        #expect(try problems(#"{"_global":{}}"#) == ["no models are configured"])
        #expect(try problems(#"{}"#) == ["no models are configured"])
        #expect(try problems("[]") == ["the top level must be an object of models (and an optional _global)"])
        #expect(try problems("", fileName: "p.yaml") == ["no models are configured"])
    }

    @Test func customHeadersAndMaxContextLength() throws {
        let json = model(provider(#""custom_headers":{"X-Team":"core","X-Retries":3},"max_context_length":8192"#))
        let loaded = try load(json).config.models[0].providers[0]
        #expect(Set(loaded.customHeaders.map { "\($0.name)=\($0.value)" }) == ["X-Team=core", "X-Retries=3"])
        #expect(loaded.maxContextLength == 8192)
        let bad = model(provider(#""custom_headers":{"Bad Header":"x","X-Ok":"a\nb","X-Crlf":"a\r\nX-Evil: 1"},"max_context_length":0"#))
        #expect(
            Set(try problems(bad)) == [
                "gpt-4o.providers[0].custom_headers.Bad Header: is not a valid HTTP header name",
                "gpt-4o.providers[0].custom_headers.X-Ok: header values must not contain line breaks",
                "gpt-4o.providers[0].custom_headers.X-Crlf: header values must not contain line breaks",
                "gpt-4o.providers[0].max_context_length: must be > 0",
            ])
    }

    @Test func apiKeyWithALineBreakIsAProblem() throws {
        for key in [#"sk-1\r\nX-Evil: 1"#, #"sk-1\nX"#, #"sk-1\r"#] {
            let json = model(provider(#""api_key":"\#(key)""#))
            #expect(try problems(json) == ["gpt-4o.providers[0].api_key: must not contain line breaks"], "\(key)")
        }
    }

    // MARK: Syntax errors and files

    @Test func invalidJSONIsASyntaxError() {
        for contents in [#"{"gpt-4o": {"providers": [}"#, "{", #"{"a":1,}"#, "not json"] {
            #expect(throws: ConfigSyntaxError.self, "\(contents)") {
                try ConfigNode.parse(contents: contents, fileName: "provider.json")
            }
        }
        do {
            _ = try ConfigNode.parse(contents: "{", fileName: "conf.json")
        } catch let error as ConfigSyntaxError {
            #expect(error.file == "conf.json")
            #expect(error.message.hasPrefix("invalid JSON"))
            #expect(error.description.hasPrefix("conf.json: invalid JSON"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func invalidYAMLIsASyntaxError() {
        for contents in ["a: [1, 2", "a: {b: 1", "key: \"unterminated", "- a\nb: c"] {
            #expect(throws: ConfigSyntaxError.self, "\(contents)") {
                try ConfigNode.parse(contents: contents, fileName: "provider.yaml")
            }
        }
        do {
            _ = try ConfigNode.parse(contents: "a: [1, 2", fileName: "p.yml")
        } catch let error as ConfigSyntaxError {
            #expect(error.file == "p.yml")
            #expect(error.message.hasPrefix("invalid YAML"))
        } catch {
            Issue.record("unexpected error \(error)")
        }
    }

    @Test func yamlAliasesAreResolvedToCopies() throws {
        // Yams resolves anchors while composing, so an alias reads as a copy of the anchored node.
        let yaml = "_defaults: &b {type: echo, name: e}\nm:\n  providers: [*b]\n"
        let loaded = try load(yaml, fileName: "p.yaml")
        #expect(loaded.config.models.map(\.name) == ["m"])
        #expect(loaded.config.model(named: "m")?.providers.first?.name == "e")
    }

    @Test func duplicateModelNamesAreAProblem() throws {
        let json = #"{"m":{"providers":[{"type":"echo","name":"a"}]},"m":{"providers":[{"type":"echo","name":"b"}]}}"#
        #expect(try problems(json) == ["m: model is defined twice"])
        let yaml = "m:\n  providers: [{type: echo, name: a}]\nm:\n  providers: [{type: echo, name: b}]\n"
        #expect(throws: (any Error).self) { try load(yaml, fileName: "p.yaml") }
    }

    @Test func jsonWithATrailingCommaIsASyntaxError() {
        // JSONDecoder tolerates trailing commas; the loader must not, or the model order would silently be lost.
        let json = #"{"b":{"providers":[{"type":"echo","name":"e"}]},"a":{"providers":[{"type":"echo","name":"e"}]},}"#
        #expect(throws: ConfigSyntaxError.self) { try ConfigNode.parse(contents: json, fileName: "provider.json") }
    }

    @Test func loadReadsJSONAndYAMLFiles() throws {
        let directory = URL(fileURLWithPath: NSTemporaryDirectory())
            .appendingPathComponent("switchyard-core-tests-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }

        let jsonFile = directory.appendingPathComponent("provider.json").path
        try Data(Self.seedJSON.utf8).write(to: URL(fileURLWithPath: jsonFile))
        let fromJSON = try ConfigLoader.load(file: jsonFile, environment: [:])
        #expect(fromJSON.file == jsonFile)
        #expect(fromJSON.config.models[0].providers[0].name == "provider-1")

        let yamlFile = directory.appendingPathComponent("provider.yaml").path
        try Data(Self.seedYAML.utf8).write(to: URL(fileURLWithPath: yamlFile))
        let fromYAML = try ConfigLoader.load(file: yamlFile, environment: [:])
        #expect(fromYAML.config.models[0].providers == fromJSON.config.models[0].providers)

        let missing = directory.appendingPathComponent("absent.json").path
        do {
            _ = try ConfigLoader.load(file: missing, environment: [:])
            Issue.record("expected a file error")
        } catch let error as ConfigFileError {
            #expect(error.reason == "no such file")
        }
    }

    @Test func defaultPathPrefersJSONThenYAML() {
        #expect(ConfigLoader.defaultPath(fileExists: { _ in false }) == "config/provider.json")
        #expect(ConfigLoader.defaultPath(fileExists: { _ in true }) == "config/provider.json")
        #expect(ConfigLoader.defaultPath(fileExists: { $0 == "config/provider.yaml" }) == "config/provider.yaml")
        #expect(ConfigLoader.defaultPath(fileExists: { $0 == "config/provider.yml" }) == "config/provider.yml")
    }

    @Test func summaryLineDescribesTiers() throws {
        let json = model(
            provider(#""weight":5"#, name: "a"), provider(#""priority":2,"stream_support":false"#, name: "b"),
            provider(#""enabled":false"#, name: "c")
        )
        let line = ConfigSummary.line(for: try load(json).config.models[0])
        #expect(line == "gpt-4o: 3 providers (2 enabled); priority 1: a (openai, weight 5); priority 2: b (openai, weight 10, no stream)")
    }

    // MARK: Ranges and empty secrets

    @Test func numbersThatWouldTrapAreProblemsAtTheirLocation() throws {
        let json = #"""
            {"_global":{"cooldown_seconds":1e20,"max_request_body_mb":1e13,"shutdown_grace_seconds":1e10,
            "default_timeout":1e300,"retry_backoff_ms":99999999999,"default_retry":1000000,
            "request_head_timeout_seconds":0,"keep_alive_timeout_seconds":1e9,"max_request_head_kb":4096,
            "max_stream_event_mb":1e6},
            "gpt-4o":{"providers":[{"name":"a","endpoint":"https://a.example/v1","model":"x","timeout":1e12,
            "weight":9223372036854775807,"retry":999,"priority":9223372036854775807,"max_context_length":1000000000,
            "rate_limit":{"requests_per_period":9223372036854775807}}]}}
            """#
        #expect(
            Set(try problems(json)) == [
                "_global.cooldown_seconds: must be <= 86400",
                "_global.max_request_body_mb: must be <= 1024",
                "_global.shutdown_grace_seconds: must be <= 3600",
                "_global.default_timeout: must be <= 3600",
                "_global.retry_backoff_ms: must be <= 60000",
                "_global.default_retry: must be <= 100",
                "_global.request_head_timeout_seconds: must be > 0",
                "_global.keep_alive_timeout_seconds: must be <= 3600",
                "_global.max_request_head_kb: must be <= 1024",
                "_global.max_stream_event_mb: must be <= 256",
                "gpt-4o.providers[0].timeout: must be <= 3600",
                "gpt-4o.providers[0].weight: must be <= 1000000",
                "gpt-4o.providers[0].retry: must be <= 100",
                "gpt-4o.providers[0].priority: must be <= 1000000",
                "gpt-4o.providers[0].max_context_length: must be <= 100000000",
                "gpt-4o.providers[0].rate_limit.requests_per_period: must be <= 1000000000000000",
            ])
    }

    @Test func infinityAndNaNFromTheEnvironmentOrYAMLAreRejected() throws {
        let json = #"{"_global":{"cooldown_seconds":"${C}"},"m":{"providers":[{"type":"echo","name":"e","timeout":"${T}"}]}}"#
        #expect(
            Set(try problems(json, environment: ["C": "inf", "T": "nan"])) == [
                "_global.cooldown_seconds: must be a finite number", "m.providers[0].timeout: must be a finite number",
            ])
        let yaml = "_global:\n  shutdown_grace_seconds: .inf\nm:\n  providers:\n    - {type: echo, name: e}\n"
        #expect(try problems(yaml, fileName: "provider.yaml") == ["_global.shutdown_grace_seconds: must be a finite number"])
    }

    @Test func newLimitsHaveDefaultsAndCanBeSet() throws {
        let defaults = try load(#"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#).config.global
        #expect(defaults.requestHeadTimeoutSeconds == 30)
        #expect(defaults.keepAliveTimeoutSeconds == 75)
        #expect(defaults.maxRequestHeadBytes == 64 * 1024)
        #expect(defaults.maxStreamEventBytes == 8 * 1024 * 1024)
        let set = try load(
            #"{"_global":{"request_head_timeout_seconds":5,"keep_alive_timeout_seconds":10,"max_request_head_kb":16,"max_stream_event_mb":1},"m":{"providers":[{"type":"echo","name":"e","send_stream_options":false}]}}"#
        ).config
        #expect(set.global.requestHeadTimeoutSeconds == 5)
        #expect(set.global.keepAliveTimeoutSeconds == 10)
        #expect(set.global.maxRequestHeadBytes == 16 * 1024)
        #expect(set.global.maxStreamEventBytes == 1024 * 1024)
        #expect(set.models[0].providers[0].sendStreamOptions == false)
    }

    @Test func upstreamConnectionSettingsHaveDefaultsAndRanges() throws {
        let defaults = try load(#"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#).config.global
        #expect(defaults.upstreamConnectTimeoutSeconds == 10 && defaults.upstreamIdleTimeoutSeconds == 60)
        #expect(defaults.maxUpstreamConnections == 4096)
        let set = try load(
            #"{"_global":{"upstream_connect_timeout_seconds":2.5,"upstream_idle_timeout_seconds":5,"max_upstream_connections":8},"#
                + #""m":{"providers":[{"type":"echo","name":"e"}]}}"#
        ).config.global
        #expect(set.upstreamConnectTimeoutSeconds == 2.5 && set.upstreamIdleTimeoutSeconds == 5)
        #expect(set.maxUpstreamConnections == 8)
        let wrong = try problems(
            #"{"_global":{"upstream_connect_timeout_seconds":0,"upstream_idle_timeout_seconds":-1,"max_upstream_connections":0},"#
                + #""m":{"providers":[{"type":"echo","name":"e"}]}}"#
        )
        #expect(wrong.count == 3)
        #expect(wrong.allSatisfy { $0.hasPrefix("_global.upstream_") || $0.hasPrefix("_global.max_upstream_connections") })
    }

    @Test func healthChecksAreOptInWithDefaultsAndChecked() throws {
        let config = try load(
            #"{"_global":{"watch_config":false,"hide_unavailable_models":true},"m":{"providers":[{"type":"echo","name":"a"},"#
                + #"{"type":"echo","name":"b","health_check":{}},{"type":"echo","name":"c","health_check":{"interval_seconds":5,"timeout_seconds":1.5,"path":"/models"}}]}}"#
        ).config
        #expect(!config.global.watchConfig && config.global.hideUnavailableModels)
        #expect(config.models[0].providers[0].healthCheck == nil)
        #expect(config.models[0].providers[1].healthCheck == HealthCheckConfig())
        let c = try #require(config.models[0].providers[2].healthCheck)
        #expect(c.intervalSeconds == 5 && c.timeoutSeconds == 1.5 && c.path == "/models")
        let wrong = try problems(
            #"{"m":{"providers":[{"type":"echo","name":"e","health_check":{"interval_seconds":0.5,"timeout_seconds":0,"path":"models"}}]}}"#
        )
        #expect(wrong.count == 3, "\(wrong)")
    }

    @Test func keyPoolsAreReadAfterTheSingleKeyAndChecked() throws {
        let config = try load(
            #"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","api_key":"first","api_keys":["second",{"key":"third","name":"t","weight":3}],"key_strategy":"round_robin","disabled_key_retry_seconds":60},"#
                + #"{"name":"b","endpoint":"https://b.example","model":"m","api_keys":["only"]}]}}"#
        ).config
        let a = config.models[0].providers[0]
        #expect(a.keyPool == [UpstreamKey(key: "first"), UpstreamKey(key: "second"), UpstreamKey(key: "third", name: "t", weight: 3)])
        #expect(a.keyStrategy == .roundRobin && a.disabledKeyRetrySeconds == 60 && a.apiKey == "first")
        let b = config.models[0].providers[1]
        #expect(b.keyPool.map(\.key) == ["only"] && b.apiKey == "only" && b.keyStrategy == .fillFirst)
        let wrong = try problems(
            #"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","api_keys":["x","x",""],"key_strategy":"random"},"#
                + #"{"name":"g","type":"gigachat","endpoint":"https://g.example","model":"m","api_keys":["y","z"]},"#
                + #"{"name":"e","endpoint":"https://e.example","model":"m","api_keys":[]}]}}"#
        )
        #expect(wrong.count == 5, "\(wrong)")
        #expect(wrong.contains { $0.hasPrefix("m.providers[1].api_keys: providers of type gigachat") })
        let limited = try load(
            #"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","api_keys":[{"key":"k","name":"n","rate_limit":{"tokens_per_period":100}}]}]}}"#
        ).config.models[0].providers[0].keyPool[0]
        #expect(limited.rateLimit?.tokensPerPeriod == 100 && limited.usageKey(model: "m", provider: "a") == ProviderKey(model: "m", provider: "a.key.n"))
        let unnamed = try problems(#"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","api_keys":[{"key":"k","rate_limit":{"requests_per_period":1}}]}]}}"#)
        #expect(unnamed == ["m.providers[0].api_keys[0].name: is required with rate_limit (it names the key's usage file)"])
    }

    @Test func aClientsOwnKeyIsOptInPerProviderAndItsHeaderIsChecked() throws {
        let config = try load(
            #"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","allow_client_key":true,"client_key_header":"X-Tenant-Key"},"#
                + #"{"name":"b","endpoint":"https://b.example","model":"m"}]}}"#
        ).config
        let (a, b) = (config.models[0].providers[0], config.models[0].providers[1])
        #expect(a.allowClientKey && a.clientKeyHeader == "x-tenant-key")
        #expect(!b.allowClientKey && b.clientKeyHeader == "x-provider-key")
        let wrong = try problems(
            #"{"m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","client_key_header":"Authorization"},"#
                + #"{"name":"g","type":"gigachat","endpoint":"https://g.example","model":"m","allow_client_key":true},"#
                + #"{"name":"e","type":"echo","allow_client_key":true},"#
                + #"{"name":"s","endpoint":"https://s.example","model":"m","client_key_header":"X Key"}]}}"#
        )
        #expect(wrong.count == 4, "\(wrong)")
        #expect(wrong.contains { $0.hasPrefix("m.providers[0].client_key_header: Authorization is a header the gateway") })
        #expect(wrong.contains { $0.hasPrefix("m.providers[1].allow_client_key: providers of type gigachat") })
    }

    @Test func outboundProxiesAreInheritedFromGlobalUnlessAProviderSetsItsOwn() throws {
        let config = try load(
            #"{"_global":{"proxies":["http://u%40x:p%3Aw@127.0.0.1:3128","socks5://[::1]"],"fallback_to_direct":true,"proxy_health":{"interval_seconds":5,"check_url":"https://example.com/"}},"#
                + #""m":{"providers":[{"name":"a","endpoint":"https://a.example","model":"m"},{"name":"b","endpoint":"https://a.example","model":"m","proxy":null},"#
                + #"{"name":"c","endpoint":"https://a.example","model":"m","proxy":"HTTP://Proxy.example:8080","fallback_to_direct":false}]}}"#
        ).config
        let global = config.global.proxy
        #expect(global.proxies == [
            OutboundProxy(scheme: .http, host: "127.0.0.1", port: 3128, authorization: "Basic " + Data("u@x:p:w".utf8).base64EncodedString()),
            OutboundProxy(scheme: .socks5, host: "::1", port: 1080),
        ])
        #expect(global.fallbackToDirect && global.health?.intervalSeconds == 5 && global.health?.checkURL == "https://example.com/")
        #expect(global.proxies[0].label == "http://127.0.0.1:3128" && global.proxies[1].label == "socks5://[::1]:1080", "no credentials")
        let providers = config.models[0].providers
        #expect(providers[0].proxy == global)
        #expect(providers[1].proxy.proxies.isEmpty, "proxy: null goes directly")
        #expect(providers[2].proxy.proxies == [OutboundProxy(scheme: .http, host: "proxy.example", port: 8080)] && !providers[2].proxy.fallbackToDirect)

        let wrong = try problems(
            #"{"_global":{"proxy":"http://a:1","proxies":["http://b:2"]},"m":{"providers":[{"name":"a","type":"echo","proxy":"ftp://h"},"#
                + #"{"name":"b","type":"echo","proxy":"socks5://user:secret@h:1"},{"name":"c","type":"echo","proxies":[]},"#
                + #"{"name":"d","type":"echo","proxy":"http://h:99999"},{"name":"e","type":"echo","proxy_health":{"check_url":"ftp://x"}}]}}"#
        )
        #expect(wrong.count == 6, "\(wrong)")
        #expect(wrong.contains("_global.proxies: set proxy or proxies, not both"))
        #expect(wrong.contains("m.providers[1].proxy: socks5 proxies with a user name and password are not supported"))
        #expect(!wrong.joined().contains("secret"), "a problem never repeats the proxy's URL")
    }

    @Test func aliasesAreReadAndMayNameOneModelOnly() throws {
        let config = try load(
            #"{"gpt-4o":{"aliases":["gpt4","gpt-4o-latest"],"providers":[{"type":"echo","name":"e"}]},"claude-*":{"aliases":["sonnet"],"providers":[{"type":"echo","name":"e"}]}}"#
        ).config
        #expect(config.models[0].aliases == ["gpt4", "gpt-4o-latest"])
        #expect(config.models[1].isPattern && config.models[1].aliases == ["sonnet"])
        let wrong = try problems(
            #"{"a":{"aliases":["b","x*",""],"providers":[{"type":"echo","name":"e"}]},"b":{"aliases":["c"],"providers":[{"type":"echo","name":"e"}]},"#
                + #""d":{"aliases":["c"],"providers":[{"type":"echo","name":"e"}]},"e":{"aliases":"c","providers":[{"type":"echo","name":"e"}]}}"#
        )
        #expect(wrong.contains("a.aliases[0]: \"b\" is already the model \"b\""), "\(wrong)")
        #expect(wrong.contains { $0.hasPrefix("a.aliases[1]: must be a model name") })
        #expect(wrong.contains { $0.hasPrefix("a.aliases[2]: must be a model name") })
        #expect(wrong.contains("d.aliases[0]: \"c\" is already an alias of b"))
        #expect(wrong.contains { $0.hasPrefix("e.aliases: must be a list") })
        #expect(wrong.count == 5)
    }

    @Test func circuitBreakersHaveDefaultsAGlobalSettingAndProviderOverrides() throws {
        let defaults = try load(#"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#).config
        #expect(defaults.global.circuitBreaker == CircuitBreakerConfig())
        #expect(defaults.models[0].providers[0].circuitBreaker == CircuitBreakerConfig())
        let set = try load(
            #"{"_global":{"circuit_breaker":{"failure_threshold":3,"open_seconds":10,"max_open_seconds":60}},"m":{"providers":["#
                + #"{"type":"echo","name":"a"},"#
                + #"{"type":"echo","name":"b","circuit_breaker":{"error_rate":0.5,"min_requests":4,"window_seconds":30,"timeout_threshold":0}},"#
                + #"{"type":"echo","name":"c","circuit_breaker":false}]}}"#
        ).config
        let (a, b, c) = (set.models[0].providers[0].circuitBreaker, set.models[0].providers[1].circuitBreaker, set.models[0].providers[2].circuitBreaker)
        #expect(a.failureThreshold == 3 && a.openSeconds == 10 && a.maxOpenSeconds == 60 && a.errorRate == nil)
        #expect(b.failureThreshold == 3 && b.errorRate == 0.5 && b.minRequests == 4 && b.windowSeconds == 30 && b.timeoutThreshold == 0)
        #expect(!c.enabled && c.failureThreshold == 3)
        let wrong = try problems(
            #"{"m":{"providers":[{"type":"echo","name":"e","circuit_breaker":{"error_rate":0,"failure_threshold":-1,"open_seconds":400,"min_requests":0,"window_seconds":"x"}}]}}"#
        )
        #expect(wrong.count == 5)
        #expect(wrong.allSatisfy { $0.contains("m.providers[0].circuit_breaker.") }, "\(wrong)")
        #expect(wrong.contains { $0.contains("max_open_seconds") && $0.contains("open_seconds (400)") })
    }

    @Test func responsesSettingsHaveDefaultsRangesAndOnlyOpenAIProvidersSpeakTheResponsesAPI() throws {
        let defaults = try load(#"{"m":{"providers":[{"type":"echo","name":"e"}]}}"#).config
        #expect(defaults.global.sessionTTLSeconds == 3600 && defaults.global.responsesMaxCount == 10_000)
        #expect(defaults.global.responsesMaxBytes == 256 * 1024 * 1024 && defaults.global.responsesTTLSeconds == 30 * 86_400)
        #expect(defaults.models[0].providers[0].responses == false)
        let set = try load(
            #"{"_global":{"session_ttl_seconds":60,"responses_max_count":5,"responses_max_mb":1,"responses_ttl_seconds":10},"#
                + #""m":{"providers":[{"name":"o","endpoint":"https://api.openai.com/v1","model":"gpt","responses":true}]}}"#
        ).config
        #expect(set.global.sessionTTLSeconds == 60 && set.global.responsesMaxCount == 5)
        #expect(set.global.responsesMaxBytes == 1024 * 1024 && set.global.responsesTTLSeconds == 10)
        #expect(set.models[0].providers[0].responses)
        let wrong = try problems(
            #"{"_global":{"session_ttl_seconds":0,"responses_max_count":-1},"#
                + #""m":{"providers":[{"name":"a","type":"anthropic","endpoint":"https://api.anthropic.com/v1","model":"c","responses":true}]}}"#
        )
        #expect(wrong.contains { $0.contains("_global.session_ttl_seconds") })
        #expect(wrong.contains { $0.contains("_global.responses_max_count") })
        #expect(wrong.contains { $0.contains("m.providers[0].responses") && $0.contains("do not serve the Responses API") })
    }

    @Test func aGatewayKeyFromAnEmptyEnvironmentVariableIsAProblemNotOpenAccess() throws {
        let json = #"{"_global":{"api_key":"${GATEWAY_KEY}","admin_key":"${ADMIN_KEY}"},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(
            Set(try problems(json, environment: ["GATEWAY_KEY": "", "ADMIN_KEY": ""])) == [
                #"_global.api_key: ${GATEWAY_KEY} is empty; set it, or write "" to run without a key"#,
                #"_global.admin_key: ${ADMIN_KEY} is empty; set it, or write "" to run without a key"#,
            ])
        let list = #"{"_global":{"api_key":["${A}","k2"]},"m":{"providers":[{"type":"echo","name":"e"}]}}"#
        #expect(try problems(list, environment: ["A": ""]) == ["_global.api_key[0]: must not be empty"])
        // The literal empty string still means no authentication, as in the seed.
        let open = try load(#"{"_global":{"api_key":""},"m":{"providers":[{"type":"echo","name":"e"}]}}"#)
        #expect(open.config.global.apiKeys.isEmpty)
        let set = try load(json, environment: ["GATEWAY_KEY": "sk-1", "ADMIN_KEY": "ad-1"])
        #expect(set.config.global.apiKeys == ["sk-1"])
        #expect(set.config.global.adminKey == "ad-1")
    }
}
