import Foundation
import NIOCore
import Testing

@testable import SwitchyardCore

/// `/v1/responses` answers and streams: canonical chat answers and chunks as Responses objects and events, and
/// Responses streams relayed from providers that speak the API.
@Suite("Responses encoding") struct ResponsesEncodingTests {
    let envelope = ResponseEnvelope(
        id: "resp_test", createdAt: 1_700_000_000, model: "gpt-x",
        echo: ["instructions": "Be brief.", "tools": [Any](), "tool_choice": "auto", "parallel_tool_calls": true]
    )

    /// The expected response object around `output`, with the envelope and echo above.
    func response(
        _ status: String, output: String = "[]", usage: String = "null", incomplete: String = "null",
        error: String = "null"
    ) -> String {
        #"{"id":"resp_test","object":"response","created_at":1700000000,"model":"gpt-x","status":"\#(status)","#
            + #""output":\#(output),"usage":\#(usage),"error":\#(error),"incomplete_details":\#(incomplete),"#
            + #""instructions":"Be brief.","tools":[],"tool_choice":"auto","parallel_tool_calls":true}"#
    }

    func usage(_ input: Int, _ output: Int, cached: Int = 0, cacheWrite: Int = 0, reasoning: Int = 0) -> String {
        #"{"input_tokens":\#(input),"input_tokens_details":{"cached_tokens":\#(cached),"cache_write_tokens":\#(cacheWrite)},"#
            + #""output_tokens":\#(output),"output_tokens_details":{"reasoning_tokens":\#(reasoning)},"total_tokens":\#(input + output)}"#
    }

    /// Generated ids (`msg_` + 48 hex …) replaced by `msg_*`, so goldens can name them.
    func normalized(_ value: Any) -> Any {
        switch value {
        case let object as JSONObject: return object.mapValues(normalized)
        case let array as [Any]: return array.map(normalized)
        case let text as String:
            guard let underscore = text.firstIndex(of: "_"), text.distance(from: underscore, to: text.endIndex) == 49,
                text[text.index(after: underscore)...].allSatisfy({ $0.isHexDigit && !$0.isUppercase })
            else { return text }
            return text[...underscore] + "*"
        default: return value
        }
    }

