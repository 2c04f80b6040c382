import Foundation
import Testing

@Suite("Stream conversion")
struct ConversionTests {
    @Test func aStreamingClientOnANonStreamingProviderGetsASynthesizedStream() async throws {
        let upstream = FakeUpstream { _ in
            Reply.json(
                #"{"id":"chatcmpl-9","object":"chat.completion","created":1700000001,"model":"upstream-model","choices":[{"index":0,"message":{"role":"assistant","content":"Hello!","tool_calls":[{"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":1}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}"#
            )
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","stream_support":false"#)])
        } _: { client in
            let reply = try await client.post(
                "/v1/chat/completions", chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#)
            )
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "text/event-stream")
            let sent = try #require(upstream.requests.first)
            #expect(sent.json["stream"] as? Bool == false, "the provider is asked for a non-stream answer")
            #expect(sent.json["stream_options"] == nil)

            let chunks = reply.eventObjects
            #expect(reply.events.last == "[DONE]")
            #expect(Set(chunks.compactMap { $0["id"] as? String }) == ["chatcmpl-9"])
            let deltas = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any] }
            #expect(deltas.first?["role"] as? String == "assistant")
            #expect(reply.streamedContent == "Hello!")
            let toolCalls = deltas.compactMap { $0["tool_calls"] as? [[String: Any]] }
            let call = try #require(toolCalls.first?.first)
            #expect(call["index"] as? Int == 0)
            #expect((call["function"] as? [String: Any])?["arguments"] as? String == #"{"q":1}"#)
            let finishes = chunks.compactMap { ($0["choices"] as? [[String: Any]])?.first?["finish_reason"] as? String }
            #expect(finishes == ["tool_calls"])
            let usageChunk = try #require(chunks.last)
            #expect((usageChunk["choices"] as? [Any])?.isEmpty == true)
            #expect((usageChunk["usage"] as? [String: Any])?["total_tokens"] as? Int == 5)
        }
    }

    @Test func aNonStreamingClientOnAStreamOnlyProviderGetsOneAggregatedAnswer() async throws {
        let upstream = FakeUpstream { _ in
            Reply.sse([
                Reply.roleChunk(),
                Reply.chunk("Hel"),
                Reply.chunk("lo"),
                #"data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_7","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"# + "\n\n",
                #"data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"# + "\n\n",
                #"data: {"id":"chatcmpl-s","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Oslo\"}"}}]},"finish_reason":null}]}"# + "\n\n",
                Reply.chunk("", finish: "tool_calls"),
                Reply.usageChunk(prompt: 11, completion: 9),
                Reply.done,
            ])
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","non_stream_support":false"#)])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody())
            #expect(reply.status == 200)
            let sent = try #require(upstream.requests.first)
            #expect(sent.json["stream"] as? Bool == true)
            #expect((sent.json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)

            #expect(reply.json["object"] as? String == "chat.completion")
            #expect(reply.json["id"] as? String == "chatcmpl-s")
            let choice = try #require((reply.json["choices"] as? [[String: Any]])?.first)
            #expect(choice["finish_reason"] as? String == "tool_calls")
            let message = try #require(choice["message"] as? [String: Any])
            #expect(message["content"] as? String == "Hello")
            let call = try #require((message["tool_calls"] as? [[String: Any]])?.first)
            #expect(call["id"] as? String == "call_7")
            let function = try #require(call["function"] as? [String: Any])
            #expect(function["name"] as? String == "get_weather")
            #expect(function["arguments"] as? String == #"{"city":"Oslo"}"#)
            #expect((reply.json["usage"] as? [String: Any])?["total_tokens"] as? Int == 20)
        }
    }

    @Test func completionsConvertBothWays() async throws {
        let upstream = FakeUpstream { request in
            if request.provider == "stream-only" {
                return Reply.sse([
                    #"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"u","choices":[{"index":0,"text":"Once","logprobs":null,"finish_reason":null}]}"# + "\n\n",
                    #"data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"u","choices":[{"index":0,"text":" upon","logprobs":null,"finish_reason":"length"}]}"# + "\n\n",
                    Reply.done,
                ])
            }
            return Reply.json(
                #"{"id":"cmpl-2","object":"text_completion","created":1,"model":"u","choices":[{"index":0,"text":"a time","logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#
            )
        }
        try await GatewayHarness.run(upstream: upstream) {
            #"{"_global":{"retry_backoff_ms":1},"stream-only":{"providers":[\#(providerJSON("stream-only", endpoint: upstream.endpoint("stream-only"), extra: #","non_stream_support":false"#))]},"json-only":{"providers":[\#(providerJSON("json-only", endpoint: upstream.endpoint("json-only"), extra: #","stream_support":false"#))]}}"#
        } _: { client in
            let aggregated = try await client.post("/v1/completions", #"{"model":"stream-only","prompt":"Tell"}"#)
            #expect(aggregated.json["object"] as? String == "text_completion")
            let choice = try #require((aggregated.json["choices"] as? [[String: Any]])?.first)
            #expect(choice["text"] as? String == "Once upon")
            #expect(choice["finish_reason"] as? String == "length")

            let synthesized = try await client.post("/v1/completions", #"{"model":"json-only","prompt":"Tell","stream":true}"#)
            #expect(synthesized.header("content-type") == "text/event-stream")
            let texts = synthesized.eventObjects.compactMap { ($0["choices"] as? [[String: Any]])?.first?["text"] as? String }
            #expect(texts.joined() == "a time")
            #expect(synthesized.eventObjects.allSatisfy { $0["object"] as? String == "text_completion" })
            #expect(synthesized.events.last == "[DONE]")
        }
    }
}
