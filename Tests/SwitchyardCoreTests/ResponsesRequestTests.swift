import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// `/v1/responses` request bodies: validation, the stored-conversation rewrite, the pass-through body, the echo in
/// the response object, and the translation to chat completions.
@Suite("Responses request") struct ResponsesRequestTests {
    func request(_ json: String) throws(GatewayError) -> ResponsesRequest {
        try ResponsesRequest(body: buffer(json))
    }

    func failure(_ json: String, chat: Bool = false) -> GatewayError? {
        gatewayError { () throws(GatewayError) in
            let parsed = try request(json)
            if chat { _ = try parsed.chatBody() }
        }
    }

    /// The chat body for `input` (JSON text) in a minimal request, with `extra` members appended.
    func chat(input: String, extra: String = "") throws -> JSONObject {
        try request(#"{"model":"gpt-x","input":"# + input + extra + "}").chatBody()
    }

    func expectJSON(_ actual: Any?, _ golden: String, sourceLocation: SourceLocation = #_sourceLocation) throws {
        let expected = try JSONSerialization.jsonObject(with: Data(golden.utf8), options: [.fragmentsAllowed])
        let shown = actual.flatMap(canonicalJSON).map { String(decoding: $0, as: UTF8.self) } ?? "nil"
        #expect(jsonEqual(actual, expected), "\(shown) ≠ \(golden)", sourceLocation: sourceLocation)
    }

    // MARK: Validation

    @Test("a valid request gives its model, stream and store flags and previous response id")
    func readsTopLevelFields() throws {
        let plain = try request(#"{"model":"gpt-4.1","input":"Hi"}"#)
        #expect(plain.model == "gpt-4.1")
        #expect(plain.stream == false)
        #expect(plain.store == true)
        #expect(plain.previousResponseID == nil)
        let full = try request(
            #"{"model":"m","input":[],"stream":true,"store":false,"previous_response_id":"resp_1","max_output_tokens":10000000,"temperature":2,"top_p":0,"instructions":null}"#)
        #expect(full.stream && !full.store)
        #expect(full.previousResponseID == "resp_1")
        #expect(try request(#"{"model":"m","input":"x","stream":null,"store":null}"#).store == true)
    }

    @Test("input may be left out when previous_response_id is given")
    func inputOptionalWithPreviousResponse() throws {
        #expect(try request(#"{"model":"m","previous_response_id":"resp_9"}"#).previousResponseID == "resp_9")
        let error = failure(#"{"model":"m","input":null}"#)
        #expect(error?.param == "input")
        #expect(error?.code == "missing_required_parameter")
        #expect(error?.message == "Missing required parameter: 'input'.")
    }

    @Test(
        "malformed top-level members are rejected with their param and OpenAI's code",
        arguments: [
            (#"{"input":"x"}"#, "model", "missing_required_parameter"),
            (#"{"model":"","input":"x"}"#, "model", "invalid_type"),
            (#"{"model":5,"input":"x"}"#, "model", "invalid_type"),
            (#"{"model":"m"}"#, "input", "missing_required_parameter"),
            (#"{"model":"m","input":{}}"#, "input", "invalid_type"),
            (#"{"model":"m","input":"x","stream":"yes"}"#, "stream", "invalid_type"),
            (#"{"model":"m","input":"x","store":1}"#, "store", "invalid_type"),
            (#"{"model":"m","input":"x","parallel_tool_calls":"no"}"#, "parallel_tool_calls", "invalid_type"),
            (#"{"model":"m","input":"x","max_output_tokens":0}"#, "max_output_tokens", "invalid_value"),
            (#"{"model":"m","input":"x","max_output_tokens":10000001}"#, "max_output_tokens", "invalid_value"),
            (#"{"model":"m","input":"x","max_output_tokens":12.5}"#, "max_output_tokens", "invalid_value"),
            (#"{"model":"m","input":"x","max_output_tokens":"64"}"#, "max_output_tokens", "invalid_type"),
            (#"{"model":"m","input":"x","temperature":2.5}"#, "temperature", "invalid_value"),
            (#"{"model":"m","input":"x","temperature":-0.1}"#, "temperature", "invalid_value"),
            (#"{"model":"m","input":"x","top_p":1.01}"#, "top_p", "invalid_value"),
            (#"{"model":"m","input":"x","top_p":true}"#, "top_p", "invalid_type"),
            (#"{"model":"m","input":"x","previous_response_id":""}"#, "previous_response_id", "invalid_type"),
            (#"{"model":"m","input":"x","previous_response_id":7}"#, "previous_response_id", "invalid_type"),
            (#"{"model":"m","input":"x","instructions":["a"]}"#, "instructions", "invalid_type"),
        ] as [(String, String, String)])
    func malformedTopLevel(json: String, param: String, code: String) {
        let error = failure(json)
        #expect(error?.statusCode == 400)
        #expect(error?.type == "invalid_request_error")
        #expect(error?.param == param)
        #expect(error?.code == code)
    }

    @Test("a body that is not a JSON object is invalid JSON", arguments: [#"{"model":"m","input":"x""#, "[1]", ""])
    func invalidJSON(json: String) {
        let error = failure(json)
        #expect(error?.code == "invalid_json")
        #expect(error?.param == nil)
    }

    // MARK: Input items

    @Test("a string input is one user message: an input_text item for the store, a plain string for chat")
    func stringInput() throws {
        let parsed = try request(#"{"model":"gpt-x","input":"Hello\nthere"}"#)
        try expectJSON(parsed.inputItems(), #"[{"type":"message","role":"user","content":[{"type":"input_text","text":"Hello\nthere"}]}]"#)
        let chat = try parsed.chatBody()
        try expectJSON(chat, #"{"model":"gpt-x","stream":false,"messages":[{"role":"user","content":"Hello\nthere"}]}"#)
    }

    @Test("a list input is returned as sent, role-only items included, non-objects left out")
    func listInputItems() throws {
        let items = try request(
            #"{"model":"m","input":[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":"1"},3]}"#
        ).inputItems()
        try expectJSON(items, #"[{"role":"user","content":"hi"},{"type":"function_call_output","call_id":"c","output":"1"}]"#)
        #expect(try request(#"{"model":"m","previous_response_id":"r"}"#).inputItems().isEmpty)
    }

    @Test("instructions lead; system and developer messages, however many, stay system messages in place")
    func severalSystemMessages() throws {
        let chat = try chat(
            input: #"""
                [{"role":"developer","content":"Use tabs."},
                 {"type":"message","role":"user","content":"Hi"},
                 {"type":"message","role":"system","content":[{"type":"input_text","text":"Be brief."},{"type":"input_text","text":"No emoji."}]},
                 {"role":"developer","content":[]}]
                """#,
            extra: #","instructions":"You are a helper.""#)
        try expectJSON(chat["messages"], #"""
            [{"role":"system","content":"You are a helper."},
             {"role":"system","content":"Use tabs."},
             {"role":"user","content":"Hi"},
             {"role":"system","content":"Be brief.\n\nNo emoji."},
             {"role":"system","content":""}]
            """#)
    }

    @Test("user parts: texts only become one string; with images they stay parts, URL and data URL, detail kept")
    func userPartsAndImages() throws {
        let chat = try chat(input: #"""
            [{"role":"user","content":[{"type":"input_text","text":"<context>"},{"type":"input_text","text":"Hi"}]},
             {"type":"message","role":"user","content":[
               {"type":"input_text","text":"What is in these?"},
               {"type":"input_image","image_url":"https://example.com/cat.png","detail":"high"},
               {"type":"input_image","image_url":"data:image/png;base64,iVBORw0KGgo="}]},
             {"role":"user","content":""},
             {"role":"user","content":[]}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"user","content":"<context>\n\nHi"},
             {"role":"user","content":[
               {"type":"text","text":"What is in these?"},
               {"type":"image_url","image_url":{"url":"https://example.com/cat.png","detail":"high"}},
               {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo="}}]},
             {"role":"user","content":""},
             {"role":"user","content":""}]
            """#)
    }

    @Test("an assistant message's output_text and refusal parts become one string")
    func assistantParts() throws {
        let chat = try chat(input: #"""
            [{"role":"user","content":"Do it"},
             {"type":"message","role":"assistant","id":"msg_1","status":"completed","content":[
               {"type":"output_text","text":"Part one.","annotations":[]},{"type":"refusal","refusal":"I can't do the rest."}]},
             {"role":"assistant","content":"Plain."},
             {"role":"user","content":"OK"}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"user","content":"Do it"},
             {"role":"assistant","content":"Part one.\n\nI can't do the rest.\n\nPlain."},
             {"role":"user","content":"OK"}]
            """#)
    }

    @Test("an assistant message and the function calls after it become one assistant message; outputs become tool messages")
    func parallelToolCallsMerge() throws {
        let chat = try chat(input: #"""
            [{"role":"user","content":"Weather in Paris and Rome?"},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Checking both."}]},
             {"type":"function_call","id":"fc_1","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Paris\"}","status":"completed"},
             {"type":"function_call","call_id":"call_2","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
             {"type":"function_call_output","call_id":"call_1","output":"20C"},
             {"type":"function_call_output","call_id":"call_2","output":"25C"},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Paris 20C, Rome 25C."}]}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"user","content":"Weather in Paris and Rome?"},
             {"role":"assistant","content":"Checking both.","tool_calls":[
               {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}},
               {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
             {"role":"tool","tool_call_id":"call_1","content":"20C"},
             {"role":"tool","tool_call_id":"call_2","content":"25C"},
             {"role":"assistant","content":"Paris 20C, Rome 25C."}]
            """#)
    }

    @Test("a turn of function calls only has no content; calls separated by outputs are separate turns")
    func toolCallOnlyTurns() throws {
        let chat = try chat(input: #"""
            [{"type":"function_call","call_id":"a","name":"now","arguments":"{}"},
             {"type":"function_call_output","call_id":"a","output":"noon"},
             {"type":"function_call","call_id":"b","name":"today","arguments":""},
             {"type":"function_call_output","call_id":"b","output":""}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"now","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"a","content":"noon"},
             {"role":"assistant","tool_calls":[{"id":"b","type":"function","function":{"name":"today","arguments":""}}]},
             {"role":"tool","tool_call_id":"b","content":""}]
            """#)
    }

    @Test("an array output's texts are joined; its images follow the run of tool messages in one user message")
    func arrayToolOutput() throws {
        let chat = try chat(input: #"""
            [{"type":"function_call","call_id":"s1","name":"screenshot","arguments":"{}"},
             {"type":"function_call","call_id":"s2","name":"read","arguments":"{}"},
             {"type":"function_call_output","call_id":"s1","output":[
               {"type":"input_text","text":"Screen:"},{"type":"input_image","image_url":"data:image/png;base64,AAAA","detail":"low"}]},
             {"type":"function_call_output","call_id":"s2","output":[{"type":"input_text","text":"line 1"},{"type":"input_text","text":"line 2"}]},
             {"role":"user","content":"Now?"}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"assistant","tool_calls":[
               {"id":"s1","type":"function","function":{"name":"screenshot","arguments":"{}"}},
               {"id":"s2","type":"function","function":{"name":"read","arguments":"{}"}}]},
             {"role":"tool","tool_call_id":"s1","content":"Screen:"},
             {"role":"tool","tool_call_id":"s2","content":"line 1\n\nline 2"},
             {"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AAAA","detail":"low"}}]},
             {"role":"user","content":"Now?"}]
            """#)
    }

    @Test("reasoning items are dropped without splitting the assistant turn")
    func reasoningDropped() throws {
        let chat = try chat(input: #"""
            [{"role":"user","content":"Think"},
             {"type":"reasoning","id":"rs_1","summary":[{"type":"summary_text","text":"Pondering"}],"encrypted_content":"gAAA"},
             {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me look."}]},
             {"type":"reasoning","id":"rs_2","summary":[]},
             {"type":"function_call","call_id":"c1","name":"look","arguments":"{}"}]
            """#)
        try expectJSON(chat["messages"], #"""
            [{"role":"user","content":"Think"},
             {"role":"assistant","content":"Let me look.","tool_calls":[{"id":"c1","type":"function","function":{"name":"look","arguments":"{}"}}]}]
            """#)
    }

    @Test(
        "input items chat has no counterpart for are a 400 naming their type and path",
        arguments: [
            (#"{"type":"item_reference","id":"msg_1"}"#, "item_reference"),
            (#"{"type":"file_search_call","id":"fs_1","queries":[],"status":"completed"}"#, "file_search_call"),
            (#"{"type":"computer_call","call_id":"c","action":{},"status":"completed"}"#, "computer_call"),
            (#"{"type":"custom_tool_call","call_id":"c","name":"apply_patch","input":"*** Begin Patch"}"#, "custom_tool_call"),
        ])
    func unmappableItems(item: String, type: String) {
        let error = failure(#"{"model":"m","input":[{"role":"user","content":"hi"},"# + item + "]}", chat: true)
        #expect(error?.statusCode == 400)
        #expect(error?.param == "input[1]")
        #expect(
            error?.message
                == "The input item type '\(type)' (input[1]) can only be served by a provider with the Responses API (responses: true).")
    }

    @Test(
        "files and images by file_id are a 400 naming the part",
        arguments: [
            (#"{"role":"user","content":[{"type":"input_text","text":"Read"},{"type":"input_file","file_id":"file-1"}]}"#, "input[0].content[1]"),
            (#"{"role":"user","content":[{"type":"input_image","file_id":"file-2","detail":"auto"}]}"#, "input[0].content[0]"),
            (#"{"type":"function_call_output","call_id":"c","output":[{"type":"input_file","file_data":"data:application/pdf;base64,JVBE"}]}"#, "input[0].output[0]"),
        ])
    func unmappableParts(item: String, param: String) {
        let error = failure(#"{"model":"m","input":["# + item + "]}", chat: true)
        #expect(error?.param == param)
        #expect(error?.message.contains("can only be served by a provider with the Responses API") == true)
    }

    @Test(
        "malformed input items are rejected with their path",
        arguments: [
            (#"[7]"#, "input[0]"),
            (#"[{"content":"no role"}]"#, "input[0].type"),
            (#"[{"type":5}]"#, "input[0].type"),
            (#"[{"role":"tool","content":"x"}]"#, "input[0].role"),
            (#"[{"role":"user","content":7}]"#, "input[0].content"),
            (#"[{"role":"user","content":[{"text":"no type"}]}]"#, "input[0].content[0]"),
            (#"[{"role":"user","content":[{"type":"input_text"}]}]"#, "input[0].content[0].text"),
            (#"[{"role":"user","content":[{"type":"input_audio","input_audio":{}}]}]"#, "input[0].content[0].type"),
            (#"[{"role":"system","content":[{"type":"input_image","image_url":"https://x/y.png"}]}]"#, "input[0].content[0]"),
            (#"[{"role":"user","content":[{"type":"input_image","image_url":5}]}]"#, "input[0].content[0].image_url"),
            (#"[{"type":"function_call","name":"f","arguments":"{}"}]"#, "input[0].call_id"),
            (#"[{"type":"function_call","call_id":"c","arguments":"{}"}]"#, "input[0].name"),
            (#"[{"type":"function_call","call_id":"c","name":"f","arguments":{}}]"#, "input[0].arguments"),
            (#"[{"type":"function_call_output","output":"x"}]"#, "input[0].call_id"),
            (#"[{"type":"function_call_output","call_id":"c","output":5}]"#, "input[0].output"),
        ])
    func malformedItems(input: String, param: String) {
        let error = failure(#"{"model":"m","input":"# + input + "}", chat: true)
        #expect(error?.statusCode == 400)
        #expect(error?.param == param)
    }

    // MARK: Options

    @Test("function tools are nested as chat has them, absent keys left out")
    func functionTools() throws {
        let chat = try chat(
            input: #""Hi""#,
            extra: #"""
                ,"tools":[{"type":"function","name":"get_weather","description":"Weather by city","strict":true,
                  "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}},
                 {"type":"function","name":"now","parameters":null,"strict":null}],
                 "tool_choice":{"type":"function","name":"get_weather"},"parallel_tool_calls":false
                """#)
        try expectJSON(chat["tools"], #"""
            [{"type":"function","function":{"name":"get_weather","description":"Weather by city","strict":true,
               "parameters":{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}}},
             {"type":"function","function":{"name":"now"}}]
            """#)
        try expectJSON(chat["tool_choice"], #"{"type":"function","function":{"name":"get_weather"}}"#)
        try expectJSON(chat["parallel_tool_calls"], "false")
    }

    @Test("a namespace's functions become flat chat functions named namespace__name, and so do calls of them")
    func namespacedTools() throws {
        let chat = try chat(
            input: #"""
                [{"type":"message","role":"user","content":"Close it"},
                 {"type":"function_call","namespace":"agents","name":"close_agent","arguments":"{}","call_id":"c1"},
                 {"type":"function_call_output","call_id":"c1","output":"closed"}]
                """#,
            extra: #"""
                ,"tools":[{"type":"function","name":"exec_command"},
                 {"type":"namespace","name":"agents","description":"Sub-agents","tools":[
                   {"type":"function","name":"close_agent","description":"Close an agent","parameters":{"type":"object"}}]}]
                """#)
        try expectJSON(chat["tools"], #"""
            [{"type":"function","function":{"name":"exec_command"}},
             {"type":"function","function":{"name":"agents__close_agent","description":"Close an agent","parameters":{"type":"object"}}}]
            """#)
        let messages = try #require(chat["messages"] as? [JSONObject])
        try expectJSON(messages[1]["tool_calls"], #"""
            [{"id":"c1","type":"function","function":{"name":"agents__close_agent","arguments":"{}"}}]
            """#)
        let custom = failure(
            #"{"model":"m","input":"x","tools":[{"type":"namespace","name":"ns","tools":[{"type":"custom","name":"patch"}]}]}"#,
            chat: true)
        #expect(custom?.param == "tools[0].tools[0]" && custom?.message.contains("'custom'") == true)
    }

    @Test("tool_choice modes pass as they are", arguments: ["auto", "none", "required"])
    func toolChoiceModes(mode: String) throws {
        let chat = try chat(input: #""Hi""#, extra: #","tools":[{"type":"function","name":"f"}],"tool_choice":""# + mode + #"""#)
        #expect(chat["tool_choice"] as? String == mode)
    }

    @Test("tool_choice and parallel_tool_calls are left out without tools")
    func toolOptionsWithoutTools() throws {
        let chat = try chat(input: #""Hi""#, extra: #","tools":[],"tool_choice":"auto","parallel_tool_calls":true"#)
        #expect(chat["tools"] == nil && chat["tool_choice"] == nil && chat["parallel_tool_calls"] == nil)
    }

    @Test("a tool that is not a function is a 400 naming its type and index")
    func hostedToolRejected() {
        let error = failure(
            #"{"model":"m","input":"x","tools":[{"type":"function","name":"f"},{"type":"web_search"}]}"#, chat: true)
        #expect(error?.statusCode == 400)
        #expect(error?.param == "tools[1]")
        #expect(
            error?.message
                == "The tool type 'web_search' (tools[1]) can only be served by a provider with the Responses API (responses: true).")
    }

    @Test(
        "malformed tools and tool choices are rejected with their param",
        arguments: [
            (#""tools":{}"#, "tools"),
            (#""tools":[{"name":"f"}]"#, "tools[0]"),
            (#""tools":[{"type":"function"}]"#, "tools[0].name"),
            (#""tools":[{"type":"function","name":"f","parameters":[]}]"#, "tools[0].parameters"),
            (#""tool_choice":"sometimes""#, "tool_choice"),
            (#""tool_choice":{"type":"file_search"}"#, "tool_choice"),
            (#""tool_choice":{"type":"allowed_tools","mode":"auto","tools":[]}"#, "tool_choice"),
            (#""tool_choice":{"type":"function"}"#, "tool_choice.name"),
            (#""tool_choice":7"#, "tool_choice"),
        ])
    func malformedTools(member: String, param: String) {
        let error = failure(#"{"model":"m","input":"x","# + member + "}", chat: true)
        #expect(error?.statusCode == 400)
        #expect(error?.param == param)
    }

    @Test("text.format json_schema and json_object become response_format; plain text none")
    func textFormat() throws {
        let schema = try chat(
            input: #""Extract""#,
            extra: #","text":{"format":{"type":"json_schema","name":"person","description":"A person","strict":true,"schema":{"type":"object","properties":{"name":{"type":"string"}}}},"verbosity":"low"}"#)
        try expectJSON(schema["response_format"], #"""
            {"type":"json_schema","json_schema":{"name":"person","description":"A person","strict":true,
              "schema":{"type":"object","properties":{"name":{"type":"string"}}}}}
            """#)
        let object = try chat(input: #""x""#, extra: #","text":{"format":{"type":"json_object"}}"#)
        try expectJSON(object["response_format"], #"{"type":"json_object"}"#)
        #expect(try chat(input: #""x""#, extra: #","text":{"format":{"type":"text"}}"#)["response_format"] == nil)
        #expect(try chat(input: #""x""#, extra: #","text":{"verbosity":"high"}"#)["response_format"] == nil)
        let minimal = try chat(input: #""x""#, extra: #","text":{"format":{"type":"json_schema","name":"n","schema":{}}}"#)
        try expectJSON(minimal["response_format"], #"{"type":"json_schema","json_schema":{"name":"n","schema":{}}}"#)
        #expect(failure(#"{"model":"m","input":"x","text":{"format":{"type":"json_schema","schema":{}}}}"#, chat: true)?.param == "text.format.name")
        #expect(failure(#"{"model":"m","input":"x","text":{"format":{"type":"grammar"}}}"#, chat: true)?.param == "text.format.type")
    }

    @Test("sampling options, max_output_tokens, user and reasoning effort carry over; store, metadata and the like do not")
    func scalarOptions() throws {
        let translated = try request(#"""
            {"model":"o4-mini","input":"Hi","stream":true,"max_output_tokens":256,"temperature":0.5,"top_p":0.9,
             "user":"u-1","reasoning":{"effort":"high","summary":"auto"},"store":true,"metadata":{"k":"v"},
             "include":["reasoning.encrypted_content"],"prompt_cache_key":"k","truncation":"auto","service_tier":"auto",
             "background":false,"safety_identifier":"s","stream_options":{"include_obfuscation":false},"max_tool_calls":3}
            """#).chatBody()
        try expectJSON(translated, #"""
            {"model":"o4-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"Hi"}],
             "max_tokens":256,"temperature":0.5,"top_p":0.9,"user":"u-1","reasoning_effort":"high"}
            """#)
        #expect(try chat(input: #""x""#, extra: #","reasoning":null"#)["reasoning_effort"] == nil)
        #expect(try chat(input: #""x""#, extra: #","reasoning":{"effort":null}"#)["reasoning_effort"] == nil)
        #expect(failure(#"{"model":"m","input":"x","reasoning":{"effort":3}}"#, chat: true)?.param == "reasoning.effort")
        #expect(failure(#"{"model":"m","input":"x","user":42}"#, chat: true)?.param == "user")
    }

    @Test(
        "background responses, stored conversations and prompts are a 400 naming the param",
        arguments: [
            (#""background":true"#, "background"),
            (#""conversation":"conv_1""#, "conversation"),
            (#""prompt":{"id":"pmpt_1"}"#, "prompt"),
        ])
    func responsesOnlyOptions(member: String, param: String) {
        let error = failure(#"{"model":"m","input":"x","# + member + "}", chat: true)
        #expect(error?.param == param)
        #expect(error?.message.hasSuffix("can only be served by a provider with the Responses API (responses: true).") == true)
    }

    // MARK: Stored conversations

    @Test("continuing drops previous_response_id and puts the history before a string input, other bytes unchanged")
    func continuingStringInput() throws {
        let body = #"{ "model":"gpt-x", "previous_response_id" : "resp_1", "input":"Next?", "store":false, "x":[1.50] }"#
        let history = [
            try #require(jsonObject(#"{"type":"message","role":"user","content":[{"type":"input_text","text":"Hi"}]}"#)),
            try #require(jsonObject(#"{"type":"message","role":"assistant","content":[{"type":"output_text","text":"Hello"}]}"#)),
        ]
        let continued = try request(body).continuing(after: history)
        let expected =
            #"{ "model":"gpt-x", "input":["#
            + #"{"content":[{"text":"Hi","type":"input_text"}],"role":"user","type":"message"},"#
            + #"{"content":[{"text":"Hello","type":"output_text"}],"role":"assistant","type":"message"},"#
            + #"{"content":[{"text":"Next?","type":"input_text"}],"role":"user","type":"message"}"#
            + #"], "store":false, "x":[1.50] }"#
        #expect(text(continued.body) == expected)
        #expect(continued.previousResponseID == "resp_1")
        #expect(continued.model == "gpt-x" && continued.stream == false && continued.store == false)
        try expectJSON(continued.chatBody()["messages"], #"""
            [{"role":"user","content":"Hi"},{"role":"assistant","content":"Hello"},{"role":"user","content":"Next?"}]
            """#)
    }

    @Test("continuing keeps a list input's elements byte for byte after the history; no input becomes the history")
    func continuingListInput() throws {
        let history = [try #require(jsonObject(#"{"type":"function_call","call_id":"c1","name":"f","arguments":"{}"}"#))]
        let item = #"{"arguments":"{}","call_id":"c1","name":"f","type":"function_call"}"#
        let list = try request(#"{"input": [ {"type":"function_call_output","call_id":"c1","output":"1.0"} , 7 ],"model":"m","previous_response_id":"r","stream":true}"#)
        #expect(
            text(list.continuing(after: history).body)
                == #"{"input": ["# + item + #", {"type":"function_call_output","call_id":"c1","output":"1.0"} , 7 ],"model":"m","stream":true}"#)

        let empty = try request(#"{"model":"m","previous_response_id":"r","input":[ ]}"#)
        #expect(text(empty.continuing(after: history).body) == #"{"model":"m","input":["# + item + "]}")
        let absent = try request(#"{"model":"m","previous_response_id":"r"}"#)
        #expect(text(absent.continuing(after: history).body) == #"{"input":["# + item + #"],"model":"m"}"#)
        #expect(text(absent.continuing(after: []).body) == #"{"input":[],"model":"m"}"#)
        let unchanged = #"{"model":"m", "input":"x"}"#
        #expect(text(try request(unchanged).continuing(after: []).body) == unchanged)
    }

    // MARK: Responses providers

    @Test("the body for a Responses provider changes only model and stream, byte for byte")
    func upstreamBodyIsByteExact() throws {
        let body = #"{ "model" : "alias", "input":[{"role":"user","content":"h\u00e9"}], "tools":[{"type":"web_search"}], "stream" :false, "n":1.50 }"#
        let parsed = try request(body)
        #expect(text(parsed.upstreamBody(model: "alias", stream: false)) == body)
        #expect(
            text(parsed.upstreamBody(model: "gpt-4.1", stream: true))
                == body.replacingOccurrences(of: #""alias""#, with: #""gpt-4.1""#)
                .replacingOccurrences(of: #""stream" :false"#, with: #""stream" :true"#))
        let withoutStream = try request(#"{"model":"a","input":"x"}"#)
        #expect(text(withoutStream.upstreamBody(model: "b", stream: true)) == #"{"stream":true,"model":"b","input":"x"}"#)
        #expect(text(withoutStream.upstreamBody(model: "a", stream: false)) == #"{"model":"a","input":"x"}"#)
    }

    // MARK: Response echo

    @Test("the response echo has OpenAI's defaults for what the request left out")
    func responseEchoDefaults() throws {
        try expectJSON(try request(#"{"model":"m","input":"x"}"#).responseEcho, #"""
            {"instructions":null,"max_output_tokens":null,"metadata":{},"parallel_tool_calls":true,
             "previous_response_id":null,"temperature":1,"top_p":1,"tool_choice":"auto","tools":[],
             "text":{"format":{"type":"text"}},"truncation":"disabled","store":true,
             "reasoning":{"effort":null,"summary":null}}
            """#)
    }

    @Test("the response echo repeats what the request sent")
    func responseEchoValues() throws {
        let echo = try request(#"""
            {"model":"m","input":"x","instructions":"Be kind.","max_output_tokens":100,"metadata":{"a":"b"},
             "parallel_tool_calls":false,"previous_response_id":"resp_0","temperature":0.2,"top_p":0.5,
             "tool_choice":"required","tools":[{"type":"function","name":"f","parameters":{}}],
             "text":{"verbosity":"low"},"truncation":"auto","store":false,"user":"u","reasoning":{"effort":"low"}}
            """#).responseEcho
        try expectJSON(echo, #"""
            {"instructions":"Be kind.","max_output_tokens":100,"metadata":{"a":"b"},"parallel_tool_calls":false,
             "previous_response_id":"resp_0","temperature":0.2,"top_p":0.5,"tool_choice":"required",
             "tools":[{"type":"function","name":"f","parameters":{}}],"text":{"format":{"type":"text"},"verbosity":"low"},
             "truncation":"auto","store":false,"user":"u","reasoning":{"effort":"low","summary":null}}
            """#)
    }

    // MARK: Codex CLI

    /// The shape codex-rs sends (`ResponsesApiRequest`): instructions, developer and user context messages,
    /// reasoning items with encrypted content, function calls and outputs, function tools, `store: false`.
    @Test("a Codex CLI request translates to chat completions")
    func codexRequest() throws {
        let codex = try request(#"""
            {"model":"gpt-5-codex","instructions":"You are Codex, a coding agent.\n\n## Tools\nUse shell_command.",
             "input":[
              {"type":"message","role":"developer","content":[{"type":"input_text","text":"<permissions instructions>sandbox: workspace-write</permissions instructions>"}]},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>Run swift test.</INSTRUCTIONS>"}]},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"<environment_context>\n  <cwd>/repo</cwd>\n  <shell>bash</shell>\n</environment_context>"}]},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"Run the tests"}]},
              {"type":"reasoning","summary":[{"type":"summary_text","text":"**Running the tests**"}],"content":null,"encrypted_content":"gAAAAABo"},
              {"type":"function_call","name":"shell_command","arguments":"{\"command\":\"swift test\",\"workdir\":\"/repo\"}","call_id":"call_A1"},
              {"type":"function_call_output","call_id":"call_A1","output":"Exit code: 0\nWall time: 3.2 seconds\nOutput:\nAll tests passed"},
              {"type":"message","role":"assistant","content":[{"type":"output_text","text":"All tests pass."}]},
              {"type":"message","role":"user","content":[{"type":"input_text","text":"Thanks"}]}],
             "tools":[
              {"type":"function","name":"shell_command","description":"Runs a shell command and returns its output.","strict":false,
               "parameters":{"type":"object","properties":{"command":{"type":"string","description":"The shell script to execute"},
                 "workdir":{"type":"string"},"timeout_ms":{"type":"number"}},"required":["command"],"additionalProperties":false}},
              {"type":"function","name":"update_plan","description":"Updates the task plan.","strict":false,
               "parameters":{"type":"object","properties":{"plan":{"type":"array","items":{"type":"object"}}},"required":["plan"],"additionalProperties":false}}],
             "tool_choice":"auto","parallel_tool_calls":false,"reasoning":{"effort":"medium","summary":"auto"},
             "store":false,"stream":true,"include":["reasoning.encrypted_content"],
             "prompt_cache_key":"0199a1b2-7c3d-7e4f-8a9b-0c1d2e3f4a5b","text":{"verbosity":"medium"}}
            """#)
        #expect(codex.stream && !codex.store)
        try expectJSON(codex.chatBody(), #"""
            {"model":"gpt-5-codex","stream":true,"stream_options":{"include_usage":true},
             "messages":[
              {"role":"system","content":"You are Codex, a coding agent.\n\n## Tools\nUse shell_command."},
              {"role":"system","content":"<permissions instructions>sandbox: workspace-write</permissions instructions>"},
              {"role":"user","content":"# AGENTS.md instructions for /repo\n\n<INSTRUCTIONS>Run swift test.</INSTRUCTIONS>"},
              {"role":"user","content":"<environment_context>\n  <cwd>/repo</cwd>\n  <shell>bash</shell>\n</environment_context>"},
              {"role":"user","content":"Run the tests"},
              {"role":"assistant","tool_calls":[{"id":"call_A1","type":"function",
                "function":{"name":"shell_command","arguments":"{\"command\":\"swift test\",\"workdir\":\"/repo\"}"}}]},
              {"role":"tool","tool_call_id":"call_A1","content":"Exit code: 0\nWall time: 3.2 seconds\nOutput:\nAll tests passed"},
              {"role":"assistant","content":"All tests pass."},
              {"role":"user","content":"Thanks"}],
             "tools":[
              {"type":"function","function":{"name":"shell_command","description":"Runs a shell command and returns its output.","strict":false,
               "parameters":{"type":"object","properties":{"command":{"type":"string","description":"The shell script to execute"},
                 "workdir":{"type":"string"},"timeout_ms":{"type":"number"}},"required":["command"],"additionalProperties":false}}},
              {"type":"function","function":{"name":"update_plan","description":"Updates the task plan.","strict":false,
               "parameters":{"type":"object","properties":{"plan":{"type":"array","items":{"type":"object"}}},"required":["plan"],"additionalProperties":false}}}],
             "tool_choice":"auto","parallel_tool_calls":false,"reasoning_effort":"medium"}
            """#)
    }
}
