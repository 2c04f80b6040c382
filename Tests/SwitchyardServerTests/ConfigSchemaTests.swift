import Foundation
import SwitchyardCore
import Testing

/// The JSON Schema `switchyard schema` prints: shipped as `config/provider.schema.json`, valid draft 2020-12, and
/// in agreement with the loader (checked with Python's `jsonschema`).
@Suite("Config schema")
struct ConfigSchemaTests {
    static let root = ShippedConfigTests.repositoryRoot
    static let schemaFile = root.appendingPathComponent("config/provider.schema.json")

    struct Document {
        var name: String
        var format: String
        var text: String
    }

    /// Each document's schema errors (empty: valid), by name.
    func schemaVerdicts(_ documents: [Document]) async throws -> [String: [String]] {
        let request: [String: Any] = [
            "schema": Self.schemaFile.path,
            "documents": documents.map { ["name": $0.name, "format": $0.format, "text": $0.text] },
        ]
        let input = try temporaryDirectory().appendingPathComponent("request.json")
        try JSONSerialization.data(withJSONObject: request).write(to: input)
        let (status, output) = try await ChildProcess.run(
            "/bin/sh", ["-c", "python3 \"$0\" < \"$1\"", Self.root.appendingPathComponent("Tests/e2e/config_schema_check.py").path, input.path]
        )
        try #require(status == 0, "\(output)")
        let json = try #require(output.split(separator: "\n").last.map { Data($0.utf8) })
        return try #require(try JSONSerialization.jsonObject(with: json) as? [String: [String]])
    }

    /// Whether the loader accepts a document (every `${NAME}` it uses set to `value`).
    func loaderAccepts(_ document: Document, value: String = "x") -> Bool {
        let names = document.text.matches(of: /\$\{([A-Za-z_][A-Za-z0-9_]*)\}/).map { String($0.1) }
        let environment = Dictionary(names.map { ($0, $0 == "W" ? "3" : value) }, uniquingKeysWith: { first, _ in first })
        let fileName = document.format == "yaml" ? "provider.yaml" : "provider.json"
        guard let node = try? ConfigNode.parse(contents: document.text, fileName: fileName) else { return false }
        return (try? ConfigLoader.validate(node, file: fileName, environment: environment)) != nil
    }

    @Test func theShippedSchemaIsWhatTheBinaryPrints() throws {
        let shipped = try String(contentsOf: Self.schemaFile, encoding: .utf8)
        #expect(shipped == ConfigSchema.text, "run `swift run switchyard schema > config/provider.schema.json`")
        let example = try String(contentsOf: Self.root.appendingPathComponent("config/provider.example.yaml"), encoding: .utf8)
        #expect(example.hasPrefix("# yaml-language-server: $schema=provider.schema.json"), "editors find the schema from the example")
    }

    @Test func theShippedConfigsAndEveryConfigInTheREADMEValidateAgainstTheSchemaAndTheLoader() async throws {
        var documents = [
            Document(name: "config/provider.json", format: "json", text: try String(contentsOf: Self.root.appendingPathComponent("config/provider.json"), encoding: .utf8)),
            Document(name: "config/provider.example.yaml", format: "yaml", text: try String(contentsOf: Self.root.appendingPathComponent("config/provider.example.yaml"), encoding: .utf8)),
        ]
        // Every README block that is a whole config: a JSON or YAML block with providers.
        let readme = try String(contentsOf: Self.root.appendingPathComponent("README.md"), encoding: .utf8)
        for (index, block) in readme.matches(of: /```(json|yaml)\n([\s\S]*?)```/).enumerated() where block.2.contains("providers") {
            documents.append(Document(name: "README block \(index + 1)", format: String(block.1), text: String(block.2)))
        }
        #expect(documents.count >= 6, "the README's config examples were found")
        let verdicts = try await schemaVerdicts(documents)
        for document in documents {
            #expect(verdicts[document.name] == [], "\(document.name): \(verdicts[document.name] ?? ["not checked"])")
            if document.name != "config/provider.example.yaml" {  // its CA file is written by theExampleConfigValidates
                #expect(loaderAccepts(document), "the loader refuses \(document.name)")
            }
        }
    }

