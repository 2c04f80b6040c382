import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// `/v1/messages` clients served by an OpenAI-speaking provider: the request, the answer, the stream and the errors.
@Suite("Anthropic inbound translation") struct AnthropicInboundTranslationTests {
    func request(_ json: String) throws(GatewayError) -> AnthropicMessagesRequest {
        try AnthropicMessagesRequest(body: buffer(json))
    }

    func failure(_ json: String, chat: Bool = false) -> GatewayError? {
        gatewayError { () throws(GatewayError) in
            let parsed = try request(json)
            if chat { _ = try parsed.chatBody() }
        }
    }

    /// The request's messages wrapped in a minimal body.
    func chat(messages: String, extra: String = "") throws -> JSONObject {
        try request(#"{"model":"claude-x","max_tokens":64,"messages":"# + messages + extra + "}").chatBody()
    }

    /// Runs canonical chunks (JSON text) through a fresh encoder and finishes it.
    func encodeStream(_ chunks: [String], estimate: Int = 42) throws -> [(name: String, data: JSONObject)] {
        var encoder = AnthropicStreamEncoder(model: "claude-x", inputTokensEstimate: estimate)
        var buffers: [ByteBuffer] = []
        for chunk in chunks { buffers += encoder.encode(try #require(jsonObject(chunk))) }
        buffers += encoder.finish()
        return try events(buffers)
    }

    func expectEvents(_ actual: [(name: String, data: JSONObject)], _ expected: [String]) {
        #expect(actual.count == expected.count, "\(actual.map(\.name))")
        for (event, golden) in zip(actual, expected) {
            #expect(jsonEqual(event.data, jsonObject(golden)), "\(text(JSONValue.encode(event.data))) ≠ \(golden)")
        }
    }

    // MARK: Validation

    @Test("a valid request gives its model and stream flag")
    func readsModelAndStream() throws {
        let plain = try request(#"{"model":"claude-sonnet-4","max_tokens":1024,"messages":[]}"#)
        #expect(plain.model == "claude-sonnet-4")
        #expect(plain.stream == false)
        #expect(try request(#"{"model":"m","max_tokens":1,"messages":[],"stream":true}"#).stream)
        #expect(try request(#"{"model":"m","max_tokens":1,"messages":[],"stream":null}"#).stream == false)
        #expect(try request(#"{"model":"m","max_tokens":0,"messages":[]}"#).model == "m")
        #expect(try request(#"{"model":"m","max_tokens":10000000,"messages":[]}"#).model == "m")
    }

    @Test("a missing max_tokens is reported in Anthropic's wording")
    func missingMaxTokens() {
        let error = failure(#"{"model":"m","messages":[]}"#)
        #expect(error?.statusCode == 400)
        #expect(error?.message == "max_tokens: Field required")
        #expect(error?.param == "max_tokens")
    }

    @Test(
        "malformed top-level members are rejected with their param",
        arguments: [
            (#"{"model":"m","max_tokens":1,"messages":[]"#, nil),
            (#"[1]"#, nil),
            (#"{"max_tokens":1,"messages":[]}"#, "model"),
            (#"{"model":"","max_tokens":1,"messages":[]}"#, "model"),
            (#"{"model":7,"max_tokens":1,"messages":[]}"#, "model"),
            (#"{"model":"m","max_tokens":1}"#, "messages"),
            (#"{"model":"m","max_tokens":1,"messages":{}}"#, "messages"),
            (#"{"model":"m","max_tokens":"1","messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":-1,"messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":1.5,"messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":10000001,"messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":null,"messages":[]}"#, "max_tokens"),
            (#"{"model":"m","max_tokens":1,"messages":[],"stream":"yes"}"#, "stream"),
        ] as [(String, String?)])
    func malformedTopLevel(json: String, param: String?) {
        let error = failure(json)
        #expect(error?.statusCode == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.param == param)
    }

    @Test(
        "malformed blocks are rejected with the block's param",
        arguments: [
            (#""hi""#, #"[{"role":"user","content":"hi"},{"role":"system","content":"x"}]"#, "messages[1].role"),
            (#""hi""#, #"[7]"#, "messages[0]"),
            (#""hi""#, #"[{"role":"user","content":7}]"#, "messages[0].content"),
            (#""hi""#, #"[{"role":"user","content":"a"},{"role":"user","content":[{"text":"no type"}]}]"#, "messages[1].content[0]"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"text","text":5}]}]"#, "messages[0].content[0].text"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"image","source":{"type":"base64","data":"x"}}]}]"#, "messages[0].content[0].source"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"image","source":{"type":"file","file_id":"f"}}]}]"#, "messages[0].content[0].source"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"document","source":{}}]}]"#, "messages[0].content[0]"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"tool_result","content":"x"}]}]"#, "messages[0].content[0].tool_use_id"),
            (#""hi""#, #"[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":[{"type":"text"}]}]}]"#, "messages[0].content[0].content[0].text"),
            (#""hi""#, #"[{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":[1]}]}]"#, "messages[0].content[0].input"),
            (#""hi""#, #"[{"role":"assistant","content":[{"type":"tool_use","id":"t","input":{}}]}]"#, "messages[0].content[0].name"),
            (#"[{"type":"image"}]"#, #"[]"#, "system[0]"),
            (#"5"#, #"[]"#, "system"),
        ])
    func malformedBlocks(_ input: (String, String, String)) {
        let (system, messages, param) = input
        let error = failure(#"{"model":"m","max_tokens":1,"system":"# + system + #","messages":"# + messages + "}", chat: true)
        #expect(error?.statusCode == 400)
        #expect(error?.param == param)
        #expect(error?.message.hasPrefix(param + ": ") == true)
    }

    @Test(
        "malformed options are rejected with their param",
        arguments: [
            (#""tools":{}"#, "tools"),
            (#""tools":[{"name":"f"}]"#, "tools[0].input_schema"),
            (#""tools":[{"input_schema":{}}]"#, "tools[0].name"),
            (#""tool_choice":"auto""#, "tool_choice"),
            (#""tool_choice":{"type":"tool"}"#, "tool_choice.name"),
            (#""tool_choice":{"type":"sometimes"}"#, "tool_choice.type"),
            (#""stop_sequences":"END""#, "stop_sequences"),
            (#""stop_sequences":["a",1]"#, "stop_sequences"),
            (#""temperature":"hot""#, "temperature"),
            (#""top_p":true"#, "top_p"),
        ])
    func malformedOptions(member: String, param: String) {
        let error = failure(#"{"model":"m","max_tokens":1,"messages":[],"# + member + "}", chat: true)
        #expect(error?.param == param)
    }

    // MARK: Anthropic providers

    @Test("the body for an Anthropic provider changes only model and stream, byte for byte")
    func upstreamBodyIsByteExact() throws {
        let body = #"""
            { "model" : "claude-alias",  "max_tokens":1024, "system":[{"type":"text","text":"S","cache_control":{"type":"ephemeral","ttl":"1h"}}],
              "messages":[{"role":"user","content":[{"type":"text","text":"x\u00e9","cache_control":{"type":"ephemeral"}}]}],
              "x-unknown": [1.50, true, null], "stream" :false }
            """#
        let parsed = try request(body)
        #expect(text(parsed.upstreamBody(model: "claude-alias", stream: false)) == body)
        #expect(
            text(parsed.upstreamBody(model: "claude-sonnet-4-5", stream: true))
                == body.replacingOccurrences(of: #""claude-alias""#, with: #""claude-sonnet-4-5""#)
                .replacingOccurrences(of: #""stream" :false"#, with: #""stream" :true"#))

        let withoutStream = try request(#"{"model":"a","max_tokens":5,"messages":[],"metadata":{"user_id":"u"}}"#)
        #expect(
            text(withoutStream.upstreamBody(model: "b", stream: true))
                == #"{"stream":true,"model":"b","max_tokens":5,"messages":[],"metadata":{"user_id":"u"}}"#)
        #expect(text(withoutStream.upstreamBody(model: "a", stream: false)) == #"{"model":"a","max_tokens":5,"messages":[],"metadata":{"user_id":"u"}}"#)
    }

    // MARK: Request → chat completions

    @Test("a tool-use round trip becomes assistant tool_calls, then tool messages, then the user's other content")
    func toolUseRoundTrip() throws {
        let body = try request(#"""
            {"model":"claude-sonnet-4","max_tokens":1024,"system":"You are terse.",
             "messages":[
              {"role":"user","content":"Weather in Paris and Rome?"},
              {"role":"assistant","content":[
                {"type":"thinking","thinking":"I need the tool.","signature":"c2ln"},
                {"type":"text","text":"Checking."},
                {"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Paris","units":"C"}},
                {"type":"tool_use","id":"toolu_2","name":"get_weather","input":{"city":"Rome"}}]},
              {"role":"user","content":[
                {"type":"text","text":"Be quick."},
                {"type":"tool_result","tool_use_id":"toolu_1","content":"20°C","cache_control":{"type":"ephemeral"}},
                {"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":"timeout"}],"is_error":true}]}]}
            """#).chatBody()
        let expected = #"""
            {"model":"claude-sonnet-4","max_tokens":1024,"messages":[
              {"role":"system","content":"You are terse."},
              {"role":"user","content":"Weather in Paris and Rome?"},
              {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"toolu_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"units\":\"C\"}"}},
                {"id":"toolu_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
              {"role":"tool","tool_call_id":"toolu_1","content":"20°C"},
              {"role":"tool","tool_call_id":"toolu_2","content":"Error: timeout"},
              {"role":"user","content":"Be quick."}]}
            """#
        #expect(jsonEqual(body, jsonObject(expected)))
    }

    @Test("a user turn of tool results only adds no user message; a tool_use-only turn has no content key")
    func toolResultsOnly() throws {
        let body = try chat(messages: #"""
            [{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"now"}]},
             {"role":"user","content":[{"type":"tool_result","tool_use_id":"t1"}]}]
            """#)
        let expected = #"""
            [{"role":"assistant","tool_calls":[{"id":"t1","type":"function","function":{"name":"now","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"t1","content":""}]
            """#
        #expect(jsonEqual(body["messages"], try JSONSerialization.jsonObject(with: Data(expected.utf8))))
    }

    @Test("images become image_url parts: base64 as a data URI, a url source as the url; tool-result images follow the tool message")
    func images() throws {
        let body = try chat(messages: #"""
            [{"role":"user","content":[
              {"type":"tool_result","tool_use_id":"t1","content":[{"type":"text","text":"shot:"},
                {"type":"image","source":{"type":"url","url":"https://example.com/s.png"}}]},
              {"type":"text","text":"What is this?"},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}}]}]
            """#)
        let expected = #"""
            [{"role":"tool","tool_call_id":"t1","content":"shot:"},
             {"role":"user","content":[
              {"type":"image_url","image_url":{"url":"https://example.com/s.png"}},
              {"type":"text","text":"What is this?"},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]}]
            """#
        #expect(jsonEqual(body["messages"], try JSONSerialization.jsonObject(with: Data(expected.utf8))))
    }

    @Test("several system blocks become one leading system message; several text blocks one string")
    func systemBlocksAndTextBlocks() throws {
        let body = try chat(
            messages: #"""
                [{"role":"user","content":[{"type":"text","text":"<reminder>"},{"type":"text","text":"Hi","cache_control":{"type":"ephemeral"}}]},
                 {"role":"assistant","content":[{"type":"redacted_thinking","data":"xx"},{"type":"text","text":"Hello"},{"type":"text","text":"there"}]}]
                """#,
            extra: #","system":[{"type":"text","text":"You are Claude Code."},{"type":"text","text":"Be careful.","cache_control":{"type":"ephemeral"}}]"#)
        let expected = #"""
            [{"role":"system","content":"You are Claude Code.\n\nBe careful."},
             {"role":"user","content":"<reminder>\n\nHi"},
             {"role":"assistant","content":"Hello\n\nthere"}]
            """#
        #expect(jsonEqual(body["messages"], try JSONSerialization.jsonObject(with: Data(expected.utf8))))
    }

    @Test("empty content stays empty: an empty string or block list gives an empty string, an empty system none")
    func emptyContent() throws {
        let body = try chat(
            messages: #"[{"role":"user","content":""},{"role":"user","content":[]},{"role":"assistant","content":[]}]"#,
            extra: #","system":[]"#)
        let expected = #"[{"role":"user","content":""},{"role":"user","content":""},{"role":"assistant","content":""}]"#
        #expect(jsonEqual(body["messages"], try JSONSerialization.jsonObject(with: Data(expected.utf8))))
    }

    @Test("client tools become function tools, server tools are skipped, tool_choice and parallel use carry over")
    func tools() throws {
        let body = try chat(
            messages: "[]",
            extra: #"""
                ,"tools":[
                  {"name":"get_weather","description":"Weather now","input_schema":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"cache_control":{"type":"ephemeral"}},
                  {"type":"web_search_20250305","name":"web_search","max_uses":5},
                  {"type":"custom","name":"now","input_schema":{"type":"object"},"strict":true}],
                 "tool_choice":{"type":"any","disable_parallel_tool_use":true}
                """#)
        let expected = #"""
            {"model":"claude-x","max_tokens":64,"messages":[],
             "tools":[
              {"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
              {"type":"function","function":{"name":"now","parameters":{"type":"object"},"strict":true}}],
             "tool_choice":"required","parallel_tool_calls":false}
            """#
        #expect(jsonEqual(body, jsonObject(expected)))
    }

    @Test(
        "tool_choice auto/any/tool/none becomes auto/required/named/none",
        arguments: [
            (#"{"type":"auto"}"#, #""auto""#),
            (#"{"type":"any"}"#, #""required""#),
            (#"{"type":"none"}"#, #""none""#),
            (#"{"type":"tool","name":"f","disable_parallel_tool_use":false}"#, #"{"type":"function","function":{"name":"f"}}"#),
        ])
    func toolChoice(anthropic: String, openAI: String) throws {
        let body = try chat(messages: "[]", extra: #","tools":[{"name":"f","input_schema":{}}],"tool_choice":"# + anthropic)
        #expect(jsonEqual(body["tool_choice"], try JSONSerialization.jsonObject(with: Data(openAI.utf8), options: .fragmentsAllowed)))
        #expect(body["parallel_tool_calls"] == nil)
    }

    @Test("tool_choice without client tools is left out, since OpenAI rejects it")
    func toolChoiceWithoutTools() throws {
        let body = try chat(
            messages: "[]",
            extra: #","tools":[{"type":"bash_20250124","name":"bash"}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}"#)
        #expect(jsonEqual(body, jsonObject(#"{"model":"claude-x","max_tokens":64,"messages":[]}"#)))
    }

    @Test("sampling options: stop_sequences become stop, temperature and top_p pass, top_k and thinking drop, user_id becomes user")
    func samplingOptions() throws {
        let body = try request(#"""
            {"model":"claude-x","max_tokens":300,"messages":[],"stop_sequences":["END","\n\nHuman:"],"temperature":0.7,"top_p":0.9,
             "top_k":40,"metadata":{"user_id":"user-7"},"thinking":{"type":"enabled","budget_tokens":2048},"service_tier":"auto"}
            """#).chatBody()
        let expected = #"""
            {"model":"claude-x","max_tokens":300,"messages":[],"stop":["END","\n\nHuman:"],"temperature":0.7,"top_p":0.9,"user":"user-7"}
            """#
        #expect(jsonEqual(body, jsonObject(expected)))
        let integral = try request(#"{"model":"m","max_tokens":3,"messages":[],"temperature":1,"top_p":0}"#).chatBody()
        #expect(jsonEqual(integral, jsonObject(#"{"model":"m","max_tokens":3,"messages":[],"temperature":1,"top_p":0}"#)))
    }

    @Test("a streaming request asks the provider to stream with usage")
    func streamingAsksForUsage() throws {
        let body = try request(#"{"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"stream":true}"#).chatBody()
        let expected = #"""
            {"model":"m","max_tokens":8,"messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}
            """#
        #expect(jsonEqual(body, jsonObject(expected)))
    }

    @Test("the input estimate counts system, messages and tools, not image data or signatures")
    func inputEstimate() throws {
        let text400 = String(repeating: "a", count: 400)
        let parsed = try request(#"""
            {"model":"m","max_tokens":8,"system":"\#(text400)","tools":[{"name":"\#(text400)","input_schema":{}}],
             "messages":[{"role":"user","content":[{"type":"text","text":"\#(text400)"},
               {"type":"image","source":{"type":"base64","media_type":"image/png","data":"\#(String(repeating: "Q", count: 40_000))"}}]},
               {"role":"assistant","content":[{"type":"thinking","thinking":"","signature":"\#(String(repeating: "s", count: 40_000))"}]}]}
            """#)
        // 1,200 characters of text plus the short role and type names.
        #expect((300...310).contains(parsed.estimatedInputTokens))
        #expect(try request(#"{"model":"m","max_tokens":8,"messages":[]}"#).estimatedInputTokens == 0)
    }

    // MARK: Completion → message

    @Test("a completion becomes a message with thinking, text and usage net of cached tokens")
    func completionToMessage() throws {
        let completion = try #require(jsonObject(#"""
            {"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"gpt-4o",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hi there.","reasoning_content":"Greet back."},"logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":120,"completion_tokens":9,"total_tokens":129,"prompt_tokens_details":{"cached_tokens":100}}}
            """#))
        let expected = #"""
            {"id":"msg_chatcmpl-abc","type":"message","role":"assistant","model":"claude-alias",
             "content":[{"type":"thinking","thinking":"Greet back.","signature":""},{"type":"text","text":"Hi there."}],
             "stop_reason":"end_turn","stop_sequence":null,
             "usage":{"input_tokens":20,"output_tokens":9,"cache_read_input_tokens":100}}
            """#
        let message = AnthropicMessageEncoder.message(fromChatCompletion: completion, model: "claude-alias")
        #expect(jsonEqual(message, jsonObject(expected)), "\(text(JSONValue.encode(message)))")
    }

    @Test("tool calls become tool_use blocks with parsed input; unparseable arguments give {}")
    func completionToolCalls() throws {
        let completion = try #require(jsonObject(#"""
            {"id":"chatcmpl-t","object":"chat.completion","created":1,"model":"gpt-4o",
             "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"swift\",\"n\":3}"}},
               {"id":"call_2","type":"function","function":{"name":"now","arguments":"{\"broken"}},
               {"type":"function","function":{"name":"noop","arguments":""}}]},"logprobs":null,"finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50}}
            """#))
        let expected = #"""
            {"id":"msg_chatcmpl-t","type":"message","role":"assistant","model":"claude-x",
             "content":[{"type":"tool_use","id":"call_1","name":"lookup","input":{"q":"swift","n":3}},
                        {"type":"tool_use","id":"call_2","name":"now","input":{}},
                        {"type":"tool_use","id":"toolu_2","name":"noop","input":{}}],
             "stop_reason":"tool_use","stop_sequence":null,
             "usage":{"input_tokens":30,"output_tokens":20,"cache_read_input_tokens":0}}
            """#
        let message = AnthropicMessageEncoder.message(fromChatCompletion: completion, model: "claude-x")
        #expect(jsonEqual(message, jsonObject(expected)), "\(text(JSONValue.encode(message)))")
    }

    @Test(
        "finish reasons map to stop reasons",
        arguments: [
            ("stop", "end_turn"), ("length", "max_tokens"), ("tool_calls", "tool_use"), ("content_filter", "refusal"),
            ("something_new", "end_turn"),
        ])
    func stopReasons(finishReason: String, stopReason: String) throws {
        let completion = try #require(jsonObject(#"""
            {"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"\#(finishReason)"}]}
            """#))
        let message = AnthropicMessageEncoder.message(fromChatCompletion: completion, model: "m")
        #expect(message["stop_reason"] as? String == stopReason)
    }

    @Test("a completion without choices, id or usage still gives a well-formed message")
    func emptyCompletion() throws {
        let message = AnthropicMessageEncoder.message(fromChatCompletion: [:], model: "m")
        #expect((message["id"] as? String)?.hasPrefix("msg_") == true)
        #expect(jsonEqual(message["content"], [Any]()))
        #expect(message["stop_reason"] as? String == "end_turn")
        #expect(jsonEqual(message["usage"], ["input_tokens": 0, "output_tokens": 0, "cache_read_input_tokens": 0]))
    }

    // MARK: Stream

    @Test("a text stream encodes to message_start, one text block, message_delta with cached usage, message_stop")
    func textStream() throws {
        let events = try encodeStream([
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":2,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":32}}}"#,
        ])
        #expect(events.map(\.name) == [
            "message_start", "content_block_start", "content_block_delta", "content_block_delta", "content_block_stop",
            "message_delta", "message_stop",
        ])
        expectEvents(events, [
            #"{"type":"message_start","message":{"id":"msg_chatcmpl-9","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hello"}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" world"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"input_tokens":18,"output_tokens":2,"cache_read_input_tokens":32}}"#,
            #"{"type":"message_stop"}"#,
        ])
    }

    @Test("a tool-call stream closes the text block and gives each call a tool_use block with input_json_delta fragments")
    func toolCallStream() throws {
        let events = try encodeStream([
            #"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"now","arguments":"{}"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            #"{"id":"c","choices":[],"usage":{"prompt_tokens":70,"completion_tokens":25,"total_tokens":95}}"#,
        ])
        expectEvents(events, [
            #"{"type":"message_start","message":{"id":"msg_c","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Let me check."}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"call_a","name":"get_weather","input":{}}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"city\":"}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"\"Paris\"}"}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"call_b","name":"now","input":{}}}"#,
            #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#,
            #"{"type":"content_block_stop","index":2}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"input_tokens":70,"output_tokens":25}}"#,
            #"{"type":"message_stop"}"#,
        ])
    }

    @Test("reasoning_content becomes a thinking block, closed when the text starts")
    func thinkingStream() throws {
        let events = try encodeStream([
            #"{"id":"r","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Think"},"finish_reason":null}]}"#,
            #"{"id":"r","choices":[{"index":0,"delta":{"reasoning_content":"ing."},"finish_reason":null}]}"#,
            #"{"id":"r","choices":[{"index":0,"delta":{"content":"Done."},"finish_reason":"length"}]}"#,
        ])
        expectEvents(events, [
            #"{"type":"message_start","message":{"id":"msg_r","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":42,"output_tokens":0}}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":"","signature":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Think"}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"ing."}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Done."}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            // No usage reported: the input estimate, and 14 generated characters ≈ 4 output tokens.
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens","stop_sequence":null},"usage":{"input_tokens":42,"output_tokens":4}}"#,
            #"{"type":"message_stop"}"#,
        ])
    }

    @Test("finish before any chunk still gives a complete message_start…message_stop sequence")
    func finishWithoutChunks() throws {
        let events = try encodeStream([], estimate: 7)
        #expect(events.map(\.name) == ["message_start", "message_delta", "message_stop"])
        let message = try #require(events.first?.data["message"] as? JSONObject)
        #expect((message["id"] as? String)?.hasPrefix("msg_") == true)
        #expect(jsonEqual(message["usage"], ["input_tokens": 7, "output_tokens": 0]))
        #expect(jsonEqual(events[1].data["delta"], ["stop_reason": "end_turn", "stop_sequence": NSNull()]))
        #expect(jsonEqual(events[1].data["usage"], ["input_tokens": 7, "output_tokens": 0]))
    }

    @Test("a stream error becomes an Anthropic error event")
    func streamErrorEvent() {
        let encoder = AnthropicStreamEncoder(model: "m", inputTokensEstimate: 0)
        let event = encoder.errorEvent(GatewayError(status: 529, type: "api_error", code: nil, message: "Overloaded"))
        #expect(text(event) == "event: error\ndata: {\"type\":\"error\",\"error\":{\"type\":\"overloaded_error\",\"message\":\"Overloaded\"}}\n\n")
    }

    // MARK: Errors

    @Test(
        "error bodies have Anthropic's shape",
        arguments: [
            (401, "Invalid API key.", #"{"type":"error","error":{"type":"authentication_error","message":"Invalid API key."}}"#),
            (404, "The model 'x' does not exist.", #"{"type":"error","error":{"type":"not_found_error","message":"The model 'x' does not exist."}}"#),
            (429, "Slow \"down\".", #"{"type":"error","error":{"type":"rate_limit_error","message":"Slow \"down\"."}}"#),
            (529, "Overloaded", #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#),
        ])
    func errorBodies(_ input: (Int, String, String)) {
        let (status, message, body) = input
        let error = GatewayError(status: status, type: "invalid_request_error", code: "c", param: "p", message: message)
        #expect(text(error.anthropicBody) == body)
    }

    @Test(
        "each status has its Anthropic error type",
        arguments: [
            (400, "invalid_request_error"), (401, "authentication_error"), (402, "billing_error"), (403, "permission_error"),
            (404, "not_found_error"), (405, "invalid_request_error"), (413, "request_too_large"), (429, "rate_limit_error"),
            (499, "api_error"), (500, "api_error"), (502, "api_error"), (503, "overloaded_error"), (504, "timeout_error"),
            (529, "overloaded_error"),
        ])
    func errorTypes(status: Int, type: String) {
        #expect(GatewayError(status: status, type: "x", code: nil, message: "m").anthropicErrorType == type)
    }
}
