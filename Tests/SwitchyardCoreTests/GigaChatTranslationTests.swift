import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// OpenAI chat requests to GigaChat's v1 API and GigaChat's answers, streams and OAuth tokens back.
@Suite("GigaChat translation") struct GigaChatTranslationTests {
    func gigaChatBody(_ chat: String, stream: Bool = false) throws -> JSONObject {
        try GigaChatRequestBuilder.chatBody(fromChat: try #require(jsonObject(chat)), model: "GigaChat-2-Max", stream: stream)
    }

    func answer(_ response: String) throws -> JSONObject {
        try GigaChatAnswer.chatCompletion(fromResponse: try #require(jsonObject(response)))
    }

    /// Every chunk the decoder makes for the events' data, then for the body's end.
    func decodeStream(_ events: [String]) throws -> (chunks: [JSONObject], decoder: GigaChatStreamDecoder) {
        var decoder = GigaChatStreamDecoder()
        var chunks: [JSONObject] = []
        for event in events { chunks += try decoder.decode(buffer(event)) }
        chunks += try decoder.finish()
        return (chunks, decoder)
    }

    /// The chunks without their generated `id`, after checking that they all share one.
    func withoutIDs(_ chunks: [JSONObject]) -> [JSONObject] {
        let ids = Set(chunks.compactMap { $0["id"] as? String })
        #expect(ids.count == 1)
        #expect(ids.first?.hasPrefix("chatcmpl-") == true)
        return chunks.map { chunk in chunk.filter { $0.key != "id" } }
    }

    func tokenError(_ body: String, now: Date = utcDate(2026, 3, 1)) -> GatewayError? {
        #expect(throws: GatewayError.self) { try GigaChatToken(responseBody: buffer(body), now: now) }
    }

    // MARK: Requests

    @Test("developer becomes system, later system messages become user, same-role text is merged")
    func rolesAndMerging() throws {
        let body = try gigaChatBody(#"""
            {"model":"gigachat","messages":[
              {"role":"system","content":"Be brief."},
              {"role":"developer","content":"Answer in Russian."},
              {"role":"user","content":"Hi"},
              {"role":"system","content":"Also be polite."},
              {"role":"assistant","content":"Привет"},
              {"role":"assistant","content":null},
              {"role":"assistant","content":"Чем помочь?"},
              {"role":"user","content":""}]}
            """#)
        #expect(jsonEqual(body, jsonObject(#"""
            {"model":"GigaChat-2-Max","stream":false,"messages":[
              {"role":"system","content":"Be brief.\nAnswer in Russian."},
              {"role":"user","content":"Hi\nAlso be polite."},
              {"role":"assistant","content":"Привет\nЧем помочь?"},
              {"role":"user","content":""}]}
            """#)))
    }

    @Test("a system message after the first user turn is sent as user words")
    func systemOnlyFirst() throws {
        let body = try gigaChatBody(#"""
            {"messages":[{"role":"user","content":"Q"},{"role":"assistant","content":"A"},{"role":"system","content":"S"}]}
            """#, stream: true)
        #expect(jsonEqual(body, jsonObject(#"""
            {"model":"GigaChat-2-Max","stream":true,"messages":[
              {"role":"user","content":"Q"},{"role":"assistant","content":"A"},{"role":"user","content":"S"}]}
            """#)))
    }

    @Test("text content parts are joined with newlines")
    func contentParts() throws {
        let body = try gigaChatBody(#"""
            {"messages":[{"role":"user","content":[{"type":"text","text":"First"},{"type":"text","text":"Second"}]},
                         {"role":"user","content":[]}]}
            """#)
        #expect(jsonEqual(body["messages"], jsonObject(#"{"m":[{"role":"user","content":"First\nSecond"}]}"#)?["m"]))
    }

    @Test("image parts are rejected: v1 takes images only as uploaded files")
    func imagesRejected() throws {
        let error = #expect(throws: GatewayError.self) {
            try gigaChatBody(#"""
                {"messages":[{"role":"user","content":"Look"},{"role":"user","content":[{"type":"text","text":"this"},
                  {"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA"}}]}]}
                """#)
        }
        #expect(error?.statusCode == 400)
        #expect(error?.param == "messages[1].content[1]")
        #expect(error?.message.contains("images") == true)
    }

    @Test("tools become functions and tool_choice becomes function_call")
    func toolsBecomeFunctions() throws {
        let tools = #"""
            "tools":[{"type":"function","function":{"name":"get_weather","description":"Weather now",
              "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]},"strict":true}},
              {"type":"function","function":{"name":"now"}}]
            """#
        let functions = try #require(jsonObject(#"""
            {"f":[{"name":"get_weather","description":"Weather now",
              "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},{"name":"now"}]}
            """#)?["f"])
        let cases: [(choice: String, functionCall: Any?)] = [
            (#""auto""#, "auto"), (#""none""#, "none"), (#""required""#, nil), ("null", nil),
            (#"{"type":"function","function":{"name":"get_weather"}}"#, ["name": "get_weather"]),
        ]
        for (choice, functionCall) in cases {
            let body = try gigaChatBody(#"{"messages":[{"role":"user","content":"Hi"}],\#(tools),"tool_choice":\#(choice)}"#)
            #expect(jsonEqual(body["functions"], functions))
            #expect(jsonEqual(body["function_call"], functionCall), "tool_choice \(choice)")
            #expect(body["tools"] == nil && body["tool_choice"] == nil)
        }
        let withoutTools = try gigaChatBody(#"{"messages":[{"role":"user","content":"Hi"}],"tools":[],"tool_choice":"auto"}"#)
        #expect(withoutTools["functions"] == nil && withoutTools["function_call"] == nil)
    }

    @Test("an assistant's tool calls become one function_call with object arguments; only the first is kept")
    func assistantToolCalls() throws {
        let body = try gigaChatBody(#"""
            {"messages":[{"role":"user","content":"Weather in Moscow and Kazan?"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Moscow\"}"}},
                {"id":"call_b","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Kazan\"}"}}]},
              {"role":"tool","tool_call_id":"call_a","content":"{\"temp\":20}"},
              {"role":"tool","tool_call_id":"call_b","content":"{\"temp\":25}"},
              {"role":"assistant","content":"20 in Moscow."},
              {"role":"assistant","content":"","tool_calls":[{"id":"call_c","type":"function","function":{"name":"now","arguments":""}}]},
              {"role":"tool","tool_call_id":"call_c","content":"12:00"}]}
            """#)
        #expect(jsonEqual(body["messages"], jsonObject(#"""
            {"m":[{"role":"user","content":"Weather in Moscow and Kazan?"},
              {"role":"assistant","content":"","function_call":{"name":"get_weather","arguments":{"city":"Moscow"}},
               "functions_state_id":"call_a"},
              {"role":"function","name":"get_weather","content":"{\"temp\":20}"},
              {"role":"assistant","content":"20 in Moscow."},
              {"role":"assistant","content":"","function_call":{"name":"now","arguments":{}},"functions_state_id":"call_c"},
              {"role":"function","name":"now","content":"{\"result\":\"12:00\"}"}]}
            """#)?["m"]))
    }

    @Test("tool results are named by their call and sent as JSON object strings")
    func toolResults() throws {
        let cases: [(content: String, expected: String)] = [
            (#""{\"temp\":20}""#, #"{"temp":20}"#),
            (#""sunny""#, #"{"result":"sunny"}"#),
            (#""\"{\\\"temp\\\":20}\"""#, #"{"temp":20}"#),
            (#""[1,2]""#, #"{"result":[1,2]}"#),
            (#""""#, #"{"result":""}"#),
            (#"[{"type":"text","text":"{\"ok\":"},{"type":"text","text":"true}"}]"#, "{\"ok\":\ntrue}"),
        ]
        for (content, expected) in cases {
            let body = try gigaChatBody(#"""
                {"messages":[{"role":"user","content":"Go"},
                  {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"probe","arguments":"{}"}}]},
                  {"role":"tool","tool_call_id":"c1","content":\#(content)}]}
                """#)
            let result = try #require((body["messages"] as? [JSONObject])?.last)
            #expect(result["role"] as? String == "function")
            #expect(result["name"] as? String == "probe")
            #expect(jsonEqual(jsonObject(try #require(result["content"] as? String)), jsonObject(expected)), "content \(content)")
        }
        let legacy = try gigaChatBody(#"""
            {"messages":[{"role":"user","content":"Go"},{"role":"function","name":"probe","content":"{\"a\":1}"}]}
            """#)
        #expect(jsonEqual((legacy["messages"] as? [JSONObject])?.last, ["role": "function", "name": "probe", "content": #"{"a":1}"#]))
    }

    @Test("a client function named web_search is renamed on the way up and back in answers and streams")
    func reservedWebSearchName() throws {
        let standIn = GigaChatRequestBuilder.webSearchStandIn
        let body = try gigaChatBody(#"""
            {"messages":[{"role":"user","content":"Find"},
              {"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"web_search","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"c1","content":"{}"}],
             "tools":[{"type":"function","function":{"name":"web_search"}}],
             "tool_choice":{"type":"function","function":{"name":"web_search"}}}
            """#)
        let messages = try #require(body["messages"] as? [JSONObject])
        #expect((messages[1]["function_call"] as? JSONObject)?["name"] as? String == standIn)
        #expect(messages[2]["name"] as? String == standIn)
        #expect(jsonEqual(body["functions"], [["name": standIn]]))
        #expect(jsonEqual(body["function_call"], ["name": standIn]))

        let completion = try answer(#"""
            {"choices":[{"index":0,"finish_reason":"function_call","message":{"role":"assistant","content":"",
              "function_call":{"name":"\#(standIn)","arguments":{"q":"swift"}},"functions_state_id":"s1"}}],
             "created":1,"model":"GigaChat-2-Max","object":"chat.completion"}
            """#)
        let call = try #require((((completion["choices"] as? [JSONObject])?.first?["message"] as? JSONObject)?["tool_calls"] as? [JSONObject])?.first)
        #expect((call["function"] as? JSONObject)?["name"] as? String == "web_search")

        let (chunks, _) = try decodeStream([
            #"{"choices":[{"index":0,"delta":{"role":"assistant","content":"","function_call":{"name":"\#(standIn)","arguments":{}}},"finish_reason":"function_call"}],"created":1,"model":"m"}"#,
            "[DONE]",
        ])
        let streamed = try #require(((chunks.first?["choices"] as? [JSONObject])?.first?["delta"] as? JSONObject)?["tool_calls"] as? [JSONObject])
        #expect((streamed.first?["function"] as? JSONObject)?["name"] as? String == "web_search")
    }

    @Test("sampling fields pass; fields GigaChat does not know are not sent")
    func samplingFields() throws {
        let body = try gigaChatBody(#"""
            {"model":"x","messages":[{"role":"user","content":"Hi"}],"temperature":0.7,"top_p":0.9,"max_tokens":512,"n":2,
             "stop":["\n"],"logprobs":true,"user":"u1","seed":7,"stream":true,"stream_options":{"include_usage":true},
             "response_format":{"type":"json_object"},"parallel_tool_calls":false,"metadata":{"a":"b"}}
            """#)
        #expect(jsonEqual(body, jsonObject(#"""
            {"model":"GigaChat-2-Max","stream":false,"messages":[{"role":"user","content":"Hi"}],
             "temperature":0.7,"top_p":0.9,"max_tokens":512,"n":2}
            """#)))
        let newer = try gigaChatBody(#"{"messages":[{"role":"user","content":"Hi"}],"max_completion_tokens":64,"temperature":0,"top_p":1,"n":1}"#)
        #expect(newer["max_tokens"] as? Int == 64)
        #expect(jsonEqual(newer["temperature"], 0) && jsonEqual(newer["top_p"], 1) && jsonEqual(newer["n"], 1))
    }

    @Test("malformed requests are rejected with the path of the mistake")
    func malformedRequests() throws {
        let user = #"{"role":"user","content":"Hi"}"#
        let cases: [(body: String, param: String)] = [
            (#"{"model":"m"}"#, "messages"),
            (#"{"messages":[]}"#, "messages"),
            (#"{"messages":{"role":"user"}}"#, "messages"),
            (#"{"messages":["Hi"]}"#, "messages[0]"),
            (#"{"messages":[{"content":"Hi"}]}"#, "messages[0].role"),
            (#"{"messages":[{"role":"critic","content":"Hi"}]}"#, "messages[0].role"),
            (#"{"messages":[\#(user),{"role":"user","content":42}]}"#, "messages[1].content"),
            (#"{"messages":[{"role":"user","content":[{"text":"x"}]}]}"#, "messages[0].content[0]"),
            (#"{"messages":[{"role":"user","content":[{"type":"text"}]}]}"#, "messages[0].content[0].text"),
            (#"{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]}"#, "messages[0].content[0]"),
            (#"{"messages":[\#(user),{"role":"assistant","tool_calls":{}}]}"#, "messages[1].tool_calls"),
            (#"{"messages":[\#(user),{"role":"assistant","tool_calls":[{"type":"function","function":{"name":"f"}}]}]}"#,
             "messages[1].tool_calls[0]"),
            (#"{"messages":[\#(user),{"role":"assistant","tool_calls":[{"id":"c","function":{}}]}]}"#,
             "messages[1].tool_calls[0].function.name"),
            (#"{"messages":[\#(user),{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":{}}}]}]}"#,
             "messages[1].tool_calls[0].function.arguments"),
            (#"{"messages":[\#(user),{"role":"tool","tool_call_id":"unknown","content":"x"}]}"#, "messages[1].tool_call_id"),
            (#"{"messages":[\#(user)],"tools":{}}"#, "tools"),
            (#"{"messages":[\#(user)],"tools":[{"type":"code_interpreter"}]}"#, "tools[0].type"),
            (#"{"messages":[\#(user)],"tools":[{"type":"function","function":{"name":""}}]}"#, "tools[0].function.name"),
            (#"{"messages":[\#(user)],"tools":[{"type":"function","function":{"name":"f","description":1}}]}"#,
             "tools[0].function.description"),
            (#"{"messages":[\#(user)],"tools":[{"type":"function","function":{"name":"f","parameters":"{}"}}]}"#,
             "tools[0].function.parameters"),
            (#"{"messages":[\#(user)],"tool_choice":"any"}"#, "tool_choice"),
            (#"{"messages":[\#(user)],"tool_choice":{"type":"function"}}"#, "tool_choice"),
            (#"{"messages":[\#(user)],"temperature":"hot"}"#, "temperature"),
            (#"{"messages":[\#(user)],"top_p":-0.5}"#, "top_p"),
            (#"{"messages":[\#(user)],"max_tokens":0}"#, "max_tokens"),
            (#"{"messages":[\#(user)],"max_tokens":1.5}"#, "max_tokens"),
            (#"{"messages":[\#(user)],"max_tokens":true}"#, "max_tokens"),
            (#"{"messages":[\#(user)],"max_completion_tokens":-1}"#, "max_completion_tokens"),
            (#"{"messages":[\#(user)],"n":0}"#, "n"),
        ]
        for (body, param) in cases {
            let error = #expect(throws: GatewayError.self, "\(body)") { try gigaChatBody(body) }
            #expect(error?.statusCode == 400, "\(body)")
            #expect(error?.type == "invalid_request_error", "\(body)")
            #expect(error?.param == param, "\(body)")
        }
    }

    // MARK: Answers

    @Test("a text answer becomes a canonical chat.completion with cached tokens and reasoning kept")
    func textAnswer() throws {
        let completion = try answer(#"""
            {"choices":[{"message":{"role":"assistant","content":"Привет!","reasoning_content":"Greeting."},
              "index":0,"finish_reason":"stop"}],
             "created":1703123456,"model":"GigaChat-2-Max:2.0","object":"chat.completion",
             "usage":{"prompt_tokens":150,"completion_tokens":25,"total_tokens":175,"precached_prompt_tokens":100}}
            """#)
        #expect((completion["id"] as? String)?.hasPrefix("chatcmpl-") == true)
        #expect(jsonEqual(completion.filter { $0.key != "id" }, jsonObject(#"""
            {"object":"chat.completion","created":1703123456,"model":"GigaChat-2-Max:2.0",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Привет!","reasoning_content":"Greeting."},
               "logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":150,"completion_tokens":25,"total_tokens":175,"prompt_tokens_details":{"cached_tokens":100}}}
            """#)))
    }

    @Test("a function call answer becomes tool_calls with JSON string arguments and content null")
    func functionCallAnswer() throws {
        let completion = try answer(#"""
            {"choices":[{"message":{"role":"assistant","content":"","functions_state_id":"77d3fb14-457a-46ba-937e-8d856156d003",
              "function_call":{"name":"get_weather","arguments":{"city":"Москва","days":2}}},"index":0,"finish_reason":"function_call"}],
             "created":1703123456,"model":"GigaChat-2-Max","object":"chat.completion",
             "usage":{"prompt_tokens":120,"completion_tokens":30,"total_tokens":150}}
            """#)
        #expect(jsonEqual(completion["choices"], jsonObject(#"""
            {"c":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"77d3fb14-457a-46ba-937e-8d856156d003",
               "type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Москва\",\"days\":2}"}}]},
              "logprobs":null,"finish_reason":"tool_calls"}]}
            """#)?["c"]))
        #expect(jsonEqual(completion["usage"], ["prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150]))
    }

    @Test("a function call without a state id gets a generated call id; text beside it is kept")
    func functionCallWithoutStateID() throws {
        let completion = try answer(#"""
            {"choices":[{"message":{"role":"assistant","content":"Checking.","function_call":{"name":"now"}},
              "index":0,"finish_reason":"stop"}],"created":1,"model":"m"}
            """#)
        let message = try #require((completion["choices"] as? [JSONObject])?.first?["message"] as? JSONObject)
        #expect(message["content"] as? String == "Checking.")
        let call = try #require((message["tool_calls"] as? [JSONObject])?.first)
        #expect((call["id"] as? String)?.hasPrefix("call_") == true)
        #expect(jsonEqual(call["function"], ["name": "now", "arguments": "{}"]))
        #expect((completion["choices"] as? [JSONObject])?.first?["finish_reason"] as? String == "tool_calls")
    }

    @Test("finish reasons become OpenAI's: blacklist is a content filter, unknown ones stop")
    func finishReasons() throws {
        let cases = [("stop", "stop"), ("length", "length"), ("blacklist", "content_filter"), ("error", "stop"), ("odd", "stop")]
        for (upstream, canonical) in cases {
            let completion = try answer(#"""
                {"choices":[{"message":{"role":"assistant","content":"x"},"index":0,"finish_reason":"\#(upstream)"}],"created":1,"model":"m"}
                """#)
            #expect((completion["choices"] as? [JSONObject])?.first?["finish_reason"] as? String == canonical, "\(upstream)")
        }
    }

    @Test("an answer without choices is an upstream error")
    func malformedAnswer() throws {
        for response in [#"{"model":"m"}"#, #"{"choices":{}}"#, #"{"choices":["x"]}"#] {
            let error = #expect(throws: GatewayError.self) { try answer(response) }
            #expect(error?.statusCode == 502)
            #expect(error?.code == "invalid_upstream_response")
        }
    }

    @Test("usage counts precached tokens inside the prompt; unbelievable counts are not taken")
    func usage() throws {
        let usage = GigaChatAnswer.usage(jsonObject(#"{"prompt_tokens":150,"completion_tokens":25,"total_tokens":175,"precached_prompt_tokens":100}"#))
        #expect(usage == TokenUsage(promptTokens: 150, completionTokens: 25, totalTokens: 175))
        #expect(GigaChatAnswer.usage(jsonObject(#"{"prompt_tokens":1e15,"completion_tokens":1}"#)) == nil)
        #expect(GigaChatAnswer.usage(nil) == nil)
    }

    @Test("a tool call answered and sent back keeps its id as functions_state_id and its arguments as an object")
    func functionCallRoundTrip() throws {
        let completion = try answer(#"""
            {"choices":[{"message":{"role":"assistant","content":"","functions_state_id":"state-1",
              "function_call":{"name":"get_weather","arguments":{"city":"Moscow","units":{"temp":"C"}}}},
              "index":0,"finish_reason":"function_call"}],"created":1,"model":"m"}
            """#)
        let message = try #require((completion["choices"] as? [JSONObject])?.first?["message"] as? JSONObject)
        let echoed: JSONObject = [
            "messages": [
                ["role": "user", "content": "Weather?"], message,
                ["role": "tool", "tool_call_id": "state-1", "content": #"{"temp":20}"#],
            ] as [Any]
        ]
        let body = try GigaChatRequestBuilder.chatBody(fromChat: echoed, model: "GigaChat", stream: false)
        #expect(jsonEqual(body["messages"], jsonObject(#"""
            {"m":[{"role":"user","content":"Weather?"},
              {"role":"assistant","content":"","function_call":{"name":"get_weather","arguments":{"city":"Moscow","units":{"temp":"C"}}},
               "functions_state_id":"state-1"},
              {"role":"function","name":"get_weather","content":"{\"temp\":20}"}]}
            """#)?["m"]))
    }

    // MARK: Streams

    @Test("a text stream becomes role, content and finish chunks, then one usage chunk at [DONE]")
    func textStream() throws {
        let (chunks, decoder) = try decodeStream([
            #"{"choices":[{"delta":{"content":"При","role":"assistant"},"index":0}],"created":1703123456,"model":"GigaChat-2","object":"chat.completion"}"#,
            #"{"choices":[{"delta":{"content":"вет","reasoning_content":"hm"},"index":0}],"created":1703123456,"model":"GigaChat-2","object":"chat.completion"}"#,
            #"{"choices":[{"delta":{"content":""},"index":0,"finish_reason":"stop"}],"created":1703123456,"model":"GigaChat-2","object":"chat.completion","usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23,"precached_prompt_tokens":4}}"#,
            "[DONE]",
        ])
        #expect(jsonEqual(withoutIDs(chunks), jsonObject(#"""
            {"c":[
             {"object":"chat.completion.chunk","created":1703123456,"model":"GigaChat-2",
              "choices":[{"index":0,"delta":{"role":"assistant","content":"При"},"logprobs":null,"finish_reason":null}]},
             {"object":"chat.completion.chunk","created":1703123456,"model":"GigaChat-2",
              "choices":[{"index":0,"delta":{"content":"вет","reasoning_content":"hm"},"logprobs":null,"finish_reason":null}]},
             {"object":"chat.completion.chunk","created":1703123456,"model":"GigaChat-2",
              "choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]},
             {"object":"chat.completion.chunk","created":1703123456,"model":"GigaChat-2","choices":[],
              "usage":{"prompt_tokens":20,"completion_tokens":3,"total_tokens":23,"prompt_tokens_details":{"cached_tokens":4}}}]}
            """#)?["c"]))
        #expect(decoder.usage == TokenUsage(promptTokens: 20, completionTokens: 3, totalTokens: 23))
    }

    @Test("a streamed function call becomes one tool call at index 0 with its full arguments")
    func streamedFunctionCall() throws {
        let (chunks, _) = try decodeStream([
            #"{"choices":[{"delta":{"role":"assistant","content":""},"index":0}],"created":5,"model":"GigaChat-2-Max"}"#,
            #"{"choices":[{"delta":{"content":"","functions_state_id":"fs-9","function_call":{"name":"get_weather","arguments":{"city":"Kazan"}}},"index":0,"finish_reason":"function_call"}],"created":5,"model":"GigaChat-2-Max"}"#,
            #"{"choices":[],"created":5,"model":"GigaChat-2-Max","usage":{"prompt_tokens":40,"completion_tokens":10,"total_tokens":50}}"#,
            "[DONE]",
        ])
        #expect(jsonEqual(withoutIDs(chunks), jsonObject(#"""
            {"c":[
             {"object":"chat.completion.chunk","created":5,"model":"GigaChat-2-Max",
              "choices":[{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":null}]},
             {"object":"chat.completion.chunk","created":5,"model":"GigaChat-2-Max",
              "choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"fs-9","type":"function",
                "function":{"name":"get_weather","arguments":"{\"city\":\"Kazan\"}"}}]},"logprobs":null,"finish_reason":"tool_calls"}]},
             {"object":"chat.completion.chunk","created":5,"model":"GigaChat-2-Max","choices":[],
              "usage":{"prompt_tokens":40,"completion_tokens":10,"total_tokens":50}}]}
            """#)?["c"]))
    }

    @Test("a finish reason followed by the body's end counts as finished; usage still comes once")
    func finishWithoutDone() throws {
        var decoder = GigaChatStreamDecoder()
        let first = try decoder.decode(buffer(#"{"choices":[{"delta":{"content":"Hi"},"index":0,"finish_reason":"length"}],"created":1,"model":"m","usage":{"prompt_tokens":11,"completion_tokens":12,"total_tokens":23}}"#))
        #expect(first.count == 1)
        #expect((first.first?["choices"] as? [JSONObject])?.first?["finish_reason"] as? String == "length")
        #expect(first.first?["usage"] == nil)
        let end = try decoder.finish()
        #expect(end.count == 1)
        #expect(jsonEqual(end.first?["usage"], ["prompt_tokens": 11, "completion_tokens": 12, "total_tokens": 23]))
        #expect(try decoder.finish().isEmpty)
    }

    @Test("a stream that ends without [DONE] or a finish reason fails")
    func earlyEnd() throws {
        var decoder = GigaChatStreamDecoder()
        _ = try decoder.decode(buffer(#"{"choices":[{"delta":{"content":"Hi"},"index":0}],"created":1,"model":"m"}"#))
        #expect(throws: UpstreamStreamError.self) { try decoder.finish() }
        var empty = GigaChatStreamDecoder()
        #expect(throws: UpstreamStreamError.self) { try empty.finish() }
    }

    @Test("an error event or a non-JSON event in the stream fails it")
    func streamErrors() throws {
        var decoder = GigaChatStreamDecoder()
        let error = #expect(throws: UpstreamStreamError.self) {
            try decoder.decode(buffer(#"{"error":{"status":500,"message":"Internal Server Error"}}"#))
        }
        #expect(error?.reason.contains("Internal Server Error") == true)
        #expect(error?.forwarded.isEmpty == true)
        var other = GigaChatStreamDecoder()
        #expect(throws: UpstreamStreamError.self) { try other.decode(buffer("event: ping")) }
        #expect(throws: UpstreamStreamError.self) { try other.decode(buffer("[1,2]")) }
    }

    @Test("a stream without usage ends at [DONE] with no usage chunk")
    func streamWithoutUsage() throws {
        let (chunks, decoder) = try decodeStream([
            #"{"choices":[{"delta":{"role":"assistant","content":"Ok"},"index":0,"finish_reason":"blacklist"}],"created":1,"model":"m"}"#,
            "[DONE]",
        ])
        #expect(chunks.count == 1)
        #expect((chunks.first?["choices"] as? [JSONObject])?.first?["finish_reason"] as? String == "content_filter")
        #expect(decoder.usage == nil)
    }

    // MARK: Tokens

    @Test("token answers parse in both shapes, with the expiry's unit decided by magnitude")
    func tokenShapes() throws {
        let now = utcDate(2026, 3, 1)
        let expiry = now.addingTimeInterval(1800)
        let milliseconds = Int(expiry.timeIntervalSince1970 * 1000)
        let seconds = Int(expiry.timeIntervalSince1970)
        for body in [
            #"{"access_token":"eyJhbGciOi.JWE","expires_at":\#(milliseconds)}"#,
            #"{"access_token":"eyJhbGciOi.JWE","expires_at":\#(seconds)}"#,
            #"{"tok":"eyJhbGciOi.JWE","exp":\#(seconds)}"#,
            #"{"tok":"eyJhbGciOi.JWE","exp":\#(milliseconds)}"#,
        ] {
            let token = try GigaChatToken(responseBody: buffer(body), now: now)
            #expect(token == GigaChatToken(accessToken: "eyJhbGciOi.JWE", expiresAt: expiry), "\(body)")
        }
    }

    @Test("malformed token answers are rejected as invalid_token_response")
    func malformedTokens() throws {
        let now = utcDate(2026, 3, 1)
        let soon = Int(now.timeIntervalSince1970 * 1000) + 1_800_000
        let bodies = [
            "not json", "[]", #"{"expires_at":\#(soon)}"#, #"{"access_token":"","expires_at":\#(soon)}"#,
            #"{"access_token":42,"expires_at":\#(soon)}"#,
            #"{"access_token":"abc\r\nX-Injected: 1","expires_at":\#(soon)}"#,
            #"{"access_token":"abc\u0000","expires_at":\#(soon)}"#,
            #"{"access_token":"abc"}"#, #"{"access_token":"abc","expires_at":"\#(soon)"}"#,
            #"{"access_token":"abc","expires_at":null}"#,
            #"{"access_token":"abc","expires_at":915148800}"#,
            #"{"access_token":"abc","expires_at":\#(soon + 400 * 86_400_000)}"#,
            #"{"access_token":"abc","expires_at":1e300}"#,
            #"{"access_token":"abc","expires_at":-1706026848841}"#,
        ]
        for body in bodies {
            let error = tokenError(body, now: now)
            #expect(error?.statusCode == 502, "\(body)")
            #expect(error?.type == "api_error", "\(body)")
            #expect(error?.code == "invalid_token_response", "\(body)")
            #expect(error?.message.contains("abc") == false, "the token never reaches a message")
        }
    }

    @Test("a token needs refreshing when less than the margin is left")
    func refreshMargin() {
        let now = utcDate(2026, 3, 1)
        let token = AccessToken(value: "t", expiresAt: now.addingTimeInterval(90))
        #expect(!token.needsRefresh(at: now))
        #expect(!token.needsRefresh(at: now.addingTimeInterval(29)))
        #expect(token.needsRefresh(at: now.addingTimeInterval(31)))
        #expect(token.needsRefresh(at: now, margin: 120))
        #expect(token.needsRefresh(at: now.addingTimeInterval(3600)))
    }

    @Test("the token request's form body percent-encodes the scope")
    func formBody() {
        #expect(GigaChatToken.formBody(scope: "GIGACHAT_API_PERS") == "scope=GIGACHAT_API_PERS")
        #expect(GigaChatToken.formBody(scope: "a b&c=d/é~") == "scope=a%20b%26c%3Dd%2F%C3%A9~")
    }
}