    /// Inputs the schema can judge on its own (one value each); rules across values are the loader's alone.
    static let table: [(name: String, valid: Bool, model: String)] = [
        ("an echo provider", true, #"{"providers":[{"name":"e","type":"echo"}]}"#),
        ("every provider setting", true, #"{"aliases":["gpt4"],"providers":[{"name":"a","type":"OpenAI","endpoint":"https://a.example/v1","api_key":"${K}","model":"m","priority":-2,"weight":"${W}","retry":0,"timeout":12.5,"stream_support":true,"non_stream_support":false,"enabled":true,"send_stream_options":false,"responses":true,"custom_headers":{"X-A":"b","X-N":3},"max_context_length":null,"rate_limit":{"requests_per_period":null,"tokens_per_period":1000,"period_cron":"0 * * * *"},"circuit_breaker":{"failure_threshold":0,"error_rate":0.5,"min_requests":5,"window_seconds":10,"open_seconds":5,"max_open_seconds":50},"health_check":{"interval_seconds":5,"timeout_seconds":2,"path":"/models"}}]}"#),
        ("a breaker turned off", true, #"{"providers":[{"name":"e","type":"echo","circuit_breaker":false}]}"#),
        ("an Azure setting", true, #"{"providers":[{"name":"z","type":"azure","endpoint":"https://z.example","model":"m","deployment":"d"}]}"#),
        ("a client's own key", true, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","allow_client_key":true,"client_key_header":"X-Tenant-Key"}]}"#),
        ("a client key header with a space", false, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","client_key_header":"X Key"}]}"#),
        ("a pool of proxies", true, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","proxies":["http://p:3128","socks5://q:1080"],"fallback_to_direct":true,"proxy_health":{"interval_seconds":30,"timeout_seconds":5,"check_url":"https://example.com/"}}]}"#),
        ("a provider going directly", true, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","proxy":null}]}"#),
        ("an ftp proxy", false, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","proxy":"ftp://p:21"}]}"#),
        ("an empty proxy list", false, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","proxies":[]}]}"#),
        ("proxy checks every half second", false, #"{"providers":[{"name":"a","endpoint":"https://a.example","model":"m","proxy_health":{"interval_seconds":0.5}}]}"#),
        ("weight 0", false, #"{"providers":[{"name":"e","type":"echo","weight":0}]}"#),
        ("weight as text", false, #"{"providers":[{"name":"e","type":"echo","weight":"ten"}]}"#),
        ("negative timeout", false, #"{"providers":[{"name":"e","type":"echo","timeout":-1}]}"#),
        ("timeout over an hour", false, #"{"providers":[{"name":"e","type":"echo","timeout":4000}]}"#),
        ("retry over 100", false, #"{"providers":[{"name":"e","type":"echo","retry":101}]}"#),
        ("fractional priority", false, #"{"providers":[{"name":"e","type":"echo","priority":1.5}]}"#),
        ("an ftp endpoint", false, #"{"providers":[{"name":"a","endpoint":"ftp://a.example","model":"m"}]}"#),
        ("an unknown type", false, #"{"providers":[{"name":"a","type":"mystery","endpoint":"https://a.example","model":"m"}]}"#),
        ("no name", false, #"{"providers":[{"type":"echo"}]}"#),
        ("an empty name", false, #"{"providers":[{"name":"","type":"echo"}]}"#),
        ("no endpoint for openai", false, #"{"providers":[{"name":"a","model":"m"}]}"#),
        ("no model for openai", false, #"{"providers":[{"name":"a","endpoint":"https://a.example"}]}"#),
        ("no providers", false, #"{"aliases":[]}"#),
        ("an empty provider list", false, #"{"providers":[]}"#),
        ("providers not a list", false, #"{"providers":{"name":"e","type":"echo"}}"#),
        ("a breaker written as yes", false, #"{"providers":[{"name":"e","type":"echo","circuit_breaker":"yes"}]}"#),
        ("an error rate over 1", false, #"{"providers":[{"name":"e","type":"echo","circuit_breaker":{"error_rate":1.5}}]}"#),
        ("a check every half second", false, #"{"providers":[{"name":"e","type":"echo","health_check":{"interval_seconds":0.5}}]}"#),
        ("a check path without /", false, #"{"providers":[{"name":"e","type":"echo","health_check":{"path":"models"}}]}"#),
        ("a zero request limit", false, #"{"providers":[{"name":"e","type":"echo","rate_limit":{"requests_per_period":0}}]}"#),
        ("a header holding an object", false, #"{"providers":[{"name":"e","type":"echo","custom_headers":{"X-A":{"b":1}}}]}"#),
        ("a zero context", false, #"{"providers":[{"name":"e","type":"echo","max_context_length":0}]}"#),
        ("aliases as text", false, #"{"aliases":"gpt4","providers":[{"name":"e","type":"echo"}]}"#),
        ("an alias starting with _", false, #"{"aliases":["_x"],"providers":[{"name":"e","type":"echo"}]}"#),
    ]

    static let globalTable: [(name: String, valid: Bool, global: String)] = [
        ("every global setting", true, #"{"api_key":["${K}"],"admin_key":null,"default_timeout":30,"default_retry":1,"log_requests":false,"metrics_public":true,"shutdown_grace_seconds":0,"max_request_body_mb":1.5,"cooldown_seconds":0,"retry_backoff_ms":0,"request_head_timeout_seconds":5,"keep_alive_timeout_seconds":5,"max_request_head_kb":8,"max_stream_event_mb":1,"session_ttl_seconds":10,"responses_max_count":0,"responses_max_mb":0,"responses_ttl_seconds":10,"upstream_connect_timeout_seconds":1,"upstream_idle_timeout_seconds":1,"max_upstream_connections":1,"circuit_breaker":{"timeout_threshold":2},"watch_config":false,"hide_unavailable_models":true}"#),
        ("an api key as a number", false, #"{"api_key":5}"#),
        ("log_requests as text", false, #"{"log_requests":"true"}"#),
        ("a body limit over 1 GB", false, #"{"max_request_body_mb":2048}"#),
        ("no upstream connections", false, #"{"max_upstream_connections":0}"#),
        ("a fractional head limit", false, #"{"max_request_head_kb":1.5}"#),
    ]

    @Test func theLoaderAndTheSchemaAgreeOnATableOfGoodAndBadInputs() async throws {
        var documents = Self.table.map { Document(name: $0.name, format: "json", text: #"{"m":\#($0.model)}"#) }
        documents += Self.globalTable.map {
            Document(name: $0.name, format: "json", text: #"{"_global":\#($0.global),"m":{"providers":[{"name":"e","type":"echo"}]}}"#)
        }
        let verdicts = try await schemaVerdicts(documents)
        let expected = Dictionary(uniqueKeysWithValues: Self.table.map { ($0.name, $0.valid) } + Self.globalTable.map { ($0.name, $0.valid) })
        for document in documents {
            let valid = try #require(expected[document.name])
            let schema = try #require(verdicts[document.name])
            #expect(schema.isEmpty == valid, "schema on \(document.name): \(schema)")
            #expect(loaderAccepts(document) == valid, "loader on \(document.name)")
        }
    }
}
