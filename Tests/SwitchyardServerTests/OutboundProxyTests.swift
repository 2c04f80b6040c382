import Foundation
import Testing

/// Outbound proxies against the running gateway and a proxy started beside the test: HTTPS through `CONNECT`
/// (TLS end to end, the proxy sees only the tunnel), plain HTTP with an absolute URI, SOCKS5, a pool whose failing
/// proxy is taken out, falling back to going directly, and health checks.
@Suite("Outbound proxies")
struct OutboundProxyTests {
    func states(_ client: GatewayClient) async throws -> [[String: Any]] {
        try await client.get("/admin/providers/m").jsonArray.first?["proxies"] as? [[String: Any]] ?? []
    }

    @Test func anHTTPSUpstreamIsReachedThroughAConnectTunnelWithTheProxysLoginNeverLogged() async throws {
        let upstream = try await TLSUpstream()
        let proxy = try TestProxy(auth: "tunnel:secret-pw")
        defer { proxy.stop() }
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let caFile = try TestCertificates.write(TestCertificates.authority, named: "ca.pem", in: directory)
        do {
            try await GatewayHarness.run {
                modelConfig([
                    providerJSON("tls", endpoint: upstream.endpoint, extra: #","ca_file":"\#(caFile)","proxy":"\#(proxy.url(auth: "tunnel:secret-pw"))""#)
                ])
            } _: { client in
                let answer = try await client.post("/v1/chat/completions", chatBody())
                #expect(answer.status == 200 && answer.content == "over TLS", "\(answer.body)")
                let port = URLComponents(string: upstream.endpoint)?.port ?? 0
                #expect(proxy.carried == [
                    .init(method: "CONNECT", target: "127.0.0.1:\(port)", proxyAuthorization: "Basic " + Data("tunnel:secret-pw".utf8).base64EncodedString())
                ])
                let states = try await states(client)
                #expect(states.first?["proxy"] as? String == "http://127.0.0.1:\(proxy.port)" && states.first?["state"] as? String == "usable")
                #expect(!(try await client.get("/admin/providers/m").body).contains("secret-pw"))
                let logs = client.configFile.deletingLastPathComponent().appendingPathComponent("logs")
                for name in (try? FileManager.default.contentsOfDirectory(atPath: logs.path)) ?? [] {
                    let text = (try? String(contentsOf: logs.appendingPathComponent(name), encoding: .utf8)) ?? ""
                    #expect(!text.contains("secret-pw"), "\(name) holds the proxy's password")
                }
            }
        } catch {
            try await upstream.close()
            throw error
        }
        try await upstream.close()
    }

    @Test func aPlainHTTPUpstreamGoesToTheProxyWithAnAbsoluteURIAndProxyNullGoesDirectly() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: "from \(request.provider)") }
        let proxy = try TestProxy()
        defer { proxy.stop() }
        try await GatewayHarness.run(upstream: upstream) {
            #"""
            {"_global":{"retry_backoff_ms":1,"proxy":"\#(proxy.url())"},
             "m":{"providers":[\#(providerJSON("proxied", endpoint: upstream.endpoint("proxied")))]},
             "d":{"providers":[\#(providerJSON("direct", endpoint: upstream.endpoint("direct"), extra: #","proxy":null"#))]}}
            """#
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from proxied")
            let carried = try #require(proxy.carried.first)
            #expect(carried.method == "POST" && carried.target.hasPrefix("http://127.0.0.1:") && carried.target.hasSuffix("/proxied/v1/chat/completions"))
            #expect(carried.proxyAuthorization == nil)
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "d")).content == "from direct")
            #expect(proxy.carried.count == 1, "proxy: null goes directly")
            #expect(upstream.count("proxied") == 1 && upstream.count("direct") == 1)
        }
    }

    @Test func aSOCKS5ProxyCarriesTheConnection() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "via socks") }
        let proxy = try TestProxy(socks5: true)
        defer { proxy.stop() }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","proxy":"socks5://127.0.0.1:\#(proxy.port)""#)])
        } _: { client in
            let answer = try await client.post("/v1/chat/completions", chatBody())
            #expect(answer.content == "via socks")
            #expect(proxy.carried.first?.method == "SOCKS5" && proxy.carried.first?.target.hasPrefix("127.0.0.1:") == true)
        }
    }

    @Test func aProxyThatFailsARequestIsTakenOutAndTheOthersCarryOn() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "fine") }
        let proxy = try TestProxy()
        defer { proxy.stop() }
        let refusing = try RefusingPort()
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), retry: 1, extra: #","proxies":["http://127.0.0.1:\#(refusing.port)","\#(proxy.url())"]"#)
            ])
        } _: { client in
            for _ in 0..<4 {
                #expect(try await client.post("/v1/chat/completions", chatBody()).content == "fine")
            }
            #expect(proxy.carried.count == 4, "every request went through the working proxy")
            let states = try await states(client)
            #expect(states.map { $0["state"] as? String } == ["out", "usable"])
            #expect((states.first?["reason"] as? String)?.contains("connection refused") == true)
            #expect(states.first?["until"] is String, "without health checks it comes back after cooldown_seconds")
            let events = try await client.get("/admin/events?action=PROXY_DOWN").json["events"] as? [[String: Any]] ?? []
            #expect(events.count == 1 && (events.first?["detail"] as? String)?.hasPrefix("http://127.0.0.1:\(refusing.port)") == true)
        }
    }

    @Test func whenNoProxyIsUsableTheRequestGoesDirectlyOnlyWithFallback() async throws {
        let upstream = FakeUpstream { request in Reply.chatCompletion(content: "from \(request.provider)") }
        let refusing = try RefusingPort()
        try await GatewayHarness.run(upstream: upstream) {
            #"""
            {"_global":{"retry_backoff_ms":1},
             "m":{"providers":[\#(providerJSON("a", endpoint: upstream.endpoint("a"), retry: 1, extra: #","proxy":"http://127.0.0.1:\#(refusing.port)","fallback_to_direct":true"#))]},
             "strict":{"providers":[\#(providerJSON("b", endpoint: upstream.endpoint("b"), retry: 1, extra: #","proxy":"http://127.0.0.1:\#(refusing.port)""#))]}}
            """#
        } _: { client in
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "from a", "the retry went directly")
            let strict = try await client.post("/v1/chat/completions", chatBody(model: "strict"))
            #expect(strict.status == 502 && upstream.count("b") == 0, "\(strict.body)")
            #expect((strict.error["message"] as? String)?.contains("connection error") == true)
        }
    }

    @Test func aHealthCheckWithACheckURLFetchesItThroughTheProxy() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "fine") }
        let proxy = try TestProxy()
        defer { proxy.stop() }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","proxy":"\#(proxy.url())","proxy_health":{"interval_seconds":60,"check_url":"http://127.0.0.1:\#(upstream.port)/a/v1/models"}"#)
            ])
        } _: { client in
            let checkURL = "http://127.0.0.1:\(upstream.port)/a/v1/models"
            #expect(await eventually { proxy.carried.contains(.init(method: "GET", target: checkURL, proxyAuthorization: nil)) })
            let state = try await states(client).first?["state"] as? String
            #expect(state == "usable")
        }
    }

    @Test func aFailingHealthCheckTakesAProxyOutUntilACheckPasses() async throws {
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "fine") }
        let refusing = try RefusingPort()
        let proxy = try TestProxy()
        defer { proxy.stop() }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","proxies":["http://127.0.0.1:\#(refusing.port)","\#(proxy.url())"],"proxy_health":{"interval_seconds":60,"timeout_seconds":2}"#)
            ])
        } _: { client in
            #expect(try await eventually { try await states(client).map { $0["state"] as? String } == ["out", "usable"] })
            let out = try await states(client).first
            #expect(out?["until"] is NSNull && (out?["reason"] as? String)?.hasPrefix("health check failed") == true)
            #expect(try await client.post("/v1/chat/completions", chatBody()).content == "fine")
            #expect(proxy.carried.count == 1, "no request tried the proxy the check took out")
        }
    }
}
