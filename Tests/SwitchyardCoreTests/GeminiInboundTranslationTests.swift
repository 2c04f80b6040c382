import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Clients of Gemini's native routes served by a provider that does not speak Gemini: the request, the answer and
/// the stream.
@Suite("Gemini inbound translation") struct GeminiInboundTranslationTests {
    func chat(_ json: String, stream: Bool = false) throws -> JSONObject {
        try GeminiChatRequest.chatBody(fromGenerateContent: #require(jsonObject(json)), model: "gpt-4o", stream: stream)
    }

    /// The chat body of `contents` (and other members) with `messages` checked against `expected`.
    func expectMessages(_ contents: String, extra: String = "", _ expected: String) throws {
        let body = try chat(#"{"contents":"# + contents + extra + "}")
        let messages = try JSONSerialization.jsonObject(with: Data(expected.utf8))
        #expect(jsonEqual(body["messages"], messages), "\(text(JSONValue.encode(body["messages"] ?? NSNull())))")
    }

    func failure(_ json: String) throws -> GatewayError? {
        do {
            _ = try chat(json)
            return nil
        } catch let error as GatewayError {
            return error
        }
    }

    /// Runs canonical chunks (JSON text) through a fresh encoder and finishes it; each event's JSON, its CRLF
    /// framing checked.
    func encodeStream(_ chunks: [String]) throws -> [JSONObject] {
        var encoder = GeminiStreamEncoder(model: "gemini-alias")
        var buffers: [ByteBuffer] = []
        for chunk in chunks { buffers += encoder.encode(try #require(jsonObject(chunk))) }
        buffers += encoder.finish()
        return try buffers.map { event in
            let raw = text(event)
            try #require(raw.hasPrefix("data: ") && raw.hasSuffix("\r\n\r\n"), "\(raw)")
            return try #require(jsonObject(String(raw.dropFirst("data: ".count).dropLast("\r\n\r\n".count))))
        }
    }

    func expectEvents(_ actual: [JSONObject], _ expected: [String]) {
        #expect(actual.count == expected.count, "\(actual.map { text(JSONValue.encode($0)) })")
        for (event, golden) in zip(actual, expected) {
            #expect(jsonEqual(event, jsonObject(golden)), "\(text(JSONValue.encode(event))) ≠ \(golden)")
        }
    }

    // MARK: Request → chat completions

    @Test("a function-call round trip becomes assistant tool_calls, then tool messages in order, then the user's text")
    func functionCallRoundTrip() throws {
        let body = try chat(#"""
            {"systemInstruction":{"parts":[{"text":"You are terse."}]},
             "contents":[
              {"role":"user","parts":[{"text":"Weather in Paris and Rome?"}]},
              {"role":"model","parts":[
                {"text":"Checking.","thoughtSignature":"c2ln"},
                {"functionCall":{"name":"get_weather","args":{"units":"C","city":"Paris"}}},
                {"functionCall":{"name":"get_weather","args":{"city":"Rome"}}},
                {"functionCall":{"name":"now"}}]},
              {"role":"user","parts":[
                {"text":"Be quick."},
                {"functionResponse":{"name":"now","response":{"output":"noon"}}},
                {"functionResponse":{"name":"get_weather","response":{"output":"20°C"}}},
                {"functionResponse":{"name":"get_weather","response":{"error":{"code":504}}}}]}]}
            """#)
        let expected = #"""
            {"model":"gpt-4o","stream":false,"messages":[
              {"role":"system","content":"You are terse."},
              {"role":"user","content":"Weather in Paris and Rome?"},
              {"role":"assistant","content":"Checking.","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\",\"units\":\"C\"}"}},
                {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}},
                {"id":"call_3","type":"function","function":{"name":"now","arguments":"{}"}}]},
              {"role":"tool","tool_call_id":"call_3","content":"{\"output\":\"noon\"}"},
              {"role":"tool","tool_call_id":"call_1","content":"{\"output\":\"20°C\"}"},
              {"role":"tool","tool_call_id":"call_2","content":"{\"error\":{\"code\":504}}"},
              {"role":"user","content":"Be quick."}]}
            """#
        #expect(jsonEqual(body, jsonObject(expected)), "\(text(JSONValue.encode(body)))")
    }

    @Test("call ids run through the whole request; a response carrying the call's id answers that call")
    func callIDsAcrossTurns() throws {
        try expectMessages(
            #"""
            [{"role":"user","parts":[{"text":"go"}]},
             {"role":"model","parts":[{"functionCall":{"name":"step","args":{"n":1}}}]},
             {"role":"user","parts":[{"functionResponse":{"name":"step","response":{"ok":true}}}]},
             {"role":"model","parts":[{"functionCall":{"id":"a","name":"step","args":{"n":2}}},{"functionCall":{"id":"b","name":"step","args":{"n":3}}}]},
             {"role":"user","parts":[{"functionResponse":{"id":"b","name":"step","response":{"n":3}}},{"functionResponse":{"id":"a","name":"step","response":{"n":2}}}]}]
            """#,
            #"""
            [{"role":"user","content":"go"},
             {"role":"assistant","tool_calls":[{"id":"call_1","type":"function","function":{"name":"step","arguments":"{\"n\":1}"}}]},
             {"role":"tool","tool_call_id":"call_1","content":"{\"ok\":true}"},
             {"role":"assistant","tool_calls":[
               {"id":"call_2","type":"function","function":{"name":"step","arguments":"{\"n\":2}"}},
               {"id":"call_3","type":"function","function":{"name":"step","arguments":"{\"n\":3}"}}]},
             {"role":"tool","tool_call_id":"call_3","content":"{\"n\":3}"},
             {"role":"tool","tool_call_id":"call_2","content":"{\"n\":2}"}]
            """#)
    }

    @Test("consecutive model contents, as SDK chats record a streamed answer, become one assistant message")
    func streamedHistoryIsMerged() throws {
        try expectMessages(
            #"""
            [{"role":"user","parts":[{"text":"Hi"}]},
             {"role":"model","parts":[{"text":"I think…","thought":true}]},
             {"role":"model","parts":[{"text":"Hel"}]},
             {"role":"model","parts":[{"text":"lo!"},{"functionCall":{"name":"wave","args":{}}}]},
             {"role":"model","parts":[{"text":"","thoughtSignature":"AY89"}]},
             {"role":"user","parts":[{"functionResponse":{"name":"wave","response":{}}}]}]
            """#,
            #"""
            [{"role":"user","content":"Hi"},
             {"role":"assistant","content":"Hello!","tool_calls":[{"id":"call_1","type":"function","function":{"name":"wave","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"call_1","content":"{}"}]
            """#)
    }

    @Test("images: inlineData becomes a data-URI image_url, fileData its fileUri; text parts stay parts beside them")
    func images() throws {
        try expectMessages(
            #"""
            [{"parts":[
              {"text":"What is in these?"},
              {"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},
              {"fileData":{"mimeType":"image/jpeg","fileUri":"https://example.com/cat.jpg"}}]},
             {"role":"user","parts":[{"text":"First"},{"text":"second"}]}]
            """#,
            #"""
            [{"role":"user","content":[
              {"type":"text","text":"What is in these?"},
              {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}},
              {"type":"image_url","image_url":{"url":"https://example.com/cat.jpg"}}]},
             {"role":"user","content":"First\n\nsecond"}]
            """#)
    }

    @Test("several system parts become one leading system message; thought and empty parts are left out")
    func severalSystemParts() throws {
        try expectMessages(
            #"[{"role":"user","parts":[{"text":"Hi"}]}]"#,
            extra: #","systemInstruction":{"role":"system","parts":[{"text":"You are a pirate."},{"text":""},{"text":"x","thought":true},{"text":"Say arr."}]}"#,
            #"[{"role":"system","content":"You are a pirate.\n\nSay arr."},{"role":"user","content":"Hi"}]"#)
        try expectMessages(
            #"[{"role":"user","parts":[{"text":"Hi"}]}]"#, extra: #","systemInstruction":{"parts":[{"text":""}]}"#,
            #"[{"role":"user","content":"Hi"}]"#)
    }

    @Test("empty content stays empty: empty user text gives \"\", a model turn of thoughts gives content \"\"")
    func emptyContent() throws {
        try expectMessages(
            #"[{"role":"user","parts":[{"text":""}]},{"role":"model","parts":[{"text":"hmm","thought":true}]},{"role":"user","parts":[{"text":"?"}]}]"#,
            #"[{"role":"user","content":""},{"role":"assistant","content":""},{"role":"user","content":"?"}]"#)
    }

    @Test("snake_case keys are read like camelCase ones, at the top and inside")
    func snakeCaseKeys() throws {
        let body = try chat(#"""
            {"system_instruction":{"parts":[{"text":"S"}]},
             "contents":[{"role":"user","parts":[{"text":"Look"},{"inline_data":{"mime_type":"image/webp","data":"UklG"}}]}],
             "generation_config":{"max_output_tokens":100,"stop_sequences":["END"],"top_p":0.5,"response_mime_type":"application/json"},
             "tools":[{"function_declarations":[{"name":"f","parameters_json_schema":{"type":"object"}}]}],
             "tool_config":{"function_calling_config":{"mode":"ANY","allowed_function_names":["f"]}},
             "safety_settings":[{"category":"HARM_CATEGORY_HARASSMENT","threshold":"BLOCK_NONE"}]}
            """#)
        let expected = #"""
            {"model":"gpt-4o","stream":false,
             "messages":[{"role":"system","content":"S"},{"role":"user","content":[{"type":"text","text":"Look"},{"type":"image_url","image_url":{"url":"data:image/webp;base64,UklG"}}]}],
             "max_tokens":100,"stop":["END"],"top_p":0.5,"response_format":{"type":"json_object"},
             "tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],
             "tool_choice":{"type":"function","function":{"name":"f"}}}
            """#
        #expect(jsonEqual(body, jsonObject(expected)), "\(text(JSONValue.encode(body)))")
    }

    @Test("generationConfig maps to sampling options; safetySettings, cachedContent, topK and thinking are dropped")
    func generationConfig() throws {
        let body = try chat(#"""
            {"contents":[{"parts":[{"text":"hi"}]}],"safetySettings":[{"category":"HARM_CATEGORY_HATE_SPEECH","threshold":"OFF"}],
             "cachedContent":"cachedContents/abc",
             "generationConfig":{"temperature":1,"topP":0.9,"topK":40,"maxOutputTokens":1024,"stopSequences":["###",""],
               "candidateCount":2,"seed":-7,"presencePenalty":0.5,"frequencyPenalty":-1.5,"thinkingConfig":{"thinkingBudget":1024},
               "responseMimeType":"text/plain","responseModalities":["TEXT"]}}
            """#)
        let expected = #"""
            {"model":"gpt-4o","stream":false,"messages":[{"role":"user","content":"hi"}],
             "temperature":1,"top_p":0.9,"max_tokens":1024,"stop":["###"],"n":2,"seed":-7,"presence_penalty":0.5,"frequency_penalty":-1.5}
            """#
        #expect(jsonEqual(body, jsonObject(expected)), "\(text(JSONValue.encode(body)))")
    }

    @Test("a JSON response with a schema becomes json_schema: responseSchema with its types in lower case, responseJsonSchema as it is")
    func responseSchemas() throws {
        let gemini = try chat(#"""
            {"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json",
              "responseSchema":{"type":"ARRAY","items":{"type":"OBJECT","properties":{"type":{"type":"STRING","enum":["A"]},"n":{"anyOf":[{"type":"INTEGER"}],"nullable":true}},"propertyOrdering":["type","n"]}}}}
            """#)
        let expected = #"""
            {"type":"json_schema","json_schema":{"name":"response","schema":
              {"type":"array","items":{"type":"object","properties":{"type":{"type":"string","enum":["A"]},"n":{"anyOf":[{"type":"integer"}],"nullable":true}},"propertyOrdering":["type","n"]}}}}
            """#
        #expect(jsonEqual(gemini["response_format"], jsonObject(expected)), "\(text(JSONValue.encode(gemini["response_format"] ?? NSNull())))")

        let jsonSchema = try chat(#"""
            {"contents":[{"parts":[{"text":"hi"}]}],"generationConfig":{"responseMimeType":"application/json",
              "responseJsonSchema":{"type":"object","additionalProperties":false,"properties":{"a":{"type":["string","null"]}}}}}
            """#)
        let passed = #"""
            {"type":"json_schema","json_schema":{"name":"response","schema":{"type":"object","additionalProperties":false,"properties":{"a":{"type":["string","null"]}}}}}
            """#
        #expect(jsonEqual(jsonSchema["response_format"], jsonObject(passed)))
    }

    @Test("function declarations become function tools: parameters with lower-case types, parametersJsonSchema as it is")
    func tools() throws {
        let body = try chat(#"""
            {"contents":[{"parts":[{"text":"hi"}]}],
             "tools":[{"functionDeclarations":[
                {"name":"get_weather","description":"Weather now","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}},"required":["city"]}},
                {"name":"now"}]},
              {"functionDeclarations":[{"name":"search","description":"","parametersJsonSchema":{"type":"object","properties":{"q":{"type":"string","minLength":1}}}}]}],
             "toolConfig":{"functionCallingConfig":{"mode":"AUTO"}}}
            """#)
        let expected = #"""
            {"model":"gpt-4o","stream":false,"messages":[{"role":"user","content":"hi"}],
             "tools":[
              {"type":"function","function":{"name":"get_weather","description":"Weather now","parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
              {"type":"function","function":{"name":"now"}},
              {"type":"function","function":{"name":"search","parameters":{"type":"object","properties":{"q":{"type":"string","minLength":1}}}}}],
             "tool_choice":"auto"}
            """#
        #expect(jsonEqual(body, jsonObject(expected)), "\(text(JSONValue.encode(body)))")
    }

    @Test(
        "functionCallingConfig modes become tool_choice auto/required/none, or the function when ANY allows one",
        arguments: [
            (#"{"mode":"AUTO"}"#, #""auto""#),
            (#"{"mode":"VALIDATED"}"#, #""auto""#),
            (#"{"mode":"ANY"}"#, #""required""#),
            (#"{"mode":"ANY","allowedFunctionNames":["f","g"]}"#, #""required""#),
            (#"{"mode":"ANY","allowedFunctionNames":["g"]}"#, #"{"type":"function","function":{"name":"g"}}"#),
            (#"{"mode":"NONE"}"#, #""none""#),
            (#"{"mode":"MODE_UNSPECIFIED"}"#, "null"),
            (#"{"allowedFunctionNames":["f"]}"#, "null"),
        ])
    func toolChoice(config: String, openAI: String) throws {
        let body = try chat(
            #"{"contents":[{"parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f"},{"name":"g"}]}],"toolConfig":{"functionCallingConfig":"#
                + config + "}}")
        let expected = try JSONSerialization.jsonObject(with: Data(openAI.utf8), options: .fragmentsAllowed)
        #expect(jsonEqual(body["tool_choice"] ?? NSNull(), expected))
    }

    @Test("a toolConfig without tools is left out, since OpenAI rejects tool_choice alone")
    func toolConfigWithoutTools() throws {
        let body = try chat(#"{"contents":[{"parts":[{"text":"hi"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY"}}}"#)
        #expect(jsonEqual(body, jsonObject(#"{"model":"gpt-4o","stream":false,"messages":[{"role":"user","content":"hi"}]}"#)))
    }

    @Test("a streaming request asks the provider to stream with usage")
    func streamingAsksForUsage() throws {
        let body = try chat(#"{"contents":[{"parts":[{"text":"hi"}]}]}"#, stream: true)
        let expected = #"""
            {"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}
            """#
        #expect(jsonEqual(body, jsonObject(expected)))
    }

    @Test(
        "malformed requests are rejected with the param at fault",
        arguments: [
            (#"{}"#, "contents"),
            (#"{"contents":null}"#, "contents"),
            (#"{"contents":[]}"#, "contents"),
            (#"{"contents":{"parts":[]}}"#, "contents"),
            (#"{"contents":[{"parts":[{"text":"a"}]},7]}"#, "contents[1]"),
            (#"{"contents":[{"role":"user","parts":[]}]}"#, "contents[0].parts"),
            (#"{"contents":[{"role":"user"}]}"#, "contents[0].parts"),
            (#"{"contents":[{"role":"system","parts":[{"text":"a"}]}]}"#, "contents[0].role"),
            (#"{"contents":[{"role":"user","parts":[{"text":"a"},"b"]}]}"#, "contents[0].parts[1]"),
            (#"{"contents":[{"role":"user","parts":[{"text":5}]}]}"#, "contents[0].parts[0].text"),
            (#"{"contents":[{"role":"user","parts":[{"inlineData":{"data":"AAAA"}}]}]}"#, "contents[0].parts[0].inlineData"),
            (#"{"contents":[{"role":"user","parts":[{"fileData":{"mimeType":"image/png"}}]}]}"#, "contents[0].parts[0].fileData.fileUri"),
            (#"{"contents":[{"role":"user","parts":[{"executableCode":{"language":"PYTHON","code":"1"}}]}]}"#, "contents[0].parts[0]"),
            (#"{"contents":[{"role":"user","parts":[{"functionCall":{"name":"f"}}]}]}"#, "contents[0].parts[0].functionCall"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"args":{}}}]}]}"#, "contents[0].parts[0].functionCall.name"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":"{}"}}]}]}"#, "contents[0].parts[0].functionCall.args"),
            (#"{"contents":[{"role":"model","parts":[{"inlineData":{"mimeType":"image/png","data":"AA"}}]}]}"#, "contents[0].parts[0]"),
            (#"{"contents":[{"role":"user","parts":[{"text":"a"}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#, "contents[1].parts[0].functionResponse.name"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"g","response":{}}}]}]}"#, "contents[1].parts[0].functionResponse.name"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}},{"functionResponse":{"name":"f","response":{}}}]}]}"#, "contents[1].parts[1].functionResponse.name"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"model","parts":[{"text":"x"}]},{"role":"user","parts":[{"text":"y"}]},{"role":"model","parts":[{"text":"z"}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":{}}}]}]}"#, "contents[4].parts[0].functionResponse.name"),
            (#"{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f"}}]},{"role":"user","parts":[{"functionResponse":{"name":"f","response":"ok"}}]}]}"#, "contents[1].parts[0].functionResponse.response"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"systemInstruction":{"parts":[{"inlineData":{"mimeType":"image/png","data":"AA"}}]}}"#, "systemInstruction.parts[0]"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"systemInstruction":"Be nice."}"#, "systemInstruction.parts"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":[]}"#, "generationConfig"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"temperature":2.5}}"#, "generationConfig.temperature"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"temperature":"hot"}}"#, "generationConfig.temperature"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"topP":true}}"#, "generationConfig.topP"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"presencePenalty":-3}}"#, "generationConfig.presencePenalty"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"maxOutputTokens":0}}"#, "generationConfig.maxOutputTokens"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"maxOutputTokens":1.5}}"#, "generationConfig.maxOutputTokens"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"maxOutputTokens":1e12}}"#, "generationConfig.maxOutputTokens"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"candidateCount":9}}"#, "generationConfig.candidateCount"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"seed":true}}"#, "generationConfig.seed"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"stopSequences":"END"}}"#, "generationConfig.stopSequences"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"responseMimeType":"text/x.enum"}}"#, "generationConfig.responseMimeType"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":[]}}"#, "generationConfig.responseSchema"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":{}}"#, "tools"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"googleSearch":{}}]}"#, "tools[0]"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f"}],"codeExecution":{}}]}"#, "tools[0]"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{}]}"#, "tools[0].functionDeclarations"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"description":"x"}]}]}"#, "tools[0].functionDeclarations[0].name"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":"{}"}]}]}"#, "tools[0].functionDeclarations[0].parameters"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"SOMETIMES"}}}"#, "toolConfig.functionCallingConfig.mode"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["g"]}}}"#, "toolConfig.functionCallingConfig.allowedFunctionNames"),
            (#"{"contents":[{"parts":[{"text":"a"}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":"f"}}}"#, "toolConfig.functionCallingConfig.allowedFunctionNames"),
        ])
    func malformedRequests(json: String, param: String) throws {
        let error = try failure(json)
        #expect(error?.statusCode == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.param == param)
        #expect(error?.message.hasPrefix("'\(param)'") == true, "\(error?.message ?? "no error")")
    }

    @Test("a Google tool is refused, saying only function declarations can be translated")
    func googleToolMessage() throws {
        let error = try failure(#"{"contents":[{"parts":[{"text":"a"}]}],"tools":[{"googleSearch":{}}]}"#)
        #expect(error?.message == "'tools[0]' holds 'googleSearch': only function declarations can be translated for this model's provider.")
        #expect(error?.code == "invalid_value")
    }

    // MARK: Completion → GenerateContentResponse

    @Test("a completion becomes a response with a thought part, a text part and usage with cached and thought tokens")
    func completionToResponse() throws {
        let completion = try #require(jsonObject(#"""
            {"id":"chatcmpl-abc","object":"chat.completion","created":1,"model":"gpt-4o",
             "choices":[{"index":0,"message":{"role":"assistant","content":"Hi there.","reasoning_content":"Greet back."},"logprobs":null,"finish_reason":"stop"}],
             "usage":{"prompt_tokens":120,"completion_tokens":29,"total_tokens":149,"prompt_tokens_details":{"cached_tokens":100},"completion_tokens_details":{"reasoning_tokens":20}}}
            """#))
        let expected = #"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"Greet back.","thought":true},{"text":"Hi there."}]},"finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":120,"candidatesTokenCount":9,"thoughtsTokenCount":20,"totalTokenCount":149,"cachedContentTokenCount":100},
             "modelVersion":"gemini-alias","responseId":"chatcmpl-abc"}
            """#
        let response = GeminiAnswerEncoder.response(fromChatCompletion: completion, model: "gemini-alias")
        #expect(jsonEqual(response, jsonObject(expected)), "\(text(JSONValue.encode(response)))")
    }

    @Test("tool calls become functionCall parts with parsed args ({} when unparseable) and finish with STOP")
    func completionToolCalls() throws {
        let completion = try #require(jsonObject(#"""
            {"id":"chatcmpl-t","object":"chat.completion","created":1,"model":"gpt-4o",
             "choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[
               {"id":"call_1","type":"function","function":{"name":"lookup","arguments":"{\"q\":\"swift\",\"n\":3}"}},
               {"id":"call_2","type":"function","function":{"name":"now","arguments":"{\"broken"}}]},"logprobs":null,"finish_reason":"tool_calls"}],
             "usage":{"prompt_tokens":30,"completion_tokens":20,"total_tokens":50,"prompt_tokens_details":{"cached_tokens":0}}}
            """#))
        let expected = #"""
            {"candidates":[{"content":{"role":"model","parts":[
               {"functionCall":{"name":"lookup","args":{"q":"swift","n":3}}},{"functionCall":{"name":"now","args":{}}}]},"finishReason":"STOP","index":0}],
             "usageMetadata":{"promptTokenCount":30,"candidatesTokenCount":20,"totalTokenCount":50},
             "modelVersion":"gemini-alias","responseId":"chatcmpl-t"}
            """#
        let response = GeminiAnswerEncoder.response(fromChatCompletion: completion, model: "gemini-alias")
        #expect(jsonEqual(response, jsonObject(expected)), "\(text(JSONValue.encode(response)))")
    }

    @Test(
        "finish reasons map to Gemini's",
        arguments: [
            ("stop", "STOP"), ("length", "MAX_TOKENS"), ("content_filter", "SAFETY"), ("tool_calls", "STOP"),
            ("function_call", "STOP"), ("something_new", "OTHER"),
        ])
    func finishReasons(finishReason: String, gemini: String) throws {
        let completion = try #require(jsonObject(#"""
            {"id":"c","choices":[{"index":0,"message":{"role":"assistant","content":"x"},"finish_reason":"\#(finishReason)"}]}
            """#))
        let response = GeminiAnswerEncoder.response(fromChatCompletion: completion, model: "m")
        let candidate = try #require((response["candidates"] as? [Any])?.first as? JSONObject)
        #expect(candidate["finishReason"] as? String == gemini)
    }

    @Test("several choices become candidates by index; an empty message gets an empty text part; no usage, no id, none given")
    func severalChoices() throws {
        let completion = try #require(jsonObject(#"""
            {"choices":[{"index":1,"message":{"role":"assistant","content":"B"},"finish_reason":"length"},
                        {"index":0,"message":{"role":"assistant","content":null},"finish_reason":"content_filter"}],
             "usage":{"prompt_tokens":-1}}
            """#))
        let expected = #"""
            {"candidates":[{"content":{"role":"model","parts":[{"text":"B"}]},"finishReason":"MAX_TOKENS","index":1},
                           {"content":{"role":"model","parts":[{"text":""}]},"finishReason":"SAFETY","index":0}],
             "modelVersion":"m"}
            """#
        let response = GeminiAnswerEncoder.response(fromChatCompletion: completion, model: "m")
        #expect(jsonEqual(response, jsonObject(expected)), "\(text(JSONValue.encode(response)))")
        #expect(jsonEqual(GeminiAnswerEncoder.response(fromChatCompletion: [:], model: "m"), ["candidates": [Any](), "modelVersion": "m"]))
    }

    // MARK: Stream

    @Test("a text stream gives one event per text chunk and a last one with the finish reason and cached usage")
    func textStream() throws {
        let events = try encodeStream([
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{"content":" world"},"logprobs":null,"finish_reason":null}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"#,
            #"{"id":"chatcmpl-9","object":"chat.completion.chunk","created":1,"model":"gpt-4o","choices":[],"usage":{"prompt_tokens":50,"completion_tokens":2,"total_tokens":52,"prompt_tokens_details":{"cached_tokens":32}}}"#,
        ])
        expectEvents(events, [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Hello"}]},"index":0}],"modelVersion":"gemini-alias","responseId":"chatcmpl-9"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":" world"}]},"index":0}],"modelVersion":"gemini-alias","responseId":"chatcmpl-9"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0}],"modelVersion":"gemini-alias","responseId":"chatcmpl-9","usageMetadata":{"cachedContentTokenCount":32,"candidatesTokenCount":2,"promptTokenCount":50,"totalTokenCount":52}}"#,
        ])
    }

    @Test("events are framed as Gemini frames them, with CRLF and no [DONE]")
    func eventFraming() throws {
        var encoder = GeminiStreamEncoder(model: "g")
        let chunk = try #require(jsonObject(#"{"id":"c","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#))
        #expect(encoder.encode(chunk).map(text) == [
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"Hi\"}],\"role\":\"model\"},\"index\":0}],\"modelVersion\":\"g\",\"responseId\":\"c\"}\r\n\r\n"
        ])
        #expect(encoder.finish().map(text) == [
            "data: {\"candidates\":[{\"content\":{\"parts\":[{\"text\":\"\"}],\"role\":\"model\"},\"finishReason\":\"STOP\",\"index\":0}],\"modelVersion\":\"g\",\"responseId\":\"c\"}\r\n\r\n"
        ])
    }

    @Test("a tool-call stream sends text as it comes and each call whole, with the finish reason and usage")
    func toolCallStream() throws {
        let events = try encodeStream([
            #"{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":"Let me check."},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_a","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":1,"id":"call_b","type":"function","function":{"name":"now","arguments":"{\"broken"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"#,
            #"{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#,
            #"{"id":"c","choices":[],"usage":{"prompt_tokens":70,"completion_tokens":25,"total_tokens":95}}"#,
        ])
        expectEvents(events, [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Let me check."}]},"index":0}],"modelVersion":"gemini-alias","responseId":"c"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}},{"functionCall":{"name":"now","args":{}}}]},"finishReason":"STOP","index":0}],"modelVersion":"gemini-alias","responseId":"c","usageMetadata":{"promptTokenCount":70,"candidatesTokenCount":25,"totalTokenCount":95}}"#,
        ])
    }

    @Test("reasoning becomes thought parts; text in the finish chunk goes with the finish reason")
    func reasoningStream() throws {
        let events = try encodeStream([
            #"{"id":"r","choices":[{"index":0,"delta":{"role":"assistant","reasoning_content":"Think"},"finish_reason":null}]}"#,
            #"{"id":"r","choices":[{"index":0,"delta":{"reasoning_content":"ing.","content":"So"},"finish_reason":null}]}"#,
            #"{"id":"r","choices":[{"index":0,"delta":{"content":" done."},"finish_reason":"length"}]}"#,
        ])
        expectEvents(events, [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"Think","thought":true}]},"index":0}],"modelVersion":"gemini-alias","responseId":"r"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"ing.","thought":true},{"text":"So"}]},"index":0}],"modelVersion":"gemini-alias","responseId":"r"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":" done."}]},"finishReason":"MAX_TOKENS","index":0}],"modelVersion":"gemini-alias","responseId":"r"}"#,
        ])
    }

    @Test("calls of a choice never finished are sent by finish() with STOP; several choices end in one event")
    func unfinishedChoices() throws {
        let events = try encodeStream([
            #"{"id":"n","choices":[{"index":0,"delta":{"role":"assistant","content":"A"},"finish_reason":null},{"index":1,"delta":{"role":"assistant","tool_calls":[{"index":0,"function":{"name":"f","arguments":"{\"x\":"}}]},"finish_reason":null}]}"#,
            #"{"id":"n","choices":[{"index":1,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"1}"}}]},"finish_reason":null}]}"#,
            #"{"id":"n","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#,
        ])
        expectEvents(events, [
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":"A"}]},"index":0}],"modelVersion":"gemini-alias","responseId":"n"}"#,
            #"{"candidates":[{"content":{"role":"model","parts":[{"text":""}]},"finishReason":"STOP","index":0},{"content":{"role":"model","parts":[{"functionCall":{"name":"f","args":{"x":1}}}]},"finishReason":"STOP","index":1}],"modelVersion":"gemini-alias","responseId":"n"}"#,
        ])
    }

    @Test("usage with no candidate to go with is its own event; no chunks at all give no events")
    func usageAlone() throws {
        let events = try encodeStream([
            #"{"id":"u","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":0,"total_tokens":5}}"#
        ])
        expectEvents(events, [
            #"{"candidates":[],"modelVersion":"gemini-alias","responseId":"u","usageMetadata":{"promptTokenCount":5,"candidatesTokenCount":0,"totalTokenCount":5}}"#
        ])
        #expect(try encodeStream([]).isEmpty)
    }

    @Test("a stream error becomes a Gemini error event")
    func streamErrorEvent() {
        let encoder = GeminiStreamEncoder(model: "m")
        let event = encoder.errorEvent(GatewayError(status: 503, type: "api_error", code: nil, message: "Overloaded"))
        #expect(text(event) == "data: {\"error\":{\"code\":503,\"message\":\"Overloaded\",\"status\":\"UNAVAILABLE\"}}\r\n\r\n")
    }
}