    func expectJSON(_ actual: Any?, _ golden: String, sourceLocation: SourceLocation = #_sourceLocation) {
        let expected = try? JSONSerialization.jsonObject(with: Data(golden.utf8))
        #expect(expected != nil, "golden is not JSON: \(golden)", sourceLocation: sourceLocation)
        let normal = actual.map(normalized)
        #expect(
            jsonEqual(normal, expected), "\(normal.map { text(JSONValue.encode($0)) } ?? "nil") ≠ \(golden)",
            sourceLocation: sourceLocation
        )
    }

    func expectEvents(
        _ actual: [(name: String, data: JSONObject)], _ expected: [String],
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        #expect(actual.count == expected.count, "\(actual.map(\.name))", sourceLocation: sourceLocation)
        for (event, golden) in zip(actual, expected) { expectJSON(event.data, golden, sourceLocation: sourceLocation) }
    }

    /// Runs canonical chunks (JSON text) through a fresh encoder and finishes it.
    func encodeStream(
        _ chunks: [String], estimate: Int = 42
    ) throws -> (events: [ByteBuffer], encoder: ResponsesStreamEncoder) {
        var encoder = ResponsesStreamEncoder(envelope: envelope, inputTokensEstimate: estimate)
        var buffers: [ByteBuffer] = []
        for chunk in chunks { buffers += encoder.encode(try #require(jsonObject(chunk))) }
        buffers += encoder.finish()
        return (buffers, encoder)
    }

    func chunk(_ delta: String, finish: String = "null") -> String {
        #"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":\#(delta),"logprobs":null,"finish_reason":\#(finish)}]}"#
    }

    func usageChunk(_ usage: String) -> String {
        #"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[],"usage":\#(usage)}"#
    }

    func completion(_ message: String, finish: String = #""stop""#, usage: String? = nil) throws -> JSONObject {
        let usageMember = usage.map { #","usage":\#($0)"# } ?? ""
        return try #require(
            jsonObject(
                #"{"id":"c1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":\#(message),"logprobs":null,"finish_reason":\#(finish)}]\#(usageMember)}"#
            ))
    }

    // MARK: Namespaces

    @Test("a call of a flattened namespace function comes back as a function_call with its namespace")
    func namespacedCalls() throws {
        let namespaced = ResponseEnvelope(
            id: "resp_test", createdAt: 1, model: "gpt-x",
            echo: ["tools": [["type": "namespace", "name": "agents", "tools": [["type": "function", "name": "close_agent"]]]]]
        )
        let message = #"""
            {"role":"assistant","content":null,"tool_calls":[
              {"id":"c1","type":"function","function":{"name":"agents__close_agent","arguments":"{}"}},
              {"id":"c2","type":"function","function":{"name":"other__tool","arguments":"{}"}}]}
            """#
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(message, finish: #""tool_calls""#), envelope: namespaced
        )
        let calls = try #require(answer["output"] as? [JSONObject])
        #expect(calls[0]["name"] as? String == "close_agent" && calls[0]["namespace"] as? String == "agents")
        #expect(calls[1]["name"] as? String == "other__tool" && calls[1]["namespace"] == nil, "an undeclared prefix stays")

        var encoder = ResponsesStreamEncoder(envelope: namespaced, inputTokensEstimate: 1)
        _ = encoder.encode(try #require(jsonObject(chunk(
            #"{"role":"assistant","tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"agents__close_agent","arguments":"{}"}}]}"#
        ))))
        _ = encoder.finish()
        let streamed = try #require((encoder.completedAnswer?["output"] as? [JSONObject])?.first)
        #expect(streamed["name"] as? String == "close_agent" && streamed["namespace"] as? String == "agents")
    }

    // MARK: Ids

    @Test("ids are the prefix and 48 lowercase hex digits, different each time")
    func ids() {
        let id = ResponseEnvelope.makeID()
        #expect(id.hasPrefix("resp_"))
        #expect(id.count == 53)
        #expect(id.dropFirst(5).allSatisfy { $0.isHexDigit && !$0.isUppercase })
        #expect(ResponseEnvelope.makeID(prefix: "fc").hasPrefix("fc_"))
        #expect(ResponseEnvelope.makeID() != ResponseEnvelope.makeID())
    }

    // MARK: Whole answers

    @Test("a text answer becomes a completed response with one message")
    func textAnswer() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":"Hello!"}"#,
                usage: #"{"prompt_tokens":10,"completion_tokens":3,"total_tokens":13}"#),
            envelope: envelope
        )
        expectJSON(
            answer,
            response(
                "completed",
                output:
                    #"[{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello!","annotations":[]}]}]"#,
                usage: usage(10, 3)))
    }

    @Test("a tool call becomes a function_call item whose call_id is the chat tool-call id")
    func singleToolCall() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":null,"tool_calls":[{"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]}"#,
                finish: #""tool_calls""#),
            envelope: envelope
        )
        expectJSON(
            answer,
            response(
                "completed",
                output:
                    #"[{"type":"function_call","id":"fc_*","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}]"#,
                usage: usage(0, 0)))
    }

    @Test("text and parallel tool calls: the message first, then one function_call item per call, in order")
    func parallelToolCalls() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":"Checking both.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"a","arguments":"{}"}},{"id":"","type":"function","function":{"name":"b","arguments":"{\"x\":1}"}}]}"#,
                finish: #""tool_calls""#),
            envelope: envelope
        )
        expectJSON(
            answer,
            response(
                "completed",
                output: #"""
                    [{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Checking both.","annotations":[]}]},
                     {"type":"function_call","id":"fc_*","call_id":"call_a","name":"a","arguments":"{}","status":"completed"},
                     {"type":"function_call","id":"fc_*","call_id":"call_*","name":"b","arguments":"{\"x\":1}","status":"completed"}]
                    """#,
                usage: usage(0, 0)))
        let output = try #require(answer["output"] as? [JSONObject])
        #expect(output[1]["id"] as? String != output[2]["id"] as? String)
    }

    @Test("reasoning_content becomes a reasoning item with a summary, before the message")
    func reasoningAnswer() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(#"{"role":"assistant","content":"4","reasoning_content":"2+2 is 4."}"#),
            envelope: envelope
        )
        expectJSON(
            answer["output"],
            #"""
            [{"type":"reasoning","id":"rs_*","summary":[{"type":"summary_text","text":"2+2 is 4."}]},
             {"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"4","annotations":[]}]}]
            """#)
    }

    @Test("a refusal becomes a refusal content part")
    func refusalAnswer() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":null,"refusal":"I can't help with that."}"#),
            envelope: envelope
        )
        expectJSON(
            answer["output"],
            #"[{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"refusal","refusal":"I can't help with that."}]}]"#
        )
    }

    @Test(
        "finish reasons length and content_filter make the response incomplete, with the reason",
        arguments: [
            ("length", "incomplete", #"{"reason":"max_output_tokens"}"#),
            ("content_filter", "incomplete", #"{"reason":"content_filter"}"#),
            ("stop", "completed", "null"),
            ("tool_calls", "completed", "null"),
        ])
    func finishReasons(finishReason: String, status: String, details: String) throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":"Once upon"}"#, finish: #""\#(finishReason)""#),
            envelope: envelope
        )
        #expect(answer["status"] as? String == status)
        expectJSON(["details": answer["incomplete_details"] ?? "absent"], #"{"details":\#(details)}"#)
    }

    @Test("usage carries cached, cache-write and reasoning token details")
    func usageDetails() throws {
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(
                #"{"role":"assistant","content":"Hi"}"#,
                usage:
                    #"{"prompt_tokens":100,"completion_tokens":50,"total_tokens":150,"prompt_tokens_details":{"cached_tokens":80,"cache_write_tokens":5},"completion_tokens_details":{"reasoning_tokens":30}}"#
            ),
            envelope: envelope
        )
        expectJSON(answer["usage"], usage(100, 50, cached: 80, cacheWrite: 5, reasoning: 30))
    }

    @Test("an answer without usage, or with unbelievable usage, reports zero tokens")
    func missingUsage() throws {
        for usage in [nil, #"{"prompt_tokens":-1,"completion_tokens":2}"#, #"{"prompt_tokens":"10"}"#] {
            let answer = ResponsesAnswerEncoder.response(
                fromChatCompletion: try completion(#"{"role":"assistant","content":"Hi"}"#, usage: usage),
                envelope: envelope
            )
            expectJSON(answer["usage"], self.usage(0, 0))
        }
    }

    @Test("echoed request fields are kept, but never replace what the response itself is")
    func echoFields() throws {
        let echoing = ResponseEnvelope(
            id: "resp_test", createdAt: 1_700_000_000, model: "gpt-x",
            echo: ["model": "other", "status": "queued", "output": [1], "temperature": 0.5, "metadata": ["k": "v"]]
        )
        let answer = ResponsesAnswerEncoder.response(
            fromChatCompletion: try completion(#"{"role":"assistant","content":""}"#), envelope: echoing
        )
        expectJSON(
            answer,
            #"""
            {"id":"resp_test","object":"response","created_at":1700000000,"model":"gpt-x","status":"completed","output":[],
             "usage":\#(usage(0, 0)),"error":null,"incomplete_details":null,"temperature":0.5,"metadata":{"k":"v"}}
            """#)
    }

    @Test("a malformed completion gives an empty completed response, not a crash")
    func malformedCompletion() {
        for completion: JSONObject in [
            [:], ["choices": "x"], ["choices": [1, "a"]], ["choices": [["message": 5, "finish_reason": 3]]],
            ["choices": [["message": ["content": 7, "tool_calls": [1, ["function": 2]]]]]],
        ] {
            let answer = ResponsesAnswerEncoder.response(fromChatCompletion: completion, envelope: envelope)
            #expect(answer["status"] as? String == "completed")
            #expect((answer["output"] as? [Any])?.count ?? -1 <= 1)
        }
    }

    // MARK: Streams

    @Test("a text stream: the full event sequence, numbered from 0")
    func textStream() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(#"{"role":"assistant","content":""}"#), chunk(#"{"content":"Hel"}"#), chunk(#"{"content":"lo"}"#),
            chunk("{}", finish: #""stop""#),
            usageChunk(#"{"prompt_tokens":10,"completion_tokens":2,"total_tokens":12}"#),
        ])
        let message =
            #"{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hello","annotations":[]}]}"#
        let final = response("completed", output: "[\(message)]", usage: usage(10, 2))
        expectEvents(
            try events(buffers),
            [
                #"{"type":"response.created","sequence_number":0,"response":\#(response("in_progress"))}"#,
                #"{"type":"response.in_progress","sequence_number":1,"response":\#(response("in_progress"))}"#,
                #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"message","id":"msg_*","status":"in_progress","role":"assistant","content":[]}}"#,
                #"{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_*","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#,
                #"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_*","output_index":0,"content_index":0,"delta":"Hel","logprobs":[]}"#,
                #"{"type":"response.output_text.delta","sequence_number":5,"item_id":"msg_*","output_index":0,"content_index":0,"delta":"lo","logprobs":[]}"#,
                #"{"type":"response.output_text.done","sequence_number":6,"item_id":"msg_*","output_index":0,"content_index":0,"text":"Hello","logprobs":[]}"#,
                #"{"type":"response.content_part.done","sequence_number":7,"item_id":"msg_*","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Hello","annotations":[]}}"#,
                #"{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":\#(message)}"#,
                #"{"type":"response.completed","sequence_number":9,"response":\#(final)}"#,
            ])
        expectJSON(encoder.completedAnswer, final)
    }

    @Test("text then a tool call: the message closes before the function_call item opens")
    func textAndToolStream() throws {
        let (buffers, _) = try encodeStream([
            chunk(#"{"role":"assistant","content":""}"#), chunk(#"{"content":"Let me check."}"#),
            chunk(
                #"{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]}"#
            ),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]}"#),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]}"#),
            chunk("{}", finish: #""tool_calls""#),
            usageChunk(#"{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29}"#),
        ])
        let message =
            #"{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Let me check.","annotations":[]}]}"#
        let call =
            #"{"type":"function_call","id":"fc_*","call_id":"call_a","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"}"#
        expectEvents(
            try events(buffers),
            [
                #"{"type":"response.created","sequence_number":0,"response":\#(response("in_progress"))}"#,
                #"{"type":"response.in_progress","sequence_number":1,"response":\#(response("in_progress"))}"#,
                #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"message","id":"msg_*","status":"in_progress","role":"assistant","content":[]}}"#,
                #"{"type":"response.content_part.added","sequence_number":3,"item_id":"msg_*","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}}"#,
                #"{"type":"response.output_text.delta","sequence_number":4,"item_id":"msg_*","output_index":0,"content_index":0,"delta":"Let me check.","logprobs":[]}"#,
                #"{"type":"response.output_text.done","sequence_number":5,"item_id":"msg_*","output_index":0,"content_index":0,"text":"Let me check.","logprobs":[]}"#,
                #"{"type":"response.content_part.done","sequence_number":6,"item_id":"msg_*","output_index":0,"content_index":0,"part":{"type":"output_text","text":"Let me check.","annotations":[]}}"#,
                #"{"type":"response.output_item.done","sequence_number":7,"output_index":0,"item":\#(message)}"#,
                #"{"type":"response.output_item.added","sequence_number":8,"output_index":1,"item":{"type":"function_call","id":"fc_*","call_id":"call_a","name":"get_weather","arguments":"","status":"in_progress"}}"#,
                #"{"type":"response.function_call_arguments.delta","sequence_number":9,"item_id":"fc_*","output_index":1,"delta":"{\"city\":"}"#,
                #"{"type":"response.function_call_arguments.delta","sequence_number":10,"item_id":"fc_*","output_index":1,"delta":"\"Paris\"}"}"#,
                #"{"type":"response.function_call_arguments.done","sequence_number":11,"item_id":"fc_*","output_index":1,"arguments":"{\"city\":\"Paris\"}"}"#,
                #"{"type":"response.output_item.done","sequence_number":12,"output_index":1,"item":\#(call)}"#,
                #"{"type":"response.completed","sequence_number":13,"response":\#(response("completed", output: "[\(message),\(call)]", usage: usage(20, 9)))}"#,
            ])
    }

    @Test("parallel tool calls each get their own item, interleaved fragments included")
    func parallelToolStream() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(
                #"{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"a","arguments":""}},{"index":1,"id":"call_b","type":"function","function":{"name":"b","arguments":""}}]}"#
            ),
            chunk(#"{"tool_calls":[{"index":1,"function":{"arguments":"{\"b\":1}"}}]}"#),
            chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"{\"a\":1}"}}]}"#),
            chunk("{}", finish: #""tool_calls""#),
        ])
        let callA =
            #"{"type":"function_call","id":"fc_*","call_id":"call_a","name":"a","arguments":"{\"a\":1}","status":"completed"}"#
        let callB =
            #"{"type":"function_call","id":"fc_*","call_id":"call_b","name":"b","arguments":"{\"b\":1}","status":"completed"}"#
        let parsed = try events(buffers)
        expectEvents(
            Array(parsed.dropFirst(2).dropLast()),
            [
                #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"function_call","id":"fc_*","call_id":"call_a","name":"a","arguments":"","status":"in_progress"}}"#,
                #"{"type":"response.output_item.added","sequence_number":3,"output_index":1,"item":{"type":"function_call","id":"fc_*","call_id":"call_b","name":"b","arguments":"","status":"in_progress"}}"#,
                #"{"type":"response.function_call_arguments.delta","sequence_number":4,"item_id":"fc_*","output_index":1,"delta":"{\"b\":1}"}"#,
                #"{"type":"response.function_call_arguments.delta","sequence_number":5,"item_id":"fc_*","output_index":0,"delta":"{\"a\":1}"}"#,
                #"{"type":"response.function_call_arguments.done","sequence_number":6,"item_id":"fc_*","output_index":0,"arguments":"{\"a\":1}"}"#,
                #"{"type":"response.output_item.done","sequence_number":7,"output_index":0,"item":\#(callA)}"#,
                #"{"type":"response.function_call_arguments.done","sequence_number":8,"item_id":"fc_*","output_index":1,"arguments":"{\"b\":1}"}"#,
                #"{"type":"response.output_item.done","sequence_number":9,"output_index":1,"item":\#(callB)}"#,
            ])
        expectJSON(encoder.completedAnswer?["output"], "[\(callA),\(callB)]")
        // Each delta names its own item.
        let ids = try #require(encoder.completedAnswer?["output"] as? [JSONObject]).map { $0["id"] as? String }
        #expect(parsed[4].data["item_id"] as? String == ids[1])
        #expect(parsed[5].data["item_id"] as? String == ids[0])
    }

    @Test("an argument fragment for a call closed by text between still reaches the final response")
    func lateToolCallFragment() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(
                #"{"role":"assistant","tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"a","arguments":"{\"x\":"}}]}"#
            ),
            chunk(#"{"content":"Hm."}"#), chunk(#"{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]}"#),
            chunk("{}", finish: #""tool_calls""#),
        ])
        let names = try events(buffers).map(\.name)
        #expect(names.filter { $0 == "response.output_item.added" }.count == 2, "no new item for the late fragment")
        #expect(names.filter { $0 == "response.function_call_arguments.delta" }.count == 1)
        let output = try #require(encoder.completedAnswer?["output"] as? [JSONObject])
        #expect(output.first?["arguments"] as? String == #"{"x":1}"#)
    }

    @Test("reasoning streams as a reasoning item with summary events, then the message")
    func reasoningStream() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(#"{"role":"assistant","reasoning_content":"Think"}"#), chunk(#"{"reasoning_content":"ing."}"#),
            chunk(#"{"content":"Done."}"#), chunk("{}", finish: #""stop""#),
        ])
        let reasoning = #"{"type":"reasoning","id":"rs_*","summary":[{"type":"summary_text","text":"Thinking."}]}"#
        expectEvents(
            Array(try events(buffers).dropFirst(2).prefix(7)),
            [
                #"{"type":"response.output_item.added","sequence_number":2,"output_index":0,"item":{"type":"reasoning","id":"rs_*","summary":[]}}"#,
                #"{"type":"response.reasoning_summary_part.added","sequence_number":3,"item_id":"rs_*","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":""}}"#,
                #"{"type":"response.reasoning_summary_text.delta","sequence_number":4,"item_id":"rs_*","output_index":0,"summary_index":0,"delta":"Think"}"#,
                #"{"type":"response.reasoning_summary_text.delta","sequence_number":5,"item_id":"rs_*","output_index":0,"summary_index":0,"delta":"ing."}"#,
                #"{"type":"response.reasoning_summary_text.done","sequence_number":6,"item_id":"rs_*","output_index":0,"summary_index":0,"text":"Thinking."}"#,
                #"{"type":"response.reasoning_summary_part.done","sequence_number":7,"item_id":"rs_*","output_index":0,"summary_index":0,"part":{"type":"summary_text","text":"Thinking."}}"#,
                #"{"type":"response.output_item.done","sequence_number":8,"output_index":0,"item":\#(reasoning)}"#,
            ])
        expectJSON(
            encoder.completedAnswer?["output"],
            #"[\#(reasoning),{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Done.","annotations":[]}]}]"#
        )
    }

    @Test("a refusal streams as a refusal part after the text part of the same message")
    func refusalStream() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(#"{"role":"assistant","content":"Well"}"#), chunk(#"{"refusal":"No."}"#),
            chunk("{}", finish: #""stop""#),
        ])
        let names = try events(buffers).map(\.name)
        #expect(
            names == [
                "response.created", "response.in_progress", "response.output_item.added", "response.content_part.added",
                "response.output_text.delta", "response.output_text.done", "response.content_part.done",
                "response.content_part.added", "response.refusal.delta", "response.refusal.done",
                "response.content_part.done", "response.output_item.done", "response.completed",
            ])
        let parsed = try events(buffers)
        expectJSON(
            parsed[9].data,
            #"{"type":"response.refusal.done","sequence_number":9,"item_id":"msg_*","output_index":0,"content_index":1,"refusal":"No."}"#
        )
        expectJSON(
            encoder.completedAnswer?["output"],
            #"[{"type":"message","id":"msg_*","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Well","annotations":[]},{"type":"refusal","refusal":"No."}]}]"#
        )
    }

    @Test("without usage from the upstream the stream reports estimates: input given, output from the characters")
    func estimatedStreamUsage() throws {
        let (_, encoder) = try encodeStream(
            [chunk(#"{"role":"assistant","content":"abcdefgh"}"#), chunk("{}", finish: #""stop""#)], estimate: 42
        )
        expectJSON(encoder.completedAnswer?["usage"], usage(42, 2))
    }

    @Test("usage arriving after the finish chunk, with details, is in the final response")
    func streamUsageDetails() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(#"{"role":"assistant","content":"Hi"}"#), chunk("{}", finish: #""stop""#),
            usageChunk(
                #"{"prompt_tokens":100,"completion_tokens":40,"total_tokens":140,"prompt_tokens_details":{"cached_tokens":64},"completion_tokens_details":{"reasoning_tokens":12}}"#
            ),
        ])
        let last = try #require(try events(buffers).last)
        #expect(last.name == "response.completed")
        expectJSON((last.data["response"] as? JSONObject)?["usage"], usage(100, 40, cached: 64, reasoning: 12))
        #expect(jsonEqual(last.data["response"], encoder.completedAnswer))
    }

    @Test("a stream cut off by length ends with response.incomplete")
    func incompleteStream() throws {
        let (buffers, encoder) = try encodeStream([
            chunk(#"{"role":"assistant","content":"Once upon"}"#), chunk("{}", finish: #""length""#),
        ])
        let last = try #require(try events(buffers).last)
        #expect(last.name == "response.incomplete")
        #expect(encoder.completedAnswer?["status"] as? String == "incomplete")
        expectJSON(encoder.completedAnswer?["incomplete_details"], #"{"reason":"max_output_tokens"}"#)
    }

    @Test("a stream with nothing in it still opens and completes, with no output")
    func emptyStream() throws {
        let (buffers, encoder) = try encodeStream([])
        #expect(try events(buffers).map(\.name) == ["response.created", "response.in_progress", "response.completed"])
        expectJSON(encoder.completedAnswer, response("completed", usage: usage(42, 0)))
    }

    @Test("an error after the stream started: an error event and response.failed with the output so far, numbered on")
    func errorAfterStart() throws {
        var encoder = ResponsesStreamEncoder(envelope: envelope, inputTokensEstimate: 5)
        var buffers: [ByteBuffer] = []
        for chunk in [chunk(#"{"role":"assistant","content":"Hel"}"#)] {
            buffers += encoder.encode(try #require(jsonObject(chunk)))
        }
        #expect(buffers.count == 5)
        let failure = encoder.errorEvent(
            GatewayError(status: 502, type: "api_error", code: "upstream_stream_error", message: "The stream broke.")
        )
        let output =
            #"[{"type":"message","id":"msg_*","status":"in_progress","role":"assistant","content":[{"type":"output_text","text":"Hel","annotations":[]}]}]"#
        expectEvents(
            try events([failure]),
            [
                #"{"type":"error","sequence_number":5,"code":"upstream_stream_error","message":"The stream broke.","param":null}"#,
                #"{"type":"response.failed","sequence_number":6,"response":\#(response("failed", output: output, error: #"{"code":"server_error","message":"The stream broke."}"#))}"#,
            ])
    }

    @Test("the live stream of an answer and the events of the whole answer have the same sequence")
    func liveAndWholeStreamsAgree() throws {
        let completion = try completion(
            #"{"role":"assistant","content":"Sure.","reasoning_content":"Easy.","tool_calls":[{"id":"call_a","type":"function","function":{"name":"a","arguments":"{}"}}]}"#,
            finish: #""tool_calls""#, usage: #"{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}"#)
        var encoder = ResponsesStreamEncoder(envelope: envelope, inputTokensEstimate: 0)
        var live: [ByteBuffer] = []
        for chunk in StreamSynthesizer.chunks(
            fromCompletion: completion, endpoint: .chatCompletions, includeUsage: true)
        {
            live += encoder.encode(chunk)
        }
        live += encoder.finish()
        let whole = ResponsesAnswer.streamEvents(
            fromResponse: ResponsesAnswerEncoder.response(fromChatCompletion: completion, envelope: envelope)
        )
        // The synthesized chunks send the text before the reasoning; the whole answer puts reasoning first.
        let liveNames = try events(live).map(\.name)
        let wholeNames = try events(whole).map(\.name)
        #expect(liveNames.count == wholeNames.count)
        #expect(liveNames.sorted() == wholeNames.sorted())
        #expect(try events(whole).map { $0.data["sequence_number"] as? Int } == Array(0..<wholeNames.count).map { $0 })
    }

    // MARK: Whole responses as streams

    @Test("a whole response as stream events, relayed through the pass-through, gives the same response back")
    func streamEventsRoundTrip() throws {
        let original = try #require(
            jsonObject(
                #"""
                {"id":"resp_abc","object":"response","created_at":1700000000,"status":"completed","model":"gpt-x",
                 "output":[{"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Hmm."}]},
                           {"type":"message","id":"msg_1","status":"completed","role":"assistant",
                            "content":[{"type":"output_text","text":"Hi \"there\"","annotations":[],"logprobs":[]}]},
                           {"type":"web_search_call","id":"ws_1","status":"completed","action":{"type":"search","query":"q"}},
                           {"type":"function_call","id":"fc_1","call_id":"call_1","name":"f","arguments":"{\"a\":1}","status":"completed"}],
                 "usage":{"input_tokens":5,"input_tokens_details":{"cached_tokens":1},"output_tokens":7,"output_tokens_details":{"reasoning_tokens":2},"total_tokens":12},
                 "error":null,"incomplete_details":null,"tools":[],"tool_choice":"auto","parallel_tool_calls":true}
                """#))
        let buffers = ResponsesAnswer.streamEvents(fromResponse: original)
        let parsed = try events(buffers)
        #expect(
            parsed.map(\.name) == [
                "response.created", "response.in_progress",
                "response.output_item.added", "response.reasoning_summary_part.added",
                "response.reasoning_summary_text.delta", "response.reasoning_summary_text.done",
                "response.reasoning_summary_part.done", "response.output_item.done",
                "response.output_item.added", "response.content_part.added", "response.output_text.delta",
                "response.output_text.done", "response.content_part.done", "response.output_item.done",
                "response.output_item.added", "response.output_item.done",
                "response.output_item.added", "response.function_call_arguments.delta",
                "response.function_call_arguments.done", "response.output_item.done",
                "response.completed",
            ])
        #expect(parsed.map { $0.data["sequence_number"] as? Int } == Array(0..<parsed.count).map { $0 })
        expectJSON(
            parsed[0].data["response"],
            #"""
            {"id":"resp_abc","object":"response","created_at":1700000000,"status":"in_progress","model":"gpt-x","output":[],
             "usage":null,"error":null,"incomplete_details":null,"tools":[],"tool_choice":"auto","parallel_tool_calls":true}
            """#)
        expectJSON(
            parsed[8].data,
            #"{"type":"response.output_item.added","sequence_number":8,"output_index":1,"item":{"type":"message","id":"msg_1","status":"in_progress","role":"assistant","content":[]}}"#
        )

        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        for buffer in buffers { try relay.translate(buffer, into: &output) }
        try relay.finish(into: &output)
        #expect(output == buffers)
        #expect(jsonEqual(relay.completedAnswer, original))
        #expect(relay.usage == TokenUsage(promptTokens: 5, completionTokens: 7, totalTokens: 12))
    }

    @Test("a whole incomplete response ends its stream with response.incomplete")
    func incompleteStreamEvents() throws {
        let original = try #require(
            jsonObject(
                #"{"id":"resp_x","object":"response","created_at":1,"status":"incomplete","model":"m","output":[],"incomplete_details":{"reason":"max_output_tokens"}}"#
            ))
        let parsed = try events(ResponsesAnswer.streamEvents(fromResponse: original))
        #expect(parsed.map(\.name) == ["response.created", "response.in_progress", "response.incomplete"])
        #expect(parsed[1].data["response"].flatMap { ($0 as? JSONObject)?["incomplete_details"] } is NSNull)
    }

    // MARK: Usage of Responses answers

    @Test("Responses usage is read as tokens; missing, malformed or unbelievable counts give none")
    func responsesUsage() {
        #expect(
            ResponsesAnswer.usage(
                jsonObject(
                    #"{"input_tokens":10,"input_tokens_details":{"cached_tokens":4},"output_tokens":5,"total_tokens":15}"#
                ))
                == TokenUsage(promptTokens: 10, completionTokens: 5, totalTokens: 15))
        #expect(ResponsesAnswer.usage(jsonObject(#"{"input_tokens":10,"output_tokens":5}"#))?.totalTokens == 15)
        #expect(ResponsesAnswer.usage(jsonObject(#"{"output_tokens":5,"total_tokens":null}"#))?.completionTokens == 5)
        for bad in [
            #"{}"#, #"{"input_tokens":-1,"output_tokens":5}"#, #"{"input_tokens":"10"}"#, #"{"input_tokens":true}"#,
            #"{"input_tokens":1.5}"#, #"{"input_tokens":10,"output_tokens":20000000000}"#,
            #"{"input_tokens":10,"input_tokens_details":{"cached_tokens":-3}}"#,
        ] {
            #expect(ResponsesAnswer.usage(jsonObject(bad)) == nil, "\(bad)")
        }
        #expect(ResponsesAnswer.usage(nil) == nil)
        #expect(ResponsesAnswer.usage("usage") == nil)
    }

    // MARK: Pass-through

    /// An upstream Responses stream, one element per event.
    let upstream: [String] = [
        "event: response.created\ndata: {\"type\":\"response.created\",\"sequence_number\":0,\"response\":{\"id\":\"resp_up\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
        "event: response.in_progress\ndata: {\"type\":\"response.in_progress\",\"sequence_number\":1,\"response\":{\"id\":\"resp_up\",\"object\":\"response\",\"created_at\":1,\"status\":\"in_progress\",\"model\":\"gpt-5\",\"output\":[],\"usage\":null}}\n\n",
        ": keep-alive\n\n",
        "event: response.output_item.added\ndata: {\"type\":\"response.output_item.added\",\"sequence_number\":2,\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_up\",\"status\":\"in_progress\",\"role\":\"assistant\",\"content\":[]}}\n\n",
        "event: response.content_part.added\ndata: {\"type\":\"response.content_part.added\",\"sequence_number\":3,\"item_id\":\"msg_up\",\"output_index\":0,\"content_index\":0,\"part\":{\"type\":\"output_text\",\"text\":\"\",\"annotations\":[]}}\n\n",
        "event: response.output_text.delta\ndata: {\"type\":\"response.output_text.delta\",\"sequence_number\":4,\"item_id\":\"msg_up\",\"output_index\":0,\"content_index\":0,\"delta\":\"Hi \\\"you\\\"\",\"logprobs\":[]}\n\n",
        "event: response.output_text.done\ndata: {\"type\":\"response.output_text.done\",\"sequence_number\":5,\"item_id\":\"msg_up\",\"output_index\":0,\"content_index\":0,\"text\":\"Hi \\\"you\\\"\",\"logprobs\":[]}\n\n",
        "event: response.output_item.done\ndata: {\"type\":\"response.output_item.done\",\"sequence_number\":6,\"output_index\":0,\"item\":{\"type\":\"message\",\"id\":\"msg_up\",\"status\":\"completed\",\"role\":\"assistant\",\"content\":[{\"type\":\"output_text\",\"text\":\"Hi \\\"you\\\"\",\"annotations\":[]}]}}\n\n",
        "event: response.completed\ndata: {\"type\":\"response.completed\",\"sequence_number\":7,\"response\":{\"id\":\"resp_up\",\"object\":\"response\",\"created_at\":1,\"status\":\"completed\",\"model\":\"gpt-5\",\"output\":[],\"usage\":{\"input_tokens\":9,\"input_tokens_details\":{\"cached_tokens\":0},\"output_tokens\":3,\"output_tokens_details\":{\"reasoning_tokens\":0},\"total_tokens\":12}}}\n\n",
    ]

    @Test("the pass-through relays every event byte-exact and takes usage and the response from response.completed")
    func passThroughRelays() throws {
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        for event in upstream { try relay.translate(buffer(event), into: &output) }
        try relay.finish(into: &output)
        #expect(output.map(text) == upstream)
        #expect(relay.usage == TokenUsage(promptTokens: 9, completionTokens: 3, totalTokens: 12))
        #expect(relay.completedAnswer?["id"] as? String == "resp_up")
        #expect(relay.generatedBytes == 8, "the delta's characters, an escape counting once")
    }

    @Test("the pass-through commits at the first delta, not at the opening events or an added item")
    func passThroughCommitPoint() throws {
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        for event in upstream.prefix(5) { try relay.translate(buffer(event), into: &output) }
        #expect(!relay.carriesAnswer)
        try relay.translate(buffer(upstream[5]), into: &output)
        #expect(relay.carriesAnswer)

        for committing in [upstream[7], upstream[8]] {
            var other = ResponsesPassThrough()
            try other.translate(buffer(upstream[0]), into: &output)
            try other.translate(buffer(committing), into: &output)
            #expect(other.carriesAnswer)
        }
    }

    @Test("an upstream error event or response.failed is thrown, not relayed, and kept for the client")
    func passThroughErrors() throws {
        let error =
            "event: error\ndata: {\"type\":\"error\",\"sequence_number\":3,\"code\":\"rate_limit_exceeded\",\"message\":\"Slow down.\",\"param\":null}\n\n"
        let failed =
            "event: response.failed\ndata: {\"type\":\"response.failed\",\"sequence_number\":3,\"response\":{\"id\":\"resp_up\",\"object\":\"response\",\"status\":\"failed\",\"output\":[],\"error\":{\"code\":\"server_error\",\"message\":\"Model crashed.\"},\"usage\":{\"input_tokens\":9,\"output_tokens\":0,\"total_tokens\":9}}}\n\n"
        for (event, reason) in [
            (error, "the upstream reported rate_limit_exceeded: Slow down."),
            (failed, "the upstream reported that the response failed: Model crashed."),
        ] {
            var relay = ResponsesPassThrough()
            var output: [ByteBuffer] = []
            try relay.translate(buffer(upstream[0]), into: &output)
            #expect(throws: UpstreamStreamError(reason: reason, forwarded: [buffer(event)])) {
                try relay.translate(buffer(event), into: &output)
            }
            #expect(output.count == 1, "the failing event is not in the output")
        }
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        _ = try? relay.translate(buffer(failed), into: &output)
        #expect(relay.usage?.promptTokens == 9, "a failed response's usage still counts")
    }

    @Test("a stream that ends before response.completed fails; response.incomplete ends it properly")
    func passThroughEarlyEnd() throws {
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        for event in upstream.dropLast() { try relay.translate(buffer(event), into: &output) }
        #expect(throws: UpstreamStreamError(reason: "the stream ended before response.completed")) {
            try relay.finish(into: &output)
        }
        try relay.translate(
            buffer(
                "event: response.incomplete\ndata: {\"type\":\"response.incomplete\",\"sequence_number\":7,\"response\":{\"id\":\"resp_up\",\"status\":\"incomplete\",\"output\":[]}}\n\n"
            ), into: &output)
        try relay.finish(into: &output)
        #expect(relay.completedAnswer?["status"] as? String == "incomplete")
        #expect(relay.usage == nil)
    }

    @Test(
        "the pass-through's error event numbers on from the upstream and carries the opening response and finished items"
    )
    func passThroughErrorEvent() throws {
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        for event in upstream.prefix(8) { try relay.translate(buffer(event), into: &output) }
        let failure = relay.errorEvent(
            GatewayError(status: 502, type: "api_error", code: nil, param: nil, message: "Gone."))
        expectEvents(
            try events([failure]),
            [
                #"{"type":"error","sequence_number":7,"code":"server_error","message":"Gone.","param":null}"#,
                #"""
                {"type":"response.failed","sequence_number":8,"response":{"id":"resp_up","object":"response","created_at":1,"status":"failed","model":"gpt-5",
                 "output":[{"type":"message","id":"msg_up","status":"completed","role":"assistant","content":[{"type":"output_text","text":"Hi \"you\"","annotations":[]}]}],
                 "usage":null,"error":{"code":"server_error","message":"Gone."}}}
                """#,
            ])
        // A response's error codes are a fixed set: a rate limit has its own, the gateway's code stays in `error`.
        let limited = try events([
            relay.errorEvent(GatewayError(status: 429, type: "rate_limit_error", code: "quota", message: "Later."))
        ])
        #expect(limited[0].data["code"] as? String == "quota")
        expectJSON(
            (limited[1].data["response"] as? JSONObject)?["error"],
            #"{"code":"rate_limit_exceeded","message":"Later."}"#)
    }

    @Test("events that are not JSON objects with a type pass unchanged without effect")
    func passThroughOddEvents() throws {
        var relay = ResponsesPassThrough()
        var output: [ByteBuffer] = []
        let odd = [
            "data: not json\n\n", "data: [1,2]\n\n", "data: {\"type\":7}\n\n", "retry: 10\n\n",
            "data: {\"type\":\"response.output_text.delta\",\"delta\":5}\n\n",
        ]
        for event in odd { try relay.translate(buffer(event), into: &output) }
        #expect(output.map(text) == odd)
        #expect(relay.generatedBytes == 0)
        #expect(relay.usage == nil)
    }
}
