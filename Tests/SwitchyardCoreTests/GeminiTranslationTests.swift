import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// OpenAI clients served by Gemini: requests, answers, streams and errors.
@Suite("Gemini translation") struct GeminiTranslationTests {
    // MARK: - Helpers

    func geminiBody(_ chat: String) throws -> JSONObject {
        try GeminiRequestBuilder.generateContentBody(fromChat: #require(jsonObject(chat)))
    }

    /// The value with every generated tool-call id checked (`call_` + 24 hex digits) and replaced by `call_*`.
    func stableIDs(_ value: Any) -> Any {
        if let object = value as? JSONObject {
            var result: JSONObject = [:]
            for (key, member) in object {
                if key == "id", let id = member as? String, id.hasPrefix("call_") {
                    #expect(id.count == 29 && id.dropFirst(5).allSatisfy { "0123456789abcdef".contains($0) }, "\(id)")
                    result[key] = "call_*"
                } else {
                    result[key] = stableIDs(member)
                }
            }
            return result
        }
        if let array = value as? [Any] { return array.map(stableIDs) }
        return value
    }

    func answer(_ response: String) throws -> JSONObject {
        try GeminiAnswer.chatCompletion(
            fromResponse: #require(jsonObject(response)), model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1"
        )
    }

    func completion(_ choices: String, usage: String? = nil) -> Any? {
        jsonObject(
            #"{"id":"chatcmpl-g1","object":"chat.completion","created":1700000000,"model":"gemini-2.5-flash","choices":"#
                + choices + (usage.map { #","usage":"# + $0 } ?? "") + "}"
        )
    }

    func decode(_ events: [String], decoder: inout GeminiStreamDecoder) throws(UpstreamStreamError) -> [Any] {
        var chunks: [Any] = []
        for event in events { chunks += try decoder.decode(buffer(event)).map(stableIDs) }
        return chunks
    }

    func chunk(_ choice: String) -> Any? {
        jsonObject(
            #"{"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash","choices":["#
                + choice + "]}"
        )
    }

    func usageChunk(_ usage: String) -> Any? {
        jsonObject(
            #"{"id":"chatcmpl-g1","object":"chat.completion.chunk","created":1700000000,"model":"gemini-2.5-flash","choices":[],"usage":"#
                + usage + "}"
        )
    }

    func streamError(_ events: [String]) -> UpstreamStreamError? {
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        do {
            _ = try decode(events, decoder: &decoder)
            _ = try decoder.finish()
            return nil
        } catch {
            return error
        }
    }

    // MARK: - Requests

    @Test("system and developer messages all become systemInstruction; turns alternate; sampling maps to generationConfig")
    func conversationAndGenerationConfig() throws {
        let body = try geminiBody(#"""
            {"model":"gemini-2.5-flash","stream":true,"user":"u1","messages":[
              {"role":"system","content":"You are terse."},
              {"role":"developer","content":[{"type":"text","text":"Answer in French."},{"type":"text","text":""}]},
              {"role":"user","content":"Hello"},
              {"role":"assistant","content":""},
              {"role":"user","content":[{"type":"text","text":"Are you there?"}]},
              {"role":"assistant","content":"Oui."},
              {"role":"system","content":"Stay polite."},
              {"role":"user","content":""}],
             "temperature":0.5,"top_p":0.9,"top_k":1,"seed":-7,"presence_penalty":0.1,"frequency_penalty":-0.2,
             "max_completion_tokens":256,"max_tokens":999,"stop":"###","n":2,"response_format":{"type":"json_object"}}
            """#)
        #expect(jsonEqual(body, jsonObject(#"""
            {"systemInstruction":{"parts":[{"text":"You are terse."},{"text":"Answer in French."},{"text":"Stay polite."}]},
             "contents":[{"role":"user","parts":[{"text":"Hello"},{"text":"Are you there?"}]},
                         {"role":"model","parts":[{"text":"Oui."}]}],
             "generationConfig":{"temperature":0.5,"topP":0.9,"topK":1,"seed":-7,"presencePenalty":0.1,
                                 "frequencyPenalty":-0.2,"maxOutputTokens":256,"stopSequences":["###"],"candidateCount":2,
                                 "responseMimeType":"application/json"}}
            """#)))
    }

    @Test("max_tokens of 1 and a stop list pass; an empty config is left out")
    func smallValuesAndNoConfig() throws {
        let small = try geminiBody(#"{"messages":[{"role":"user","content":"Hi"}],"max_tokens":1,"stop":["a",""],"temperature":0}"#)
        #expect(jsonEqual(small["generationConfig"], ["maxOutputTokens": 1, "stopSequences": ["a"], "temperature": 0]))
        let plain = try geminiBody(#"{"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"text"},"stop":null}"#)
        #expect(jsonEqual(plain, jsonObject(#"{"contents":[{"role":"user","parts":[{"text":"Hi"}]}]}"#)))
    }

    @Test("assistant tool calls become functionCall parts; tool results become functionResponses named by their call, merged with the next user text")
    func toolCallsAndResults() throws {
        let body = try geminiBody(#"""
            {"messages":[
              {"role":"user","content":"Weather in Paris, and the time?"},
              {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"call_a","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
                {"id":"call_b","type":"function","function":{"name":"get_time","arguments":"not json"}}]},
              {"role":"tool","tool_call_id":"call_b","content":"12:00"},
              {"role":"tool","tool_call_id":"call_a","content":[{"type":"text","text":"{\"temp\":20}"}]},
              {"role":"user","content":"Thanks"},
              {"role":"assistant","content":null,"tool_calls":[
                {"id":"call_c","type":"function","function":{"name":"get_time","arguments":"[1]"}}]},
              {"role":"tool","tool_call_id":"call_c","content":""}]}
            """#)
        #expect(jsonEqual(body["contents"], jsonObject(#"""
            {"c":[{"role":"user","parts":[{"text":"Weather in Paris, and the time?"}]},
             {"role":"model","parts":[{"text":"Checking."},
               {"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"skip_thought_signature_validator"},
               {"functionCall":{"name":"get_time","args":{}}}]},
             {"role":"user","parts":[
               {"functionResponse":{"name":"get_time","response":{"output":"12:00"}}},
               {"functionResponse":{"name":"get_weather","response":{"output":"{\"temp\":20}"}}},
               {"text":"Thanks"}]},
             {"role":"model","parts":[
               {"functionCall":{"name":"get_time","args":{}},"thoughtSignature":"skip_thought_signature_validator"}]},
             {"role":"user","parts":[{"functionResponse":{"name":"get_time","response":{"output":""}}}]}]}
            """#)?["c"]))
    }

    @Test("a tool result whose call id is unknown uses the message's name when it has one")
    func toolResultNamedByMessage() throws {
        let body = try geminiBody(#"{"messages":[{"role":"user","content":"Hi"},{"role":"tool","tool_call_id":"x","name":"lookup","content":"ok"}]}"#)
        #expect(jsonEqual(body["contents"], jsonObject(#"""
            {"c":[{"role":"user","parts":[{"text":"Hi"},{"functionResponse":{"name":"lookup","response":{"output":"ok"}}}]}]}
            """#)?["c"]))
    }

    @Test("data URLs become inlineData, other URLs fileData with a media type from the extension")
    func images() throws {
        let body = try geminiBody(#"""
            {"messages":[{"role":"user","content":[
              {"type":"text","text":"Compare"},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.WEBP?size=large#top"}},
              {"type":"image_url","image_url":"gs://bucket/photo"},
              {"type":"input_audio","input_audio":{"data":"UklGRg==","format":"wav"}},
              {"type":"file","file":{"file_data":"data:application/pdf;base64,JVBERi0=","filename":"a.pdf"}}]}]}
            """#)
        #expect(jsonEqual(body["contents"], jsonObject(#"""
            {"c":[{"role":"user","parts":[
              {"text":"Compare"},
              {"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
              {"fileData":{"mimeType":"image/webp","fileUri":"https://example.com/cat.WEBP?size=large#top"}},
              {"fileData":{"mimeType":"image/jpeg","fileUri":"gs://bucket/photo"}},
              {"inlineData":{"mimeType":"audio/wav","data":"UklGRg=="}},
              {"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}}]}]}
            """#)?["c"]))
    }

    @Test("tools become one tool with every declaration, parameters cleaned; a named tool_choice allows only that function")
    func toolsAndNamedChoice() throws {
        let body = try geminiBody(#"""
            {"messages":[{"role":"user","content":"Hi"}],
             "tools":[
              {"type":"function","function":{"name":"get_weather","description":"Current weather","strict":true,
                "parameters":{"$schema":"http://json-schema.org/draft-07/schema#","type":"object",
                  "properties":{"city":{"type":"string"}},"required":["city"],"additionalProperties":false}}},
              {"type":"function","function":{"name":"get_time"}}],
             "tool_choice":{"type":"function","function":{"name":"get_time"}},"parallel_tool_calls":false}
            """#)
        #expect(jsonEqual(body["tools"], jsonObject(#"""
            {"t":[{"functionDeclarations":[
              {"name":"get_weather","description":"Current weather",
               "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
              {"name":"get_time"}]}]}
            """#)?["t"]))
        #expect(jsonEqual(body["toolConfig"], ["functionCallingConfig": ["mode": "ANY", "allowedFunctionNames": ["get_time"]]]))
    }

    @Test("tool_choice modes", arguments: [("auto", "AUTO"), ("none", "NONE"), ("required", "ANY")])
    func toolChoiceModes(choice: String, mode: String) throws {
        let body = try geminiBody(
            #"{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"#
                + "\"\(choice)\"}"
        )
        #expect(jsonEqual(body["toolConfig"], ["functionCallingConfig": ["mode": mode]]))
    }

    @Test("tool_choice without tools is left out")
    func toolChoiceWithoutTools() throws {
        let body = try geminiBody(#"{"messages":[{"role":"user","content":"Hi"}],"tool_choice":"none","tools":[]}"#)
        #expect(body["toolConfig"] == nil && body["tools"] == nil)
    }

    @Test("a json_schema response format sends the cleaned schema")
    func jsonSchemaResponseFormat() throws {
        let body = try geminiBody(#"""
            {"messages":[{"role":"user","content":"Hi"}],"response_format":{"type":"json_schema","json_schema":{"name":"answer",
             "strict":true,"schema":{"type":"object","properties":{"answer":{"type":["string","null"]}},"required":["answer"],
             "additionalProperties":false}}}}
            """#)
        #expect(jsonEqual(body["generationConfig"], jsonObject(#"""
            {"responseMimeType":"application/json",
             "responseSchema":{"type":"object","properties":{"answer":{"type":"string","nullable":true}},"required":["answer"]}}
            """#)))
    }

    @Test("a request with no user or assistant content is refused", arguments: [
        #"{"messages":[]}"#,
        #"{"messages":[{"role":"system","content":"Be brief."},{"role":"user","content":""},{"role":"assistant","content":null}]}"#,
    ])
    func noContents(chat: String) throws {
        do {
            _ = try geminiBody(chat)
            Issue.record("no error")
        } catch let error as GatewayError {
            #expect(error.statusCode == 400 && error.param == "messages")
        }
    }

    @Test("malformed requests are refused with the path of the bad value", arguments: [
        (#"{"messages":"hi"}"#, "messages"),
        (#"{"messages":[1]}"#, "messages[0]"),
        (#"{"messages":[{"content":"x"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"wizard","content":"x"}]}"#, "messages[0].role"),
        (#"{"messages":[{"role":"user","content":42}]}"#, "messages[0].content"),
        (#"{"messages":[{"role":"user","content":[{"text":"x"}]}]}"#, "messages[0].content[0]"),
        (#"{"messages":[{"role":"user","content":[{"type":"text","text":7}]}]}"#, "messages[0].content[0].text"),
        (#"{"messages":[{"role":"user","content":[{"type":"video"}]}]}"#, "messages[0].content[0].type"),
        (#"{"messages":[{"role":"system","content":[{"type":"image_url","image_url":{"url":"https://x/a.png"}}]}]}"#, "messages[0].content[0].type"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}"#, "messages[0].content[0].image_url.url"),
        (#"{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png,abc"}}]}]}"#, "messages[0].content[0].image_url.url"),
        (#"{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}"#, "messages[0].content[0].file.file_data"),
        (#"{"messages":[{"role":"user","content":"a"},{"role":"tool","tool_call_id":"call_x","content":"r"}]}"#, "messages[1].tool_call_id"),
        (#"{"messages":[{"role":"tool","content":"r"}]}"#, "messages[0].tool_call_id"),
        (#"{"messages":[{"role":"assistant","tool_calls":{}}]}"#, "messages[0].tool_calls"),
        (#"{"messages":[{"role":"assistant","tool_calls":[{"id":"c","function":{"arguments":"{}"}}]}]}"#, "messages[0].tool_calls[0].function.name"),
        (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":0}"#, "max_tokens"),
        (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":1.5}"#, "max_tokens"),
        (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":"10"}"#, "max_tokens"),
        (#"{"messages":[{"role":"user","content":"x"}],"max_tokens":true}"#, "max_tokens"),
        (#"{"messages":[{"role":"user","content":"x"}],"max_completion_tokens":3000000000}"#, "max_completion_tokens"),
        (#"{"messages":[{"role":"user","content":"x"}],"temperature":2.5}"#, "temperature"),
        (#"{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}"#, "temperature"),
        (#"{"messages":[{"role":"user","content":"x"}],"top_p":true}"#, "top_p"),
        (#"{"messages":[{"role":"user","content":"x"}],"n":9}"#, "n"),
        (#"{"messages":[{"role":"user","content":"x"}],"seed":1e12}"#, "seed"),
        (#"{"messages":[{"role":"user","content":"x"}],"stop":[1]}"#, "stop"),
        (#"{"messages":[{"role":"user","content":"x"}],"stop":["a","b","c","d","e","f"]}"#, "stop"),
        (#"{"messages":[{"role":"user","content":"x"}],"response_format":"json"}"#, "response_format"),
        (#"{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}"#, "response_format.type"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":{}}"#, "tools"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"retrieval"}]}"#, "tools[0].type"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{}}]}"#, "tools[0].function.name"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":[]}}]}"#, "tools[0].function.parameters"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"sometimes"}"#, "tool_choice"),
        (#"{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}"#, "tool_choice.function.name"),
        (#"{"messages":[{"role":"user","content":"x"}],"tool_choice":7}"#, "tool_choice"),
    ])
    func malformedRequests(chat: String, param: String) throws {
        do {
            _ = try geminiBody(chat)
            Issue.record("no error for \(chat)")
        } catch let error as GatewayError {
            #expect(error.statusCode == 400 && error.type == "invalid_request_error")
            #expect(error.param == param, "\(error.message)")
        }
    }

    // MARK: - Schemas

    @Test("a nasty schema is cleaned: refs dereferenced with cycles cut, null alternatives made nullable, unknown keywords dropped")
    func nastySchema() throws {
        let schema = try #require(jsonObject(#"""
            {"$schema":"https://json-schema.org/draft/2020-12/schema","$id":"urn:x","$comment":"c","strict":true,
             "type":"object","additionalProperties":false,
             "$defs":{
               "Node":{"type":"object","properties":{"name":{"type":"string"},"children":{"type":"array","items":{"$ref":"#/$defs/Node"}}},"required":["name"]},
               "Color":{"enum":["red","green",null]}},
             "definitions":{"Legacy":{"type":"boolean","default":false}},
             "properties":{
               "tree":{"$ref":"#/$defs/Node","description":"The root"},
               "color":{"$ref":"#/$defs/Color"},
               "nickname":{"anyOf":[{"type":"string","maxLength":20},{"type":"null"}],"default":null},
               "age":{"type":["integer","null"],"minimum":0,"exclusiveMaximum":200,"examples":[3]},
               "kind":{"const":"person"},
               "level":{"enum":[1,2,3],"type":"integer"},
               "tags":{"type":"array","uniqueItems":true},
               "meta":{"type":"object","propertyNames":{"pattern":"^x"},"patternProperties":{"^x":{"type":"string"}},"properties":{}},
               "email":{"type":"string","format":"email"},
               "when":{"type":"string","format":"date-time"},
               "either":{"oneOf":[{"type":"string"},{"type":"number","format":"double"}]},
               "legacy":{"$ref":"#/definitions/Legacy"},
               "remote":{"$ref":"https://example.com/schema.json","description":"remote"},
               "both":{"allOf":[{"type":"object","properties":{"a":{"type":"string"}},"required":["a"]},
                                {"properties":{"b":{"type":"integer"}},"required":["b"]}]},
               "point":{"properties":{"x":{"type":"number"}}}},
             "required":["tree","ghost"]}
            """#))
        #expect(jsonEqual(GeminiSchema.cleaned(schema), jsonObject(#"""
            {"type":"object",
             "properties":{
               "tree":{"type":"object","description":"The root","required":["name"],
                       "properties":{"name":{"type":"string"},"children":{"type":"array","items":{"type":"object"}}}},
               "color":{"type":"string","enum":["red","green"],"nullable":true},
               "nickname":{"type":"string","maxLength":20,"nullable":true},
               "age":{"type":"integer","minimum":0,"nullable":true},
               "kind":{"type":"string","enum":["person"]},
               "level":{"type":"integer"},
               "tags":{"type":"array","items":{"type":"string"}},
               "meta":{"type":"object"},
               "email":{"type":"string"},
               "when":{"type":"string","format":"date-time"},
               "either":{"anyOf":[{"type":"string"},{"type":"number","format":"double"}]},
               "legacy":{"type":"boolean"},
               "remote":{"description":"remote"},
               "both":{"type":"object","properties":{"a":{"type":"string"},"b":{"type":"integer"}},"required":["a","b"]},
               "point":{"type":"object","properties":{"x":{"type":"number"}}}},
             "required":["tree"]}
            """#)))
    }

    @Test("references that fan out are expanded a bounded number of times; a non-object schema becomes {}")
    func boundedExpansion() throws {
        var definitions: JSONObject = ["L30": ["type": "string"]]
        for level in 0..<30 {
            let next = ["$ref": "#/$defs/L\(level + 1)"]
            definitions["L\(level)"] = ["type": "object", "properties": ["a": next, "b": next]]
        }
        let cleaned = GeminiSchema.cleaned(["$ref": "#/$defs/L0", "$defs": definitions])
        #expect(JSONValue.encode(cleaned).count < 1_000_000)
        #expect(jsonEqual(GeminiSchema.cleaned(true), [String: Any]()))
        #expect(jsonEqual(GeminiSchema.cleaned(["$ref": "#"]), ["type": "object"]))
    }

    // MARK: - Answers

    @Test("text and thought parts become content and reasoning_content; usage counts thoughts and cached tokens")
    func textAnswer() throws {
        let result = try answer(#"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"Let me think.","thought":true},{"text":"Hello"},
               {"text":", world","thoughtSignature":"AY89"}]},"finishReason":"STOP","index":0,"safetyRatings":[]}],
             "usageMetadata":{"promptTokenCount":12,"candidatesTokenCount":3,"thoughtsTokenCount":10,"totalTokenCount":25,
               "cachedContentTokenCount":8,"promptTokensDetails":[{"modality":"TEXT","tokenCount":12}]},
             "modelVersion":"gemini-2.5-flash-001","responseId":"r1"}
            """#)
        #expect(jsonEqual(result, completion(
            #"[{"index":0,"message":{"role":"assistant","content":"Hello, world","reasoning_content":"Let me think."},"logprobs":null,"finish_reason":"stop"}]"#,
            usage: #"{"prompt_tokens":12,"completion_tokens":13,"total_tokens":25,"prompt_tokens_details":{"cached_tokens":8},"completion_tokens_details":{"reasoning_tokens":10}}"#
        )))
    }

    @Test("function calls become tool calls with fresh ids and null content; the choice finishes with tool_calls")
    func toolCallAnswer() throws {
        let result = try answer(#"""
            {"candidates":[{"content":{"role":"model","parts":[
               {"functionCall":{"name":"get_weather","args":{"units":"c","city":"Paris"}},"thoughtSignature":"x"},
               {"functionCall":{"name":"get_time"}}]},"finishReason":"STOP"}]}
            """#)
        #expect(jsonEqual(stableIDs(result), completion(#"""
            [{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"call_*","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"units\":\"c\"}"}},
               {"id":"call_*","type":"function","function":{"name":"get_time","arguments":"{}"}}]},
              "logprobs":null,"finish_reason":"tool_calls"}]
            """#)))
        let calls = try #require(((result["choices"] as? [JSONObject])?.first?["message"] as? JSONObject)?["tool_calls"] as? [JSONObject])
        #expect(Set(calls.compactMap { $0["id"] as? String }).count == 2)
    }

    @Test("finish reasons map to OpenAI's", arguments: [
        ("STOP", "stop"), ("MAX_TOKENS", "length"), ("SAFETY", "content_filter"), ("RECITATION", "content_filter"),
        ("BLOCKLIST", "content_filter"), ("PROHIBITED_CONTENT", "content_filter"), ("SPII", "content_filter"),
        ("IMAGE_SAFETY", "content_filter"), ("IMAGE_PROHIBITED_CONTENT", "content_filter"), ("OTHER", "stop"),
        ("LANGUAGE", "stop"), ("MALFORMED_FUNCTION_CALL", "stop"), ("FINISH_REASON_UNSPECIFIED", "stop"),
    ])
    func finishReasons(gemini: String, openAI: String) throws {
        let result = try answer(#"{"candidates":[{"content":{"parts":[{"text":"x"}]},"finishReason":""# + gemini + #""}]}"#)
        #expect((result["choices"] as? [JSONObject])?.first?["finish_reason"] as? String == openAI)
    }

    @Test("several candidates become several choices; a candidate without content has empty content")
    func severalCandidates() throws {
        let result = try answer(#"""
            {"candidates":[{"content":{"parts":[{"text":"A"}]},"finishReason":"MAX_TOKENS","index":0},
                           {"finishReason":"SAFETY","index":1}]}
            """#)
        #expect(jsonEqual(result, completion(#"""
            [{"index":0,"message":{"role":"assistant","content":"A"},"logprobs":null,"finish_reason":"length"},
             {"index":1,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"content_filter"}]
            """#)))
    }

    @Test("a blocked prompt becomes one empty choice finished by content_filter")
    func blockedPrompt() throws {
        let result = try answer(#"{"promptFeedback":{"blockReason":"PROHIBITED_CONTENT","safetyRatings":[]},"usageMetadata":{"promptTokenCount":7,"totalTokenCount":7}}"#)
        #expect(jsonEqual(result, completion(
            #"[{"index":0,"message":{"role":"assistant","content":""},"logprobs":null,"finish_reason":"content_filter"}]"#,
            usage: #"{"prompt_tokens":7,"completion_tokens":0,"total_tokens":7}"#
        )))
    }

    @Test("an answer with neither candidates nor a block reason is an upstream error", arguments: [
        (#"{"candidates":[]}"#, "The upstream sent a Gemini answer that cannot be read: it has no candidates."),
        (#"{"error":{"code":500,"message":"Internal error","status":"INTERNAL"}}"#,
         "The upstream sent a Gemini answer that cannot be read: it has no candidates: Internal error."),
        (#"{"candidates":["x"]}"#, "The upstream sent a Gemini answer that cannot be read: a candidate is not an object."),
    ])
    func unreadableAnswer(response: String, message: String) throws {
        do {
            _ = try answer(response)
            Issue.record("no error")
        } catch let error as GatewayError {
            #expect(error.statusCode == 502 && error.code == "invalid_upstream_response")
            #expect(error.message == message)
        }
    }

    // MARK: - Usage

    @Test("usage adds tool-use prompt tokens, sums a missing total, and refuses counts it cannot believe")
    func usageMapping() {
        let metadata = jsonObject(#"{"promptTokenCount":100,"toolUsePromptTokenCount":20,"candidatesTokenCount":30}"#)
        #expect(jsonEqual(GeminiAnswer.openAIUsage(metadata), ["prompt_tokens": 120, "completion_tokens": 30, "total_tokens": 150]))
        #expect(GeminiAnswer.usage(metadata) == TokenUsage(promptTokens: 120, completionTokens: 30, totalTokens: 150))
        #expect(GeminiAnswer.usage(jsonObject(#"{"promptTokenCount":1,"candidatesTokenCount":0}"#)) == TokenUsage(promptTokens: 1, completionTokens: 0))
        for unusable in [
            #"{"trafficType":"ON_DEMAND"}"#, #"{"promptTokenCount":-1}"#, #"{"promptTokenCount":20000000000}"#,
            #"{"promptTokenCount":"5"}"#, #"{"promptTokenCount":5,"candidatesTokenCount":true}"#,
            #"{"promptTokenCount":6000000000,"toolUsePromptTokenCount":6000000000}"#,
        ] {
            #expect(GeminiAnswer.openAIUsage(jsonObject(unusable)) == nil, "\(unusable)")
        }
        #expect(GeminiAnswer.usage(nil) == nil)
    }

    // MARK: - Streams

    @Test("the captured Vertex stream (CRLF-framed) becomes role, content, stop, then one usage chunk")
    func capturedStream() throws {
        let stream = [
            #"data: {"candidates": [{"content": {"role": "model","parts": [{"text": "Hello!"}]}}],"usageMetadata": {"trafficType": "ON_DEMAND"},"modelVersion": "gemini-3.1-flash-lite-preview","createTime": "2026-03-10T14:31:17.412395Z","responseId": "tTCwaZ"}"#,
            #"data: {"candidates": [{"content": {"role": "model","parts": [{"text": " How can I help you today?"}]}}],"usageMetadata": {"trafficType": "ON_DEMAND"},"modelVersion": "gemini-3.1-flash-lite-preview","createTime": "2026-03-10T14:31:17.412395Z","responseId": "tTCwaZ"}"#,
            #"data: {"candidates": [{"content": {"role": "model","parts": [{"text": "","thoughtSignature": "AY89a1"}]},"finishReason": "STOP"}],"usageMetadata": {"promptTokenCount": 1,"candidatesTokenCount": 9,"totalTokenCount": 10,"trafficType": "ON_DEMAND","promptTokensDetails": [{"modality": "TEXT","tokenCount": 1}],"candidatesTokensDetails": [{"modality": "TEXT","tokenCount": 9}]},"modelVersion": "gemini-3.1-flash-lite-preview","createTime": "2026-03-10T14:31:17.412395Z","responseId": "tTCwaZ"}"#,
        ].map { $0 + "\r\n\r\n" }.joined()
        var framer = SSEEventFramer()
        let data = try framer.append(buffer(stream)).compactMap(SSEEvent.data(of:)).map { String(buffer: $0) }
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        let chunks = try decode(data, decoder: &decoder)
        #expect(jsonEqual(chunks, [
            chunk(#"{"index":0,"delta":{"role":"assistant","content":"Hello!"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"content":" How can I help you today?"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}"#),
        ].compactMap { $0 }))
        #expect(jsonEqual(try decoder.finish(), [usageChunk(#"{"prompt_tokens":1,"completion_tokens":9,"total_tokens":10}"#)].compactMap { $0 }))
        #expect(decoder.usage == TokenUsage(promptTokens: 1, completionTokens: 9, totalTokens: 10))
    }

    @Test("function calls become whole tool calls with rising indices; STOP in a later event finishes with tool_calls")
    func streamedToolCalls() throws {
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        let chunks = try decode([
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}},"thoughtSignature":"sig"}]}}]}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_time","args":{}}},{"functionCall":{"name":"get_date"}}]}}]}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP"}],"usageMetadata":{"promptTokenCount":20,"candidatesTokenCount":5,"thoughtsTokenCount":4,"totalTokenCount":29,"cachedContentTokenCount":16}}"#,
        ], decoder: &decoder)
        #expect(jsonEqual(chunks, [
            chunk(#"{"index":0,"delta":{"role":"assistant","tool_calls":[{"index":0,"id":"call_*","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_*","type":"function","function":{"name":"get_time","arguments":"{}"}},{"index":2,"id":"call_*","type":"function","function":{"name":"get_date","arguments":"{}"}}]},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":0,"delta":{},"logprobs":null,"finish_reason":"tool_calls"}"#),
        ].compactMap { $0 }))
        #expect(jsonEqual(try decoder.finish(), [usageChunk(
            #"{"prompt_tokens":20,"completion_tokens":9,"total_tokens":29,"prompt_tokens_details":{"cached_tokens":16},"completion_tokens_details":{"reasoning_tokens":4}}"#
        )].compactMap { $0 }))
    }

    @Test("thought parts stream as reasoning_content; each candidate is its own choice, in whatever order it comes")
    func streamedThoughtsAndCandidates() throws {
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        let chunks = try decode([
            #"{"candidates":[{"content":{"parts":[{"text":"Thinking","thought":true}]},"index":0},{"content":{"parts":[{"text":"B"}]},"index":1}]}"#,
            #"{"candidates":[{"content":{"parts":[{"text":"!"}]},"finishReason":"SAFETY","index":1}]}"#,
            #"{"candidates":[{"content":{"parts":[{"text":"A"}]},"finishReason":"MAX_TOKENS","index":0}]}"#,
        ], decoder: &decoder)
        #expect(jsonEqual(chunks, [
            chunk(#"{"index":0,"delta":{"role":"assistant","reasoning_content":"Thinking"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":1,"delta":{"role":"assistant","content":"B"},"logprobs":null,"finish_reason":null}"#),
            chunk(#"{"index":1,"delta":{"content":"!"},"logprobs":null,"finish_reason":"content_filter"}"#),
            chunk(#"{"index":0,"delta":{"content":"A"},"logprobs":null,"finish_reason":"length"}"#),
        ].compactMap { $0 }))
        #expect(try decoder.finish().isEmpty)
        #expect(decoder.usage == nil)
    }

    @Test("a blocked prompt in a stream finishes with content_filter")
    func streamedBlockedPrompt() throws {
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        let chunks = try decode([
            #"{"promptFeedback":{"blockReason":"SAFETY"},"usageMetadata":{"promptTokenCount":5,"totalTokenCount":5}}"#,
        ], decoder: &decoder)
        #expect(jsonEqual(chunks, [
            chunk(#"{"index":0,"delta":{"role":"assistant"},"logprobs":null,"finish_reason":"content_filter"}"#)
        ].compactMap { $0 }))
        #expect(jsonEqual(try decoder.finish(), [usageChunk(#"{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}"#)].compactMap { $0 }))
    }

    @Test("error events, events that are not Gemini JSON and early ends fail the stream", arguments: [
        ([#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}"#, #"{"error":{"code":429,"message":"Resource has been exhausted (e.g. check quota).","status":"RESOURCE_EXHAUSTED"}}"#],
         "the upstream reported an error (RESOURCE_EXHAUSTED): Resource has been exhausted (e.g. check quota)."),
        ([#"[{"error":{"code":500,"message":"Internal error encountered.","status":"INTERNAL"}}]"#],
         "the upstream reported an error (INTERNAL): Internal error encountered."),
        ([#"{"error":"overloaded"}"#], "the upstream reported an error: overloaded"),
        (["not json"], "the upstream sent a stream event that is not JSON"),
        ([#"[1,2]"#], "the upstream sent a stream event that is not a Gemini response"),
        ([#"{"candidates":[{"content":{"parts":[{"text":"Hi"}]}}]}"#], "the stream ended before it finished"),
        ([String](), "the stream ended before it finished"),
    ])
    func failedStreams(events: [String], reason: String) {
        #expect(streamError(events)?.reason == reason)
    }

    @Test("an empty data field is no event")
    func emptyData() throws {
        var decoder = GeminiStreamDecoder(model: "gemini-2.5-flash", created: 1_700_000_000, id: "chatcmpl-g1")
        #expect(try decoder.decode(ByteBuffer()).isEmpty)
    }

    // MARK: - Errors

    @Test("gateway errors carry Google's status names", arguments: [
        (400, "INVALID_ARGUMENT"), (401, "UNAUTHENTICATED"), (402, "RESOURCE_EXHAUSTED"), (403, "PERMISSION_DENIED"),
        (404, "NOT_FOUND"), (405, "INVALID_ARGUMENT"), (408, "DEADLINE_EXCEEDED"), (409, "ABORTED"),
        (413, "INVALID_ARGUMENT"), (429, "RESOURCE_EXHAUSTED"), (499, "CANCELLED"), (500, "INTERNAL"),
        (501, "UNIMPLEMENTED"), (502, "INTERNAL"), (503, "UNAVAILABLE"), (504, "DEADLINE_EXCEEDED"), (200, "UNKNOWN"),
    ])
    func geminiStatuses(status: Int, name: String) {
        #expect(GatewayError(status: status, type: "api_error", code: nil, message: "m").geminiStatus == name)
    }

    @Test("the Gemini error body is code, message and status")
    func errorBody() {
        #expect(text(GatewayError.invalidRequest("Bad \"thing\"\n", param: "messages").geminiBody)
            == #"{"error":{"code":400,"message":"Bad \"thing\"\n","status":"INVALID_ARGUMENT"}}"#)
        #expect(jsonEqual(jsonObject(GatewayError.shuttingDown.geminiBody), jsonObject(
            #"{"error":{"code":503,"message":"The gateway is shutting down; retry the request.","status":"UNAVAILABLE"}}"#
        )))
    }
}
