import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// An OpenAI-speaking client served by an Anthropic Messages provider: requests out, answers and streams back.
@Suite("Anthropic upstream translation") struct AnthropicUpstreamTranslationTests {
    static let created = 1_700_000_000

    // MARK: Helpers

    func messagesBody(_ chat: String, stream: Bool = false) throws -> JSONObject {
        try AnthropicRequestBuilder.messagesBody(fromChat: #require(jsonObject(chat)), model: "claude-sonnet-4-5", stream: stream)
    }

    func rejection(_ chat: String) throws -> GatewayError {
        let chat = try #require(jsonObject(chat))
        return try #require(throws: GatewayError.self) {
            try AnthropicRequestBuilder.messagesBody(fromChat: chat, model: "claude-sonnet-4-5", stream: false)
        }
    }

    func json(_ text: String) throws -> Any {
        try JSONSerialization.jsonObject(with: Data(text.utf8))
    }

    /// Frames an SSE text the way the relay does and decodes every event's data.
    func decode(_ sse: String, with decoder: inout AnthropicStreamDecoder) throws -> [JSONObject] {
        var framer = SSEEventFramer()
        var chunks: [JSONObject] = []
        for event in try framer.append(buffer(sse)) {
            guard let data = SSEEvent.data(of: event) else { continue }
            chunks += try decoder.decode(data)
        }
        return chunks
    }

    /// Events written as `data:` lines, one per line of `lines`.
    func sse(_ lines: [String]) -> String {
        lines.map { "data: \($0)\n\n" }.joined()
    }

    /// A canonical chunk for the stream fixtures below (message id `msg_1`, model `claude-x`).
    func chunk(_ delta: String, finish: String = "null") -> String {
        #"{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[{"index":0,"delta":"#
            + delta + #","logprobs":null,"finish_reason":"# + finish + "}]}"
    }

    static let messageStart = #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":100,"cache_read_input_tokens":20,"cache_creation_input_tokens":5,"output_tokens":2}}}"#

    // MARK: Requests

