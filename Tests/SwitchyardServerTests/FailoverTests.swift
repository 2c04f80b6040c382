import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Testing

@Suite("Failover")
struct FailoverTests {
    @Test func serverErrorsAreRetriedThenTheNextProviderServes() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "flaky" ? Reply.error(.serviceUnavailable) : Reply.chatCompletion(content: "from backup")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("flaky", endpoint: upstream.endpoint("flaky"), retry: 2),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            #expect(reply.content == "from backup")
            #expect(upstream.count("flaky") == 3, "retry=2 means three attempts")
            #expect(upstream.count("backup") == 1)
        }
    }

    @Test func retryZeroMeansOneAttempt() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "flaky" ? Reply.error(.internalServerError) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("flaky", endpoint: upstream.endpoint("flaky"), retry: 0),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            #expect(upstream.count("flaky") == 1)
        }
    }

    @Test(arguments: [HTTPResponse.Status.unauthorized, .forbidden, .tooManyRequests])
    func authAndRateLimitErrorsSwitchAtOnce(status: HTTPResponse.Status) async throws {
        let upstream = FakeUpstream { request in
            request.provider == "refusing" ? Reply.error(status) : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("refusing", endpoint: upstream.endpoint("refusing"), retry: 3),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            #expect(reply.header("x-switchyard-provider") == "backup")
            #expect(upstream.count("refusing") == 1, "no retry on \(status.code)")
        }
    }

    @Test func rateLimitedProviderCoolsDownForItsRetryAfter() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "limited"
                ? Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "120"])
                : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("limited", endpoint: upstream.endpoint("limited")),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            for _ in 0..<5 {
                #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200)
            }
            #expect(upstream.count("limited") == 1, "later requests skip the provider while it cools down")
            #expect(upstream.count("backup") == 5)
        }
    }

    @Test func everyProviderCoolingDownAnswers503WithRetryAfter() async throws {
        let upstream = FakeUpstream { _ in Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: "30"]) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("only", endpoint: upstream.endpoint("only"))])
        } _: { client in
            let first = try await client.post("/v1/chat/completions", chatBody())
            #expect(first.status == 429)
            #expect(first.error["type"] as? String == "rate_limit_error")
            #expect(Int(first.header("retry-after") ?? "") == 30)
            let second = try await client.post("/v1/chat/completions", chatBody())
            #expect(second.status == 503)
            #expect(second.error["code"] as? String == "no_available_provider")
            #expect((Int(second.header("retry-after") ?? "") ?? 0) > 0)
            #expect(upstream.count("only") == 1)
        }
    }

    @Test(arguments: [HTTPResponse.Status.badRequest, .notFound, .contentTooLarge, .unprocessableContent])
    func otherClientErrorsPassThroughWithoutFailover(status: HTTPResponse.Status) async throws {
        let upstream = FakeUpstream { request in
            request.provider == "strict"
                ? Reply.json(#"{"error":{"message":"bad things","type":"invalid_request_error","param":"messages","code":"x"}}"#, status: status)
                : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("strict", endpoint: upstream.endpoint("strict"), retry: 3),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == Int(status.code))
            #expect(reply.body == #"{"error":{"message":"bad things","type":"invalid_request_error","param":"messages","code":"x"}}"#)
            #expect(upstream.count("strict") == 1)
            #expect(upstream.count("backup") == 0)
        }
    }

    @Test func allProvidersFailingGivesAnOpenAIShaped502NamingEachAttempt() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "one" ? Reply.error(.badGateway) : Reply.error(.unauthorized)
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("one", endpoint: upstream.endpoint("one"), retry: 1),
                providerJSON("two", endpoint: upstream.endpoint("two"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 502)
            #expect(reply.header("content-type") == "application/json")
            let error = try #require(reply.json["error"] as? [String: Any])
            #expect(Set(error.keys) == ["message", "type", "param", "code"])
            #expect(error["param"] is NSNull)
            #expect(error["code"] as? String == "all_providers_failed")
            #expect(error["type"] as? String == "api_error")
            let message = try #require(error["message"] as? String)
            #expect(message.contains("'m'"))
            #expect(message.contains("one (502, 502)"))
            #expect(message.contains("two (401)"))
            #expect(reply.header("x-should-retry") == "false")
        }
    }

    @Test(arguments: [true, false])
    func aProviderThatTimesOutIsSwitched(breaker: Bool) async throws {
        let release = Gate()
        let upstream = FakeUpstream { request in
            if request.provider == "slow" {
                await release.wait()  // never answers in time; released so the fake can shut down
            }
            return Reply.chatCompletion(content: "fast")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                // Long enough for each attempt's request to reach the fake even when the machine is busy.
                providerJSON("slow", endpoint: upstream.endpoint("slow"), retry: 1, timeout: 5, extra: breaker ? "" : #","circuit_breaker":false"#),
                providerJSON("fast", endpoint: upstream.endpoint("fast"), priority: 2),
            ])
        } _: { client in
            defer { release.open() }  // lets the fake upstream finish so it can shut down
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            #expect(reply.content == "fast")
            // A timeout opens the circuit (each one costs a whole timeout), so it is not retried; without a breaker
            // it is retried like a 5xx.
            #expect(upstream.count("slow") == (breaker ? 1 : 2))
        }
    }

    @Test func aRefusedConnectionIsSwitched() async throws {
        let refusing = try RefusingPort()
        let upstream = FakeUpstream { _ in Reply.chatCompletion(content: "ok") }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("down", endpoint: "http://127.0.0.1:\(refusing.port)/v1", retry: 2),
                providerJSON("up", endpoint: upstream.endpoint("up"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            #expect(reply.header("x-switchyard-provider") == "up")
        }
    }

    @Test func aStreamThatEndsBeforeItsFirstEventFailsOver() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "broken"
                ? Reply.sse(Reply.streamEvents(["never"]), cutAfter: 0)
                : Reply.sse(Reply.streamEvents(["fine"]))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("broken", endpoint: upstream.endpoint("broken")),
                providerJSON("working", endpoint: upstream.endpoint("working"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.status == 200)
            #expect(reply.streamedContent == "fine")
            #expect(reply.events.last == "[DONE]")
        }
    }

    /// A port on 127.0.0.1 with nothing listening.
}

