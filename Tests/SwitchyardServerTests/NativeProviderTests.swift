import NIOConcurrencyHelpers
import Foundation
import Testing

/// OpenAI clients served by providers of other kinds (Anthropic, Gemini, GigaChat, Azure) through the real server
/// and fake native upstreams: requests translated, answers and streams translated back, failover, usage and
/// credentials as for any provider.
@Suite("Native providers")
struct NativeProviderTests {
    /// An Anthropic upstream that answers with `words`, streamed when asked to.
    static func anthropicUpstream(saying words: [String]) -> FakeUpstream {
        FakeUpstream { request in
            request.json["stream"] as? Bool == true
                ? Reply.sse(NativeReply.anthropicStream(words)) : NativeReply.anthropicMessage(words.joined())
        }
    }

    @Test("an Anthropic provider answers an OpenAI client, and its usage counts with cache tokens")
    func anAnthropicProviderAnswersAnOpenAIClient() async throws {
        let upstream = Self.anthropicUpstream(saying: ["Hello", " there"])
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"), model: "claude-up", extra: #","type":"anthropic""#)])
        } _: { client in
            let body = #"{"model":"m","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":"hi"}]}"#
            let reply = try await client.post("/v1/chat/completions", body)
            #expect(reply.status == 200)
            #expect(reply.content == "Hello there")
            let usage = reply.json["usage"] as? [String: Any]
            #expect(usage?["prompt_tokens"] as? Int == 14 && usage?["completion_tokens"] as? Int == 5)
            let choice = (reply.json["choices"] as? [[String: Any]])?.first
            #expect(choice?["finish_reason"] as? String == "stop")

            let sent = try #require(upstream.requests.first)
            #expect(sent.path == "messages")
            #expect(sent.header("x-api-key") == "key-a" && sent.header("anthropic-version") == "2023-06-01")
            #expect(sent.header("authorization") == nil)
            #expect(sent.json["model"] as? String == "claude-up")
            #expect(sent.json["max_tokens"] as? Int == 4096, "max_tokens is always sent")
            #expect(sent.json["system"] != nil && (sent.json["messages"] as? [Any])?.count == 1)

            let streamed = try await client.post(
                "/v1/chat/completions", chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#)
            )
            #expect(streamed.status == 200)
            #expect(streamed.streamedContent == "Hello there")
            #expect(streamed.events.last == "[DONE]")
            let deltas = streamed.eventObjects.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            #expect(deltas.first?["role"] as? String == "assistant")
            let usageChunk = streamed.eventObjects.last { ($0["choices"] as? [Any])?.isEmpty == true }
            #expect((usageChunk?["usage"] as? [String: Any])?["total_tokens"] as? Int == 19)

            let stats = try await client.get("/admin/stats")
            #expect(((stats.json["m"] as? [String: Any])?["a"] as? [String: Any])?["tokens"] as? Int == 38)
        }
    }

    @Test("a long context is read and translated off the event loop: whole, streamed, and refused in the dialect when malformed")
    func aLongContextIsTranslatedWholeAndAMalformedOneIsRefused() async throws {
        let upstream = Self.anthropicUpstream(saying: ["long", " read"])
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("a", endpoint: upstream.endpoint("a"), model: "claude-up", extra: #","type":"anthropic""#)])
        } _: { client in
            let context = String(repeating: "word ", count: 60_000)  // 300 KB, over what is read on the loop
            let reply = try await client.post("/v1/chat/completions", chatBody(content: context))
            #expect(reply.status == 200 && reply.content == "long read", "\(reply.body)")
            let sent = try #require(upstream.requests.first)
            let reachedWhole = sent.path == "messages" && sent.bodyString.contains(#""text":"\#(context)""#)
            #expect(reachedWhole, "the whole context reaches the provider in its API")

            let streamed = try await client.post("/v1/chat/completions", chatBody(content: context, stream: true))
            #expect(streamed.streamedContent == "long read")

            let malformed = try await client.post("/v1/chat/completions", #"{"model":"m","messages":[{"role":"user","content":""# + context)
            #expect(malformed.status == 400)
            #expect(malformed.error["type"] as? String == "invalid_request_error", "\(malformed.body)")
            #expect(upstream.requests.count == 2)
        }
    }

    @Test("an Anthropic overloaded answer and an error event before the first byte both fail over to an OpenAI provider")
    func anthropicFailuresFailOverToAnOpenAIProvider() async throws {
        let upstream = FakeUpstream { request in
            switch request.provider {
            case "overloaded": NativeReply.anthropicError(529, type: "overloaded_error", message: "Overloaded")
            case "erroring":
                Reply.sse([
                    NativeReply.anthropicStream(["x"])[0],
                    NativeReply.anthropicEvent("error", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
                ])
            default:
                request.json["stream"] as? Bool == true
                    ? Reply.sse(Reply.streamEvents(["from", " openai"])) : Reply.chatCompletion(content: "from openai")
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("overloaded", endpoint: upstream.endpoint("overloaded"), extra: #","type":"anthropic""#),
                providerJSON("erroring", endpoint: upstream.endpoint("erroring"), priority: 2, extra: #","type":"anthropic""#),
                providerJSON("openai", endpoint: upstream.endpoint("openai"), priority: 3),
            ])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.status == 200)
            #expect(reply.streamedContent == "from openai")
            #expect(reply.header("x-switchyard-provider") == "openai")
            #expect(upstream.count("overloaded") == 1 && upstream.count("erroring") == 1)
        }
    }

    @Test("a Gemini provider answers an OpenAI client: CRLF stream with [DONE] added, tool calls with finish_reason tool_calls")
    func aGeminiProviderAnswersAnOpenAIClient() async throws {
        let upstream = FakeUpstream { request in
            if request.path.hasSuffix(":streamGenerateContent") {
                return Reply.sse(NativeReply.geminiStream(["Hello", " from Gemini"]))
            }
            return Reply.json(request.json["tools"] != nil ? NativeReply.geminiFunctionCall : NativeReply.geminiText("Hello from Gemini"))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("g", endpoint: upstream.endpoint("g", base: "v1beta"), model: "gemini-up", extra: #","type":"gemini""#)])
        } _: { client in
            let streamed = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(streamed.status == 200)
            #expect(streamed.streamedContent == "Hello from Gemini")
            #expect(streamed.events.last == "[DONE]")
            let sent = try #require(upstream.requests.first)
            #expect(sent.path == "models/gemini-up:streamGenerateContent" && sent.query == "alt=sse")
            #expect(sent.header("x-goog-api-key") == "key-g")
            #expect((sent.json["contents"] as? [[String: Any]])?.first?["role"] as? String == "user")

            let tools = #","tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","additionalProperties":false,"properties":{"city":{"type":"string"}}}}}]"#
            let called = try await client.post("/v1/chat/completions", chatBody(extra: tools))
            #expect(called.status == 200)
            let choice = try #require((called.json["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "tool_calls")
            let call = ((choice["message"] as? [String: Any])?["tool_calls"] as? [[String: Any]])?.first
            #expect((call?["function"] as? [String: Any])?["arguments"] as? String == #"{"city":"Paris"}"#)
            let declarations = (upstream.requests.last?.json["tools"] as? [[String: Any]])?.first?["functionDeclarations"] as? [[String: Any]]
            let parameters = declarations?.first?["parameters"] as? [String: Any]
            #expect(parameters != nil && parameters?["additionalProperties"] == nil, "schemas are cleaned for Gemini")
        }
    }

    @Test("GigaChat's access token is fetched once, shared, and refreshed once when the upstream refuses it")
    func gigaChatTokensAreCachedAndRefreshedOnce() async throws {
        let tokens = NIOLockedValueBox(0)
        let refusedOnce = NIOLockedValueBox(false)
        let upstream = FakeUpstream { request in
            if request.path == "oauth" {
                let number = tokens.withLockedValue { count -> Int in
                    count += 1
                    return count
                }
                let expires = Int((Date().timeIntervalSince1970 + 1800) * 1000)
                return Reply.json(#"{"access_token":"token-\#(number)","expires_at":\#(expires)}"#)
            }
            if request.header("authorization") == "Bearer token-1", request.bodyString.contains("refuse") {
                if !refusedOnce.withLockedValue({ refused -> Bool in
                    defer { refused = true }
                    return refused
                }) {
                    return Reply.error(.unauthorized, message: "token expired")
                }
            }
            return Reply.json(
                #"{"choices":[{"message":{"role":"assistant","content":"Привет"},"index":0,"finish_reason":"stop"}],"created":1,"model":"GigaChat","object":"chat.completion","usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#
            )
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                #"{"name":"giga","type":"gigachat","endpoint":"\#(upstream.endpoint("giga", base: "api/v1"))","auth_url":"http://127.0.0.1:\#(upstream.port)/giga/oauth","api_key":"auth-key","model":"GigaChat","retry":0}"#
            ])
        } _: { client in
            async let first = client.post("/v1/chat/completions", chatBody())
            async let second = client.post("/v1/chat/completions", chatBody())
            let replies = try await [first, second]
            #expect(replies.allSatisfy { $0.status == 200 && $0.content == "Привет" })
            #expect(tokens.withLockedValue { $0 } == 1, "concurrent requests share one token")
            let oauth = try #require(upstream.requests.first { $0.path == "oauth" })
            #expect(oauth.header("authorization") == "Basic auth-key")
            #expect(oauth.bodyString == "scope=GIGACHAT_API_PERS")
            #expect(UUID(uuidString: oauth.header("rquid") ?? "") != nil)

            let refused = try await client.post("/v1/chat/completions", chatBody(content: "refuse"))
            #expect(refused.status == 200)
            #expect(tokens.withLockedValue { $0 } == 2, "a refused token is replaced once")
            #expect(upstream.requests.last?.header("authorization") == "Bearer token-2")
        }
    }

    @Test("an Azure provider gets deployment URLs and its prompt-filter chunks are not relayed")
    func azureDeploymentsAndPromptFilterChunks() async throws {
        let upstream = FakeUpstream { _ in
            Reply.sse(
                [#"data: {"id":"","object":"","created":0,"model":"","choices":[],"prompt_filter_results":[{"prompt_index":0,"content_filter_results":{}}]}"# + "\n\n"]
                    + Reply.streamEvents(["Hi"], usage: nil)
            )
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("az", endpoint: upstream.endpoint("az", base: "openai"), model: "gpt-4o", extra: #","type":"azure","deployment":"prod""#)])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.status == 200)
            #expect(!reply.body.contains("prompt_filter_results"))
            #expect(reply.streamedContent == "Hi")
            let sent = try #require(upstream.requests.first)
            #expect(sent.path == "deployments/prod/chat/completions" && sent.query == "api-version=2024-10-21")
            #expect(sent.header("api-key") == "key-az")
        }
    }

    @Test("Gemini's native routes are served by other kinds through translation, unless the request uses what only Gemini has")
    func geminiNativeRoutesOnOtherKinds() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"name":"echo","type":"echo"}]}}"#
        } _: { client in
            let reply = try await client.post("/v1beta/models/m:generateContent", #"{"contents":[{"role":"user","parts":[{"text":"hi there"}]}]}"#)
            #expect(reply.status == 200)
            let candidate = (reply.json["candidates"] as? [[String: Any]])?.first
            let parts = (candidate?["content"] as? [String: Any])?["parts"] as? [[String: Any]]
            #expect(parts?.first?["text"] as? String == "hi there")
            #expect(candidate?["finishReason"] as? String == "STOP")
            #expect((reply.json["usageMetadata"] as? [String: Any])?["totalTokenCount"] != nil)

            let streamed = try await client.post(
                "/v1beta/models/m:streamGenerateContent?alt=sse", #"{"contents":[{"role":"user","parts":[{"text":"one two"}]}]}"#
            )
            #expect(streamed.status == 200)
            #expect(!streamed.body.contains("[DONE]"))
            let texts = streamed.eventObjects.flatMap { event -> [String] in
                let candidates = event["candidates"] as? [[String: Any]] ?? []
                return candidates.flatMap { (($0["content"] as? [String: Any])?["parts"] as? [[String: Any]] ?? []).compactMap { $0["text"] as? String } }
            }
            #expect(texts.joined() == "one two")

            let grounded = try await client.post(
                "/v1beta/models/m:generateContent", #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"googleSearch":{}}]}"#
            )
            #expect(grounded.status == 400)
            #expect(grounded.error["status"] as? String == "INVALID_ARGUMENT")
            let missing = try await client.post("/v1beta/models/nope:generateContent", "{}")
            #expect(missing.status == 404 && missing.error["status"] as? String == "NOT_FOUND")
        }
    }

    @Test("embeddings cannot be served by an Anthropic provider, and the client is told so")
    func embeddingsNeedAnOpenAIKind() async throws {
        try await GatewayHarness.run {
            modelConfig([providerJSON("a", endpoint: "https://api.anthropic.com/v1", extra: #","type":"anthropic""#)])
        } _: { client in
            let reply = try await client.post("/v1/embeddings", #"{"model":"m","input":"x"}"#)
            #expect(reply.status == 400)
            #expect(reply.error["code"] as? String == "unsupported_api")
        }
    }
}

/// A provider's `ca_file` adds trust; it never turns verification off.
@Suite("Private certificate authorities")
struct PrivateAuthorityTests {
    @Test("a provider whose certificate a private CA issued is reached with ca_file and refused without it")
    func caFileTrustsAPrivateAuthorityAndOnlyForThatProvider() async throws {
        let upstream = try await TLSUpstream()
        let directory = try temporaryDirectory()
        defer { try? FileManager.default.removeItem(at: directory) }
        let caFile = try TestCertificates.write(TestCertificates.authority, named: "ca.pem", in: directory)
        do {
            try await GatewayHarness.run {
                #"""
                {"_global":{"retry_backoff_ms":1},
                 "trusted":{"providers":[{"name":"tls","endpoint":"\#(upstream.endpoint)","model":"m","retry":0,"ca_file":"\#(caFile)"}]},
                 "untrusted":{"providers":[{"name":"tls","endpoint":"\#(upstream.endpoint)","model":"m","retry":0}]}}
                """#
            } _: { client in
                let trusted = try await client.post("/v1/chat/completions", chatBody(model: "trusted"))
                #expect(trusted.status == 200)
                #expect(trusted.content == "over TLS")
                let untrusted = try await client.post("/v1/chat/completions", chatBody(model: "untrusted"))
                #expect(untrusted.status == 502, "an unknown authority is refused: \(untrusted.body)")
                let message = untrusted.error["message"] as? String ?? ""
                #expect(message.contains("tls (connection error)"), "\(message)")
                #expect(!message.contains("/") && !message.contains(".c"), "no library text or build path: \(message)")
            }
        } catch {
            try await upstream.close()
            throw error
        }
        try await upstream.close()
    }
}

/// `/v1/messages` clients served by providers of other dialects, errors included.
@Suite("Anthropic clients on other providers")
struct AnthropicClientTests {
    static let messages = #"{"model":"m","max_tokens":64,"stream":STREAM,"messages":[{"role":"user","content":"hi"}]}"#

    static func body(stream: Bool) -> String {
        messages.replacingOccurrences(of: "STREAM", with: stream ? "true" : "false")
    }

    @Test("a Gemini provider serves /v1/messages through both translations, streaming and not")
    func aGeminiProviderServesAnthropicClients() async throws {
        let upstream = FakeUpstream { request in
            request.path.hasSuffix(":streamGenerateContent")
                ? Reply.sse(NativeReply.geminiStream(["Hello", " from Gemini"]))
                : Reply.json(NativeReply.geminiText("Hello from Gemini"))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("g", endpoint: upstream.endpoint("g", base: "v1beta"), model: "gemini-up", extra: #","type":"gemini""#)])
        } _: { client in
            let reply = try await client.post("/v1/messages", Self.body(stream: false))
            #expect(reply.status == 200)
            #expect(reply.json["type"] as? String == "message")
            #expect(((reply.json["content"] as? [[String: Any]])?.first?["text"]) as? String == "Hello from Gemini")
            #expect(reply.json["stop_reason"] as? String == "end_turn")
            #expect((reply.json["usage"] as? [String: Any])?["output_tokens"] as? Int == 5)

            let streamed = try await client.post("/v1/messages", Self.body(stream: true))
            #expect(streamed.status == 200)
            let types = streamed.eventObjects.compactMap { $0["type"] as? String }
            #expect(types.first == "message_start" && types.last == "message_stop")
            let text = streamed.eventObjects.compactMap { (($0["delta"] as? [String: Any])?["text"]) as? String }.joined()
            #expect(text == "Hello from Gemini")
            #expect(!streamed.body.contains("[DONE]"))
        }
    }

    @Test("a document block reaches an Anthropic provider untouched; an OpenAI provider's model answers why it cannot")
    func documentsReachOnlyAnthropicProviders() async throws {
        let upstream = FakeUpstream { _ in NativeReply.anthropicMessage("read it") }
        let document = #"{"model":"MODEL","max_tokens":64,"messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="}},{"type":"text","text":"Summarise"}]}]}"#
        try await GatewayHarness.run(upstream: upstream) {
            #"""
            {"_global":{"retry_backoff_ms":1},
             "claude":{"providers":[\#(providerJSON("a", endpoint: upstream.endpoint("a"), extra: #","type":"anthropic""#))]},
             "gpt":{"providers":[\#(providerJSON("o", endpoint: upstream.endpoint("o")))]}}
            """#
        } _: { client in
            let served = try await client.post("/v1/messages", document.replacingOccurrences(of: "MODEL", with: "claude"))
            #expect(served.status == 200)
            #expect(upstream.requests.first?.bodyString.contains(#""type":"document""#) == true)
            let refused = try await client.post("/v1/messages", document.replacingOccurrences(of: "MODEL", with: "gpt"))
            #expect(refused.status == 400)
            let error = refused.json["error"] as? [String: Any]
            #expect(error?["type"] as? String == "invalid_request_error")
            #expect((error?["message"] as? String)?.contains("messages[0].content[0]") == true, "\(refused.body)")
            #expect(upstream.count("o") == 0)
        }
    }

    @Test("a request shaped like Claude Code's (system blocks with cache_control, thinking, metadata, tools, a tool round trip) is served by a non-Anthropic provider")
    func aClaudeCodeShapedRequestIsTranslated() async throws {
        try await GatewayHarness.run {
            #"{"m":{"providers":[{"name":"echo","type":"echo"}]}}"#
        } _: { client in
            let body = #"""
                {"model":"m","max_tokens":32000,"stream":true,
                 "system":[{"type":"text","text":"You are Claude Code.","cache_control":{"type":"ephemeral"}}],
                 "thinking":{"type":"enabled","budget_tokens":1024},"metadata":{"user_id":"user_abc"},
                 "tools":[{"name":"Bash","description":"Run a command","input_schema":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object","properties":{"command":{"type":"string"}},"required":["command"],"additionalProperties":false}}],
                 "tool_choice":{"type":"auto"},
                 "messages":[
                   {"role":"user","content":[{"type":"text","text":"list files"}]},
                   {"role":"assistant","content":[{"type":"thinking","thinking":"…","signature":"sig"},{"type":"text","text":"Running ls."},{"type":"tool_use","id":"toolu_1","name":"Bash","input":{"command":"ls"}}]},
                   {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":[{"type":"text","text":"a.txt"}]},{"type":"text","text":"thanks","cache_control":{"type":"ephemeral"}}]}]}
                """#
            let reply = try await client.post("/v1/messages?beta=true", body, headers: [("anthropic-beta", "interleaved-thinking-2025-05-14")])
            #expect(reply.status == 200, "\(reply.body)")
            let types = reply.eventObjects.compactMap { $0["type"] as? String }
            #expect(types.first == "message_start" && types.last == "message_stop")
            let text = reply.eventObjects.compactMap { (($0["delta"] as? [String: Any])?["text"]) as? String }.joined()
            #expect(text == "thanks", "echo repeats the last user text")
        }
    }

    @Test("an upstream's 400 and a stream that breaks reach Anthropic clients in Anthropic's shape")
    func upstreamErrorsAreInAnthropicShape() async throws {
        let upstream = FakeUpstream { request in
            if request.provider == "rejects" { return Reply.error(.badRequest, message: "context too long") }
            return Reply.sse(Reply.streamEvents(["Hel", "lo"]), cutAfter: 3)
        }
        try await GatewayHarness.run(upstream: upstream) {
            #"""
            {"_global":{"retry_backoff_ms":1},
             "m":{"providers":[\#(providerJSON("rejects", endpoint: upstream.endpoint("rejects")))]},
             "cut":{"providers":[\#(providerJSON("cut", endpoint: upstream.endpoint("cut")))]}}
            """#
        } _: { client in
            let rejected = try await client.post("/v1/messages", Self.body(stream: false))
            #expect(rejected.status == 400)
            #expect(rejected.json["type"] as? String == "error")
            let error = rejected.json["error"] as? [String: Any]
            #expect(error?["type"] as? String == "invalid_request_error")
            #expect((error?["message"] as? String)?.contains("context too long") == true)

            let missing = try await client.post("/v1/messages", #"{"model":"nope","max_tokens":5,"messages":[]}"#)
            #expect(missing.status == 404 && (missing.json["error"] as? [String: Any])?["type"] as? String == "not_found_error")

            let broken = try await client.post("/v1/messages", Self.body(stream: true).replacingOccurrences(of: #""m""#, with: #""cut""#))
            #expect(broken.status == 200)
            #expect(broken.body.contains("event: error"))
            #expect(!broken.body.contains("message_stop"))
            #expect(broken.eventObjects.last?["type"] as? String == "error")
        }
    }
}