    @Test("system and developer messages anywhere become top-level system blocks, one per message or part")
    func systemMessages() throws {
        let body = try messagesBody(#"""
            {"model":"gpt-4o","messages":[
              {"role":"system","content":"You are terse."},
              {"role":"user","content":"Hi"},
              {"role":"developer","content":[{"type":"text","text":"Answer in French.","cache_control":{"type":"ephemeral"}},
                                             {"type":"text","text":""},{"type":"text","text":"No emoji."}]},
              {"role":"assistant","content":"Bonjour"},
              {"role":"system","content":""}]}
            """#)
        #expect(jsonEqual(body, try json(#"""
            {"model":"claude-sonnet-4-5","stream":false,"max_tokens":4096,
             "system":[{"type":"text","text":"You are terse."},
                       {"type":"text","text":"Answer in French.","cache_control":{"type":"ephemeral"}},
                       {"type":"text","text":"No emoji."}],
             "messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]},
                         {"role":"assistant","content":[{"type":"text","text":"Bonjour"}]}]}
            """#)))
    }

    @Test("assistant tool calls become tool_use blocks and tool results one user message, first in its content")
    func toolRoundTrip() throws {
        let body = try messagesBody(#"""
            {"model":"gpt-4o","messages":[
              {"role":"user","content":"Weather in Paris and Rome?"},
              {"role":"assistant","content":"","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Paris\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"location\":\"Ro"}},
                {"id":"call_3","type":"function","function":{"name":"get_time","arguments":""}},
                {"id":"call_4","type":"function","function":{"name":"get_time","arguments":"[1]"}}]},
              {"role":"tool","tool_call_id":"call_1","content":"20°C"},
              {"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":"18°C"}]},
              {"role":"tool","tool_call_id":"call_3","content":""},
              {"role":"user","content":"Which is warmer?"},
              {"role":"tool","tool_call_id":"call_4","content":"12:00"}]}
            """#)
        #expect(jsonEqual(body["messages"], try json(#"""
            [{"role":"user","content":[{"type":"text","text":"Weather in Paris and Rome?"}]},
             {"role":"assistant","content":[
               {"type":"tool_use","id":"call_1","name":"get_weather","input":{"location":"Paris"}},
               {"type":"tool_use","id":"call_2","name":"get_weather","input":{}},
               {"type":"tool_use","id":"call_3","name":"get_time","input":{}},
               {"type":"tool_use","id":"call_4","name":"get_time","input":{}}]},
             {"role":"user","content":[
               {"type":"tool_result","tool_use_id":"call_1","content":"20°C"},
               {"type":"tool_result","tool_use_id":"call_2","content":[{"type":"text","text":"18°C"}]},
               {"type":"tool_result","tool_use_id":"call_3"},
               {"type":"tool_result","tool_use_id":"call_4","content":"12:00"},
               {"type":"text","text":"Which is warmer?"}]}]
            """#)))
    }

    @Test("consecutive turns of one role merge, and messages with no content are left out")
    func mergingAndEmptyContent() throws {
        let body = try messagesBody(#"""
            {"model":"gpt-4o","messages":[
              {"role":"user","content":"One"},
              {"role":"user","content":[{"type":"text","text":"Two"},{"type":"text","text":""}]},
              {"role":"assistant","content":"Three"},
              {"role":"user","content":""},
              {"role":"assistant","content":null},
              {"role":"assistant","content":[{"type":"text","text":"Four"}]},
              {"role":"user","content":"Five"}]}
            """#)
        #expect(jsonEqual(body["messages"], try json(#"""
            [{"role":"user","content":[{"type":"text","text":"One"},{"type":"text","text":"Two"}]},
             {"role":"assistant","content":[{"type":"text","text":"Three"},{"type":"text","text":"Four"}]},
             {"role":"user","content":[{"type":"text","text":"Five"}]}]
            """#)))
    }

    @Test("a request with no message content left is rejected")
    func noContentLeft() throws {
        for chat in [
            #"{"messages":[{"role":"system","content":"Be nice."}]}"#,
            #"{"messages":[{"role":"user","content":""},{"role":"assistant","content":[{"type":"text","text":""}]}]}"#,
            #"{"messages":[]}"#,
        ] {
            let error = try rejection(chat)
            #expect(error.param == "messages")
            #expect(error.statusCode == 400)
        }
    }

    @Test("a final assistant prefill loses its trailing whitespace")
    func prefillTrimmed() throws {
        let body = try messagesBody(#"""
            {"messages":[{"role":"user","content":"Count"},{"role":"assistant","content":"One, two, \n"}]}
            """#)
        #expect(jsonEqual(body["messages"], try json(#"""
            [{"role":"user","content":[{"type":"text","text":"Count"}]},
             {"role":"assistant","content":[{"type":"text","text":"One, two,"}]}]
            """#)))
        let blank = try messagesBody(#"{"messages":[{"role":"user","content":"Count"},{"role":"assistant","content":"  "}]}"#)
        #expect(jsonEqual(blank["messages"], try json(#"[{"role":"user","content":[{"type":"text","text":"Count"}]}]"#)))
    }

    @Test("image URLs become base64 or url sources, PDFs documents")
    func images() throws {
        let body = try messagesBody(#"""
            {"messages":[{"role":"user","content":[
              {"type":"text","text":"Compare these."},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
              {"type":"image_url","image_url":{"url":"data:application/pdf;base64,JVBERi0="},"cache_control":{"type":"ephemeral"}},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}},
              {"type":"image_url","image_url":"HTTPS://example.com/report.PDF?version=2"}]}]}
            """#)
        #expect(jsonEqual(body["messages"], try json(#"""
            [{"role":"user","content":[
              {"type":"text","text":"Compare these."},
              {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
              {"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0="},
               "cache_control":{"type":"ephemeral"}},
              {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}},
              {"type":"document","source":{"type":"url","url":"HTTPS://example.com/report.PDF?version=2"}}]}]
            """#)))
    }

    @Test("images Anthropic cannot take are rejected with the part's path", arguments: [
        (#"{"type":"image_url","image_url":{"url":"data:image/bmp;base64,Qk0="}}"#, "messages[0].content[0].image_url.url"),
        (#"{"type":"image_url","image_url":{"url":"data:image/png,rawbytes"}}"#, "messages[0].content[0].image_url.url"),
        (#"{"type":"image_url","image_url":{"url":"ftp://example.com/cat.png"}}"#, "messages[0].content[0].image_url.url"),
        (#"{"type":"image_url","image_url":{}}"#, "messages[0].content[0].image_url.url"),
        (#"{"type":"input_audio","input_audio":{"data":"AAA=","format":"wav"}}"#, "messages[0].content[0].type"),
    ])
    func unsupportedImages(part: String, param: String) throws {
        let error = try rejection(#"{"messages":[{"role":"user","content":["# + part + "]}]}")
        #expect(error.param == param)
        #expect(error.type == "invalid_request_error")
    }

    @Test("images in an assistant message are rejected")
    func assistantImage() throws {
        let error = try rejection(#"""
            {"messages":[{"role":"user","content":"Hi"},
              {"role":"assistant","content":[{"type":"image_url","image_url":{"url":"https://example.com/a.png"}}]}]}
            """#)
        #expect(error.param == "messages[1].content[0].type")
    }

    @Test("max_tokens comes from max_completion_tokens, then max_tokens, then the default")
    func maxTokens() throws {
        let messages = #""messages":[{"role":"user","content":"Hi"}]"#
        #expect(try messagesBody("{\(messages),\"max_completion_tokens\":300,\"max_tokens\":100}")["max_tokens"] as? Int == 300)
        #expect(try messagesBody("{\(messages),\"max_tokens\":100}")["max_tokens"] as? Int == 100)
        #expect(try messagesBody("{\(messages),\"max_completion_tokens\":null,\"max_tokens\":64}")["max_tokens"] as? Int == 64)
        #expect(try messagesBody("{\(messages)}")["max_tokens"] as? Int == AnthropicRequestBuilder.defaultMaxTokens)
        for (field, value) in [
            ("max_tokens", "0"), ("max_tokens", "-5"), ("max_tokens", "2.5"), ("max_completion_tokens", #""100""#),
            ("max_completion_tokens", "1e11"), ("max_tokens", "true"),
        ] {
            let error = try rejection("{\(messages),\"\(field)\":\(value)}")
            #expect(error.param == field, "\(field): \(value)")
            #expect(error.code == "invalid_value")
        }
    }

    @Test("stop becomes stop_sequences, without whitespace-only sequences")
    func stopSequences() throws {
        let messages = #""messages":[{"role":"user","content":"Hi"}]"#
        #expect(jsonEqual(try messagesBody("{\(messages),\"stop\":\"END\"}")["stop_sequences"], ["END"]))
        #expect(jsonEqual(try messagesBody(#"{\#(messages),"stop":["a"," ","","b\n"]}"#)["stop_sequences"], ["a", "b\n"]))
        #expect(try messagesBody(#"{\#(messages),"stop":["\n"]}"#)["stop_sequences"] == nil)
        #expect(try messagesBody("{\(messages),\"stop\":null}")["stop_sequences"] == nil)
        #expect(try rejection("{\(messages),\"stop\":[\"a\",7]}").param == "stop[1]")
        #expect(try rejection("{\(messages),\"stop\":7}").param == "stop")
    }

    @Test("temperature, top_p and top_k pass in Anthropic's ranges; with temperature, top_p is left out")
    func sampling() throws {
        let messages = #""messages":[{"role":"user","content":"Hi"}]"#
        let body = try messagesBody("{\(messages),\"temperature\":0.7,\"top_k\":40}")
        #expect(body["temperature"] as? Double == 0.7)
        #expect(body["top_k"] as? Int == 40)
        #expect(body["top_p"] == nil)
        #expect(try messagesBody("{\(messages),\"top_p\":0.9}")["top_p"] as? Double == 0.9)
        let both = try messagesBody("{\(messages),\"temperature\":0.2,\"top_p\":0.9}")
        #expect(both["temperature"] as? Double == 0.2)
        #expect(both["top_p"] == nil)
        #expect(try rejection("{\(messages),\"temperature\":1.5}").param == "temperature")
        #expect(try rejection("{\(messages),\"top_p\":\"high\"}").param == "top_p")
        #expect(try rejection("{\(messages),\"top_k\":0}").param == "top_k")
    }

    @Test("tools and tool_choice map to Anthropic's; parallel_tool_calls false disables parallel use")
    func tools() throws {
        let base = #"""
            "messages":[{"role":"user","content":"Hi"}],
            "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather for a city",
                        "parameters":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}}},
                     {"type":"function","function":{"name":"ping"},"cache_control":{"type":"ephemeral"}}]
            """#
        let body = try messagesBody("{\(base)}")
        #expect(jsonEqual(body["tools"], try json(#"""
            [{"name":"get_weather","description":"Weather for a city",
              "input_schema":{"type":"object","properties":{"location":{"type":"string"}},"required":["location"]}},
             {"name":"ping","input_schema":{"type":"object"},"cache_control":{"type":"ephemeral"}}]
            """#)))
        #expect(body["tool_choice"] == nil)
        let choices: [(String, String)] = [
            (#""tool_choice":"auto""#, #"{"type":"auto"}"#),
            (#""tool_choice":"required""#, #"{"type":"any"}"#),
            (#""tool_choice":"none""#, #"{"type":"none"}"#),
            (#""tool_choice":{"type":"function","function":{"name":"ping"}}"#, #"{"type":"tool","name":"ping"}"#),
            (#""parallel_tool_calls":false"#, #"{"type":"auto","disable_parallel_tool_use":true}"#),
            (#""tool_choice":"required","parallel_tool_calls":false"#, #"{"type":"any","disable_parallel_tool_use":true}"#),
            (#""tool_choice":"none","parallel_tool_calls":false"#, #"{"type":"none"}"#),
        ]
        for (fields, expected) in choices {
            #expect(jsonEqual(try messagesBody("{\(base),\(fields)}")["tool_choice"], try json(expected)), "\(fields)")
        }
        let withoutTools = try messagesBody(#"{"messages":[{"role":"user","content":"Hi"}],"tool_choice":"auto","tools":[]}"#)
        #expect(withoutTools["tool_choice"] == nil && withoutTools["tools"] == nil)
        #expect(try rejection("{\(base),\"tool_choice\":\"sometimes\"}").param == "tool_choice")
        #expect(try rejection(#"{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}"#).param == "tools[0]")
        #expect(try rejection(#"{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"description":"x"}}]}"#).param == "tools[0].function.name")
    }

    @Test("user becomes metadata.user_id, and fields Anthropic does not know are not sent")
    func unknownFieldsLeftOut() throws {
        let body = try messagesBody(#"""
            {"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"stream":true,
             "stream_options":{"include_usage":true},"n":1,"logprobs":true,"top_logprobs":2,"seed":7,
             "response_format":{"type":"json_object"},"frequency_penalty":0.5,"presence_penalty":0.5,
             "logit_bias":{"42":-100},"store":true,"metadata":{"a":"b"},"user":"user-42","max_tokens":256}
            """#, stream: true)
        #expect(jsonEqual(body, try json(#"""
            {"model":"claude-sonnet-4-5","stream":true,"max_tokens":256,"metadata":{"user_id":"user-42"},
             "messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}]}
            """#)))
    }

    @Test("malformed requests are rejected with the path of the bad value", arguments: [
        (#"{"model":"m"}"#, "messages"),
        (#"{"messages":"Hi"}"#, "messages"),
        (#"{"messages":[3]}"#, "messages[0]"),
        (#"{"messages":[{"content":"Hi"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"user","content":"Hi"},{"role":"robot","content":"Beep"}]}"#, "messages[1].role"),
        (#"{"messages":[{"role":"function","name":"f","content":"{}"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"user","content":5}]}"#, "messages[0].content"),
        (#"{"messages":[{"role":"user","content":["Hi"]}]}"#, "messages[0].content[0]"),
        (#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#, "messages[0].content[0].text"),
        (#"{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://a.b/c.png"}}]}]}"#, "messages[0].content[0].type"),
        (#"{"messages":[{"role":"user","content":"Hi"},{"role":"tool","content":"20"}]}"#, "messages[1].tool_call_id"),
        (#"{"messages":[{"role":"assistant","tool_calls":{"id":"c"}}]}"#, "messages[0].tool_calls"),
        (#"{"messages":[{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f","arguments":"{}"}}]}]}"#, "messages[0].tool_calls[0].id"),
        (#"{"messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"arguments":"{}"}}]}]}"#, "messages[0].tool_calls[0].function.name"),
        (#"{"messages":[{"role":"user","content":"Hi"}],"user":42}"#, "user"),
    ])
    func malformedRequests(chat: String, param: String) throws {
        let error = try rejection(chat)
        #expect(error.param == param)
        #expect(error.statusCode == 400)
        #expect(error.type == "invalid_request_error")
    }

    // MARK: Answers

    @Test("a message with thinking, text and a tool call becomes a chat.completion")
    func answerWithToolCall() throws {
        let message = try #require(jsonObject(#"""
            {"id":"msg_01","type":"message","role":"assistant","model":"claude-sonnet-4-5-20250929",
             "content":[{"type":"thinking","thinking":"The user wants weather.","signature":"c2ln"},
                        {"type":"text","text":"Let me check."},{"type":"text","text":" One moment."},
                        {"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{"query":"paris"}},
                        {"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"unit":"c","location":"Paris"}}],
             "stop_reason":"tool_use","stop_sequence":null,
             "usage":{"input_tokens":100,"output_tokens":7,"cache_creation_input_tokens":5,"cache_read_input_tokens":20,
                      "cache_creation":{"ephemeral_5m_input_tokens":5},"service_tier":"standard"}}
            """#))
        let completion = try AnthropicAnswer.chatCompletion(fromMessage: message, created: Self.created)
        #expect(jsonEqual(completion, try json(#"""
            {"id":"msg_01","object":"chat.completion","created":1700000000,"model":"claude-sonnet-4-5-20250929",
             "choices":[{"index":0,"logprobs":null,"finish_reason":"tool_calls",
               "message":{"role":"assistant","content":"Let me check. One moment.","reasoning_content":"The user wants weather.",
                 "tool_calls":[{"id":"toolu_01","type":"function",
                                "function":{"name":"get_weather","arguments":"{\"location\":\"Paris\",\"unit\":\"c\"}"}}]}}],
             "usage":{"prompt_tokens":125,"completion_tokens":7,"total_tokens":132,"prompt_tokens_details":{"cached_tokens":20}}}
            """#)))
    }

    @Test("a message with only a tool call has null content and, without input, arguments {}")
    func answerOnlyToolCall() throws {
        let message = try #require(jsonObject(#"""
            {"id":"msg_02","type":"message","role":"assistant","model":"claude-x",
             "content":[{"type":"tool_use","id":"toolu_02","name":"get_time","input":{}},
                        {"type":"tool_use","id":"toolu_03","name":"get_date"}],
             "stop_reason":"tool_use"}
            """#))
        let completion = try AnthropicAnswer.chatCompletion(fromMessage: message, created: Self.created)
        #expect(jsonEqual(completion, try json(#"""
            {"id":"msg_02","object":"chat.completion","created":1700000000,"model":"claude-x",
             "choices":[{"index":0,"logprobs":null,"finish_reason":"tool_calls",
               "message":{"role":"assistant","content":null,
                 "tool_calls":[{"id":"toolu_02","type":"function","function":{"name":"get_time","arguments":"{}"}},
                               {"id":"toolu_03","type":"function","function":{"name":"get_date","arguments":"{}"}}]}}]}
            """#)))
    }

    @Test("an answer that is not a message is an upstream error")
    func answerNotAMessage() throws {
        for text in [
            #"{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}"#,
            #"{"id":"msg_03","type":"message","content":"Hi"}"#,
        ] {
            let message = try #require(jsonObject(text))
            let error = try #require(throws: GatewayError.self) {
                try AnthropicAnswer.chatCompletion(fromMessage: message, created: Self.created)
            }
            #expect(error.statusCode == 502)
            #expect(error.code == "invalid_upstream_response")
        }
    }

    @Test("usage counts cache reads and writes in the prompt, with cached tokens in the details")
    func cacheUsage() throws {
        let usage = try json(#"{"input_tokens":100,"cache_read_input_tokens":20,"cache_creation_input_tokens":5,"output_tokens":7}"#)
        #expect(AnthropicAnswer.usage(usage) == TokenUsage(promptTokens: 125, completionTokens: 7, totalTokens: 132))
        #expect(jsonEqual(AnthropicAnswer.openAIUsage(usage), try json(#"""
            {"prompt_tokens":125,"completion_tokens":7,"total_tokens":132,"prompt_tokens_details":{"cached_tokens":20}}
            """#)))
        let plain = try json(#"{"input_tokens":12,"output_tokens":3,"cache_read_input_tokens":null}"#)
        #expect(AnthropicAnswer.usage(plain) == TokenUsage(promptTokens: 12, completionTokens: 3))
    }

    /// `JSONSerialization` numbers 0 and 1 also cast to `Bool`; a count reader that rejects booleans that way
    /// loses them (Anthropic always sends `cache_read_input_tokens: 0`).
    @Test("counts of 0 and 1 are numbers, not booleans")
    func zeroAndOneAreCounts() throws {
        let usage = try json(#"{"input_tokens":1,"cache_read_input_tokens":0,"cache_creation_input_tokens":0,"output_tokens":1}"#)
        #expect(AnthropicAnswer.usage(usage) == TokenUsage(promptTokens: 1, completionTokens: 1))
        #expect(try messagesBody(#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1}"#)["max_tokens"] as? Int == 1)
        #expect(try messagesBody(#"{"messages":[{"role":"user","content":"Hi"}],"top_k":1}"#)["top_k"] as? Int == 1)
    }

    @Test("usage without counts or with an unbelievable count is not read")
    func unbelievableUsage() throws {
        #expect(AnthropicAnswer.usage(nil) == nil)
        #expect(AnthropicAnswer.openAIUsage("12") == nil)
        for text in [
            #"{}"#, #"{"service_tier":"standard"}"#, #"{"input_tokens":20000000000,"output_tokens":5}"#,
            #"{"input_tokens":-3,"output_tokens":5}"#, #"{"input_tokens":12,"output_tokens":"5"}"#,
            #"{"input_tokens":9000000000,"cache_read_input_tokens":2000000000,"output_tokens":5}"#,
        ] {
            #expect(AnthropicAnswer.usage(try json(text)) == nil, "\(text)")
        }
    }

    @Test("stop reasons map to OpenAI finish reasons", arguments: [
        ("end_turn", "stop"), ("stop_sequence", "stop"), ("pause_turn", "stop"), ("compaction", "stop"),
        ("max_tokens", "length"), ("model_context_window_exceeded", "length"), ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
    ])
    func finishReasons(stopReason: String, finishReason: String) {
        #expect(AnthropicAnswer.finishReason(stopReason) == finishReason)
    }

    @Test("a missing stop reason finishes as stop")
    func missingStopReason() {
        #expect(AnthropicAnswer.finishReason(nil) == "stop")
        #expect(AnthropicAnswer.finishReason(NSNull()) == "stop")
        #expect(AnthropicAnswer.finishReason(7) == "stop")
    }

    // MARK: Streams

    /// The Anthropic SDK's `tests/lib/streaming/fixtures/tool_use_response.txt`.
    static let sdkToolUseStream = #"""
        event: message_start
        data: {"type":"message_start","message":{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","type":"message","role":"assistant","model":"claude-sonnet-4-20250514","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":377,"cache_creation_input_tokens":0,"cache_read_input_tokens":0,"output_tokens":1,"service_tier":"standard"}}}

        event: content_block_start
        data: {"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}

        event: ping
        data: {"type": "ping"}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"I"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"'ll check the current weather in Paris for you."}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":0}

        event: content_block_start
        data: {"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","name":"get_weather","caller":{"type":"direct"},"input":{}}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":""}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{\"locati"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"on\": \"P"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"ar"}}

        event: content_block_delta
        data: {"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"is\"}"}}

        event: content_block_stop
        data: {"type":"content_block_stop","index":1}

        event: message_delta
        data: {"type":"message_delta","delta":{"stop_reason":"tool_use","stop_sequence":null},"usage":{"output_tokens":65}}

        event: message_stop
        data: {"type":"message_stop"}


        """#

    @Test("the SDK's tool_use stream becomes role, content, tool-call, finish and usage chunks")
    func sdkToolUseStream() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        let chunks = try decode(Self.sdkToolUseStream, with: &decoder)
        #expect(try decoder.finish().isEmpty)
        func sdkChunk(_ delta: String, finish: String = "null") -> String {
            #"{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4-20250514","choices":[{"index":0,"delta":"#
                + delta + #","logprobs":null,"finish_reason":"# + finish + "}]}"
        }
        let expected = [
            sdkChunk(#"{"role":"assistant","content":""}"#),
            sdkChunk(#"{"content":"I"}"#),
            sdkChunk(#"{"content":"'ll check the current weather in Paris for you."}"#),
            sdkChunk(#"{"tool_calls":[{"index":0,"id":"toolu_01NRLabsLyVHZPKxbKvkfSMn","type":"function","function":{"name":"get_weather","arguments":""}}]}"#),
            sdkChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"locati"}}]}"#),
            sdkChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"on\": \"P"}}]}"#),
            sdkChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"ar"}}]}"#),
            sdkChunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"is\"}"}}]}"#),
            sdkChunk("{}", finish: #""tool_calls""#),
            #"{"id":"msg_019Q1hrJbZG26Fb9BQhrkHEr","object":"chat.completion.chunk","created":1700000000,"model":"claude-sonnet-4-20250514","choices":[],"usage":{"prompt_tokens":377,"completion_tokens":65,"total_tokens":442,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        ]
        #expect(jsonEqual(chunks, try json("[" + expected.joined(separator: ",") + "]")))
        #expect(decoder.usage == TokenUsage(promptTokens: 377, completionTokens: 65))

        var aggregator = StreamAggregator(endpoint: .chatCompletions)
        for chunk in chunks { try aggregator.add(data: ByteBuffer(bytes: JSONValue.encode(chunk))) }
        let answer = try #require(jsonObject(aggregator.result()))
        let choice = try #require((answer["choices"] as? [JSONObject])?.first)
        #expect(choice["finish_reason"] as? String == "tool_calls")
        let toolCall = try #require(((choice["message"] as? JSONObject)?["tool_calls"] as? [JSONObject])?.first)
        #expect(jsonEqual(toolCall["function"], ["name": "get_weather", "arguments": #"{"location": "Paris"}"#]))
    }

    @Test("thinking streams as reasoning_content, and cache usage from message_start is kept")
    func thinkingAndCacheUsage() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        let chunks = try decode(sse([
            Self.messageStart,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"thinking","thinking":""}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"Two plus two."}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"signature_delta","signature":"c2ln"}}"#,
            #"{"type":"content_block_stop","index":0}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"text","text":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":""}}"#,
            #"{"type":"content_block_delta","index":1,"delta":{"type":"text_delta","text":"Four."}}"#,
            #"{"type":"content_block_stop","index":1}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":7}}"#,
            #"{"type":"message_stop"}"#,
        ]), with: &decoder)
        let expected = [
            chunk(#"{"role":"assistant","content":""}"#),
            chunk(#"{"reasoning_content":"Two plus two."}"#),
            chunk(#"{"content":"Four."}"#),
            chunk("{}", finish: #""stop""#),
            #"{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[],"usage":{"prompt_tokens":125,"completion_tokens":7,"total_tokens":132,"prompt_tokens_details":{"cached_tokens":20}}}"#,
        ]
        #expect(jsonEqual(chunks, try json("[" + expected.joined(separator: ",") + "]")))
        #expect(decoder.usage == TokenUsage(promptTokens: 125, completionTokens: 7, totalTokens: 132))
    }

    @Test("message_delta overwrites only the usage counts it carries")
    func cumulativeUsage() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        _ = try decode(sse([
            Self.messageStart,
            #"{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9,"cache_read_input_tokens":null}}"#,
        ]), with: &decoder)
        #expect(decoder.usage == TokenUsage(promptTokens: 125, completionTokens: 9))
        let chunks = try decode(sse([
            #"{"type":"message_delta","delta":{"stop_reason":null},"usage":{"input_tokens":110,"output_tokens":12}}"#,
            #"{"type":"message_stop"}"#,
        ]), with: &decoder)
        #expect(decoder.usage == TokenUsage(promptTokens: 135, completionTokens: 12))
        #expect(jsonEqual(chunks.first, try json(chunk("{}", finish: #""length""#))))
        #expect(jsonEqual(chunks.last?["usage"], try json(#"""
            {"prompt_tokens":135,"completion_tokens":12,"total_tokens":147,"prompt_tokens_details":{"cached_tokens":20}}
            """#)))
    }

    @Test("tool calls count from 0 across the stream; a non-empty start input is the arguments; server tools are left out")
    func severalToolCalls() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        let chunks = try decode(sse([
            #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"claude-x","content":[]}}"#,
            #"{"type":"content_block_start","index":0,"content_block":{"type":"server_tool_use","id":"srvtoolu_1","name":"web_search","input":{}}}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{\"query\":\"x\"}"}}"#,
            #"{"type":"content_block_start","index":1,"content_block":{"type":"tool_use","id":"toolu_a","name":"get_time","input":{"zone":"UTC"}}}"#,
            #"{"type":"content_block_start","index":2,"content_block":{"type":"tool_use","id":"toolu_b","name":"get_weather","input":{}}}"#,
            #"{"type":"content_block_delta","index":2,"delta":{"type":"input_json_delta","partial_json":"{\"location\":\"Rome\"}"}}"#,
            #"{"type":"message_delta","delta":{"stop_reason":"tool_use"},"usage":{"output_tokens":30}}"#,
            #"{"type":"message_stop"}"#,
        ]), with: &decoder)
        let expected = [
            chunk(#"{"role":"assistant","content":""}"#),
            chunk(#"{"tool_calls":[{"index":0,"id":"toolu_a","type":"function","function":{"name":"get_time","arguments":"{\"zone\":\"UTC\"}"}}]}"#),
            chunk(#"{"tool_calls":[{"index":1,"id":"toolu_b","type":"function","function":{"name":"get_weather","arguments":""}}]}"#),
            chunk(#"{"tool_calls":[{"index":1,"function":{"arguments":"{\"location\":\"Rome\"}"}}]}"#),
            chunk("{}", finish: #""tool_calls""#),
            #"{"id":"msg_1","object":"chat.completion.chunk","created":1700000000,"model":"claude-x","choices":[],"usage":{"prompt_tokens":0,"completion_tokens":30,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":0}}}"#,
        ]
        #expect(jsonEqual(chunks, try json("[" + expected.joined(separator: ",") + "]")))
    }

    @Test("ping, block stops and unknown events give no chunks; no usage means no usage chunk")
    func quietEvents() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        for event in [
            #"{"type":"ping"}"#, #"{"type":"content_block_stop","index":0}"#, #"{"type":"future_event","x":1}"#, #"{"x":1}"#,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"citations_delta","citation":{}}}"#,
            #"{"type":"content_block_delta","index":5,"delta":{"type":"input_json_delta","partial_json":"{}"}}"#, "",
        ] {
            #expect(try decoder.decode(buffer(event)).isEmpty, "\(event)")
        }
        let chunks = try decode(sse([#"{"type":"message_stop"}"#]), with: &decoder)
        #expect(jsonEqual(chunks, [try json(#"""
            {"id":"","object":"chat.completion.chunk","created":1700000000,"model":"",
             "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}
            """#)]))
        #expect(decoder.usage == nil)
    }

    @Test("an error event ends the stream with the upstream's error type and clipped message")
    func errorEvent() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        _ = try decoder.decode(buffer(Self.messageStart))
        let error = try #require(throws: UpstreamStreamError.self) {
            try decoder.decode(buffer(#"{"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}"#))
        }
        #expect(error == UpstreamStreamError(reason: "the upstream reported overloaded_error: Overloaded"))
        let long = String(repeating: "x", count: 300)
        let clipped = try #require(throws: UpstreamStreamError.self) {
            try decoder.decode(buffer(#"{"type":"error","error":{"type":"api_error","message":"\#(long)"}}"#))
        }
        #expect(clipped.reason == "the upstream reported api_error: " + String(repeating: "x", count: 256) + "…")
    }

    @Test("data that is not a JSON object is an error", arguments: ["not json", "[1,2]", #"{"type":"message_stop""#])
    func notJSON(data: String) throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        let error = try #require(throws: UpstreamStreamError.self) { try decoder.decode(buffer(data)) }
        #expect(error.reason == "the upstream sent an event that is not a JSON object")
        #expect(error.detail == data)
    }

    @Test("a stream that ends before message_stop is an error")
    func earlyEnd() throws {
        var decoder = AnthropicStreamDecoder(created: Self.created)
        let chunks = try decode(sse([
            Self.messageStart,
            #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hel"}}"#,
        ]), with: &decoder)
        #expect(chunks.count == 2)
        let error = try #require(throws: UpstreamStreamError.self) { try decoder.finish() }
        #expect(error == UpstreamStreamError(reason: "the stream ended before it finished"))
        var silent = AnthropicStreamDecoder(created: Self.created)
        #expect(throws: UpstreamStreamError(reason: "the stream ended before it finished")) { try silent.finish() }
    }
}