/// Upstreams that misbehave in ways that once crashed or fooled the gateway.
@Suite("Misbehaving upstreams")
struct MisbehavingUpstreamTests {
    /// A body far larger than the socket buffers is still being written when these upstreams answer or close.
    static let largeBody = chatBody(content: String(repeating: "x", count: 20 * 1024 * 1024))

    /// An upstream that answers `status` (or closes, for nil) as soon as a request head has arrived.
    static func earlyUpstream(answering status: Int?) async throws -> ScriptedUpstream {
        try await ScriptedUpstream.start(beforeBody: true) { _ in
            guard let status else { return [.close] }
            let body = #"{"error":{"message":"request rejected early","type":"invalid_request_error","param":null,"code":null}}"#
            return [
                .send("HTTP/1.1 \(status) Rejected\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n\(body)"),
                .close,
            ]
        }
    }

    @Test(arguments: [400, 413, 503])
    func anUpstreamThatAnswersBeforeTheRequestIsWrittenDoesNotCrashTheGateway(status: Int) async throws {
        let early = try await Self.earlyUpstream(answering: status)
        defer { Task { try? await early.stop() } }
        try await GatewayHarness.run {
            modelConfig([providerJSON("early", endpoint: early.endpoint), #"{"name":"e","type":"echo","priority":2}"#])
        } _: { client in
            for _ in 0..<3 {
                let reply = try await client.post("/v1/chat/completions", Self.largeBody)
                #expect([200, 400, 413].contains(reply.status), "got \(reply.status)")
            }
            // A large forwarded header on top: the client-side limit stops what would be over it.
            let header = String(repeating: "h", count: 60 * 1024)
            let reply = try await client.post("/v1/chat/completions", Self.largeBody, headers: [("x-large", header)])
            #expect([200, 400, 413].contains(reply.status))
            #expect(await client.getStatus("/health") == 200, "the gateway is still up")
        }
    }

    @Test func anUpstreamThatAnswersWhileALargeHeadIsStillBeingWrittenDoesNotCrashTheGateway() async throws {
        let early = try await Self.earlyUpstream(answering: 400)
        defer { Task { try? await early.stop() } }
        let header = String(repeating: "v", count: 512 * 1024)
        try await GatewayHarness.run {
            modelConfig([
                providerJSON("early", endpoint: early.endpoint, extra: #","custom_headers":{"X-Huge":"\#(header)"}"#),
                #"{"name":"e","type":"echo","priority":2}"#,
            ])
        } _: { client in
            for _ in 0..<3 {
                let reply = try await client.post("/v1/chat/completions", Self.largeBody)
                #expect([200, 400].contains(reply.status), "got \(reply.status)")
            }
            #expect(await client.getStatus("/health") == 200, "the gateway is still up")
        }
    }

    @Test func anUpstreamThatClosesWhileTheRequestIsWrittenIsFailedOver() async throws {
        let early = try await Self.earlyUpstream(answering: nil)
        defer { Task { try? await early.stop() } }
        try await GatewayHarness.run {
            modelConfig([providerJSON("closing", endpoint: early.endpoint), #"{"name":"e","type":"echo","priority":2}"#])
        } _: { client in
            for _ in 0..<3 {
                let reply = try await client.post("/v1/chat/completions", Self.largeBody)
                #expect(reply.status == 200)
                #expect(reply.header("x-switchyard-provider") == "e")
            }
            #expect(early.requestCount >= 3)
        }
    }
}

extension FailoverTests {
    @Test(arguments: ["1e19", "inf", "-1", "nan"])
    func anAbsurdRetryAfterNeitherCrashesNorLocksAProviderOutForever(hint: String) async throws {
        let upstream = FakeUpstream { request in
            request.provider == "limited"
                ? Reply.error(.tooManyRequests, headers: [HTTPField.Name("Retry-After")!: hint])
                : Reply.chatCompletion(content: "ok")
        }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"retry_backoff_ms":1},"m":{"providers":[\#(providerJSON("limited", endpoint: upstream.endpoint("limited")))]},"#
                + #""n":{"providers":[\#(providerJSON("limited", endpoint: upstream.endpoint("limited"))),\#(providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2))]}}"#
        } _: { client in
            let limited = try await client.post("/v1/chat/completions", chatBody(model: "m"))
            #expect(limited.status == 429)
            let retryAfter = try #require(limited.header("retry-after").flatMap { Int($0) })
            #expect(retryAfter >= 1 && retryAfter <= 86_400)
            // The next request reports the cooldown (the conversion that used to trap).
            let cooling = try await client.post("/v1/chat/completions", chatBody(model: "m"))
            #expect([429, 503].contains(cooling.status))
            #expect(try await client.post("/v1/chat/completions", chatBody(model: "n")).status == 200)
            #expect(await client.getStatus("/admin/providers/m") == 200)
            #expect(await client.getStatus("/health") == 200)
        }
    }

    @Test func anHTMLPageWith200IsNotAnAnswer() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "wrong-path"
                ? Response(status: .ok, headers: [.contentType: "text/html"], body: .init(byteBuffer: ByteBuffer(string: "<html>Welcome to nginx!</html>")))
                : Reply.chatCompletion(content: "real answer")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("wrong-path", endpoint: upstream.endpoint("wrong-path")),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.content == "real answer")
            #expect(reply.header("x-switchyard-provider") == "backup")
        }
    }

    @Test func anEventStreamFromAProviderConfiguredNotToStreamIsNotAJSONAnswer() async throws {
        let upstream = FakeUpstream { request in
            request.provider == "claims-json" ? Reply.sse(Reply.streamEvents(["streamed"])) : Reply.chatCompletion(content: "json")
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("claims-json", endpoint: upstream.endpoint("claims-json"), extra: #","stream_support":false"#),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.content == "json")
            #expect(upstream.count("claims-json") == 1)
        }
    }

    /// Openings that carry no content: comments (OpenRouter's keep-alives), a role-only chunk, empty deltas.
    static let emptyDelta = #"data: {"id":"chatcmpl-broken","object":"chat.completion.chunk","created":1,"model":"upstream-model","choices":[{"index":0,"delta":{"content":""},"finish_reason":null}]}"# + "\n\n"

    @Test(arguments: [
        "comments, then a reset", "comments, then an error event", "a role chunk, then a reset", "empty deltas, then a reset",
    ])
    func aStreamThatFailsAfterAnOpeningWithoutContentFailsOverInvisibly(opening: String) async throws {
        let upstream = FakeUpstream { request in
            guard request.provider == "broken" else { return Reply.sse(Reply.streamEvents(["from", " backup"])) }
            switch opening {
            case "comments, then a reset":
                return Reply.sse([": OPENROUTER PROCESSING\n\n", ": OPENROUTER PROCESSING\n\n"], cutAfter: 2)
            case "comments, then an error event":
                return Reply.sse([": OPENROUTER PROCESSING\n\n", #"data: {"error":{"message":"overloaded","code":502}}"# + "\n\n"])
            case "a role chunk, then a reset":
                return Reply.sse([Reply.roleChunk(id: "chatcmpl-broken"), Reply.chunk("never")], cutAfter: 1)
            default:
                return Reply.sse([Self.emptyDelta, Self.emptyDelta, Reply.chunk("never")], cutAfter: 2)
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("broken", endpoint: upstream.endpoint("broken")),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.status == 200)
            #expect(reply.header("x-switchyard-provider") == "backup")
            #expect(reply.streamedContent == "from backup")
            // Nothing of the failed attempt reaches the client: its opening was held back.
            #expect(!reply.body.contains("PROCESSING") && !reply.body.contains("chatcmpl-broken") && !reply.body.contains("error"))
            #expect(reply.events.filter { $0.contains(#""role":"assistant""#) }.count == 1)
            #expect(reply.events.last == "[DONE]")
        }
    }

    @Test func clientErrorsNameProvidersAndKindsButNoAddresses() async throws {
        let refusing = try RefusingPort()
        try await GatewayHarness.run {
            modelConfig([providerJSON("down", endpoint: "http://127.0.0.1:\(refusing.port)/v1")])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 502)
            let message = try #require(reply.error["message"] as? String)
            #expect(message.contains("down (connection error)"))
            #expect(!message.contains("127.0.0.1"), "\(message)")
            #expect(!message.contains(String(refusing.port)))
        }
    }
}

extension MisbehavingUpstreamTests {
    @Test func aBodyThatStallsAfterItsHeadersTimesOutAndFailsOver() async throws {
        let upstream = FakeUpstream { request in
            guard request.provider == "stalling" else { return Reply.chatCompletion(content: "backup") }
            return Response(
                status: .ok, headers: [.contentType: "application/json"],
                body: ResponseBody { writer in
                    try await writer.write(ByteBuffer(string: #"{"id":"chatcmpl-1","choices":["#))
                    try? await Task.sleep(for: .milliseconds(1500))
                    try await writer.finish(nil)
                })
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("stalling", endpoint: upstream.endpoint("stalling"), timeout: 0.3),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.content == "backup")
            // Had the silence not been bounded, the truncated body would have ended 1.5 s later as an invalid answer.
            let log = client.configFile.deletingLastPathComponent().appendingPathComponent("logs/requests.log")
            var attempts: [[String: Any]] = []
            for _ in 0..<50 where attempts.isEmpty {
                try await Task.sleep(for: .milliseconds(100))
                let line = (try? String(contentsOf: log, encoding: .utf8))?.split(separator: "\n").first.map(String.init) ?? ""
                attempts = ((try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any])?["attempts"] as? [[String: Any]] ?? []
            }
            #expect(attempts.first?["result"] as? String == "timeout")
        }
    }
}
