import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Checking client bodies and rewriting them for the upstream without touching other bytes.
@Suite struct ClientRequestTests {
    func request(_ json: String, _ endpoint: APIEndpoint = .chatCompletions) throws(GatewayError) -> ClientRequest {
        try ClientRequest(endpoint: endpoint, body: buffer(json))
    }

    func failure(_ json: String, _ endpoint: APIEndpoint = .chatCompletions) -> GatewayError? {
        do {
            _ = try request(json, endpoint)
            return nil
        } catch {
            return error
        }
    }

    func upstream(_ json: String, model: String, stream: Bool, requestUsage: Bool, _ endpoint: APIEndpoint = .chatCompletions)
        throws -> String
    {
        let client = try request(json, endpoint)
        let output = client.upstreamBody(model: model, stream: stream, requestUsage: requestUsage)
        // Every upstream body must itself be a valid object.
        #expect(throws: Never.self) { try JSONObjectScan(output) }
        return text(output)
    }

    // MARK: Parsing

    @Test func readsModelStreamAndIncludeUsage() throws {
        let client = try request(
            #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}"#
        )
        #expect(client.endpoint == .chatCompletions)
        #expect(client.model == "gpt-4o")
        #expect(client.stream == true)
        #expect(client.includeUsage == true)
        #expect(client.scan.members.map(\.key) == ["model", "messages", "stream", "stream_options"])
    }

    @Test func streamDefaultsToFalse() throws {
        #expect(try request(#"{"model":"m","messages":[]}"#).stream == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":false}"#).stream == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":null}"#).stream == false)
    }

    @Test func includeUsageNeedsStreamAndATrueFlag() throws {
        #expect(try request(#"{"model":"m","messages":[],"stream":false,"stream_options":{"include_usage":true}}"#).includeUsage == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":false}}"#).includeUsage == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":true,"stream_options":{}}"#).includeUsage == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":true,"stream_options":null}"#).includeUsage == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":true}"#).includeUsage == false)
        #expect(try request(#"{"model":"m","messages":[],"stream":true,"stream_options":{"x":[1],"include_usage":true}}"#).includeUsage == true)
    }

    @Test func modelWithEscapesIsDecoded() throws {
        #expect(try request(#"{"model":"gpt-\u0034o","messages":[]}"#).model == "gpt-4o")
        #expect(try request(#"{"model":"\u6a21\u578b","messages":[]}"#).model == "\u{6a21}\u{578b}")
    }

    @Test func theLastDuplicateModelWins() throws {
        #expect(try request(#"{"model":"a","messages":[],"model":"b"}"#).model == "b")
    }

    @Test func completionsAndEmbeddingsRequireTheirOwnMember() throws {
        #expect(try request(#"{"model":"m","prompt":"Say hi"}"#, .completions).model == "m")
        #expect(try request(#"{"model":"m","prompt":["a","b"],"stream":true}"#, .completions).stream == true)
        #expect(try request(#"{"model":"m","input":"text"}"#, .embeddings).stream == false)
        #expect(try request(#"{"model":"m","input":["a"],"stream":false}"#, .embeddings).stream == false)
    }

    // MARK: Errors

    @Test func invalidJSONIs400InvalidJSON() {
        for body in [#"{"model":"m","messages":[],}"#, "", "[1]", "not json", #"{"model":"m"} extra"#] {
            let error = failure(body)
            #expect(error?.statusCode == 400, "\(body)")
            #expect(error?.code == "invalid_json", "\(body)")
            #expect(error?.type == "invalid_request_error")
            #expect(error?.message.hasPrefix("We could not parse the JSON body of your request") == true)
        }
    }

    @Test func missingModelIs400() {
        let error = failure(#"{"messages":[]}"#)
        #expect(error?.statusCode == 400)
        #expect(error?.code == "missing_required_parameter")
        #expect(error?.param == "model")
        #expect(error?.message == "Missing required parameter: 'model'.")
    }

    @Test func modelMustBeANonEmptyString() {
        for body in [#"{"model":5,"messages":[]}"#, #"{"model":"","messages":[]}"#, #"{"model":null,"messages":[]}"#] {
            let error = failure(body)
            #expect(error?.statusCode == 400, "\(body)")
            #expect(error?.code == "invalid_type", "\(body)")
            #expect(error?.param == "model", "\(body)")
        }
    }

    @Test func missingMessagesPromptOrInputIs400() {
        let cases: [(APIEndpoint, String, String)] = [
            (.chatCompletions, #"{"model":"m"}"#, "messages"),
            (.chatCompletions, #"{"model":"m","messages":null}"#, "messages"),
            (.chatCompletions, #"{"model":"m","prompt":"x"}"#, "messages"),
            (.completions, #"{"model":"m","messages":[]}"#, "prompt"),
            (.completions, #"{"model":"m","prompt":null}"#, "prompt"),
            (.embeddings, #"{"model":"m","prompt":"x"}"#, "input"),
        ]
        for (endpoint, body, member) in cases {
            let error = failure(body, endpoint)
            #expect(error?.statusCode == 400, "\(body)")
            #expect(error?.code == "missing_required_parameter", "\(body)")
            #expect(error?.param == member, "\(body)")
            #expect(error?.message == "Missing required parameter: '\(member)'.")
        }
    }

    @Test func messagesMustBeAnArray() {
        let error = failure(#"{"model":"m","messages":"hi"}"#)
        #expect(error?.statusCode == 400)
        #expect(error?.code == "invalid_type")
        #expect(error?.param == "messages")
    }

    @Test func nonBooleanStreamIs400() {
        for value in [#""true""#, "1", "[]", "{}"] {
            let error = failure(#"{"model":"m","messages":[],"stream":\#(value)}"#)
            #expect(error?.statusCode == 400, "\(value)")
            #expect(error?.code == "invalid_type", "\(value)")
            #expect(error?.param == "stream", "\(value)")
        }
    }

    @Test func streamingEmbeddingsIs400() {
        let error = failure(#"{"model":"m","input":"x","stream":true}"#, .embeddings)
        #expect(error?.statusCode == 400)
        #expect(error?.param == "stream")
        #expect(error?.message == "Streaming is not supported on /v1/embeddings.")
    }

    @Test func endpointsMapToUpstreamPaths() {
        #expect(APIEndpoint.chatCompletions.upstreamPath == "/chat/completions")
        #expect(APIEndpoint.completions.upstreamPath == "/completions")
        #expect(APIEndpoint.embeddings.upstreamPath == "/embeddings")
        #expect(APIEndpoint.allCases.filter(\.supportsStreaming) == [.chatCompletions, .completions])
    }

    // MARK: Upstream body

    @Test func unchangedRequestsAreForwardedAsTheSameBytes() throws {
        let json = "{ \"model\" : \"m\",\n \"messages\": [ ], \"stream\": false }"
        #expect(try upstream(json, model: "m", stream: false, requestUsage: false) == json)
        #expect(try upstream(json, model: "m", stream: false, requestUsage: true) == json)
        let streaming = #"{"model":"m","messages":[],"stream":true,"stream_options":{"include_usage":true}}"#
        #expect(try upstream(streaming, model: "m", stream: true, requestUsage: true) == streaming)
    }

    @Test func modelIsRenamedInPlace() throws {
        let json = "{\n  \"messages\": [],\n  \"model\" :  \"gpt-4o\",\n  \"temperature\": 0.2\n}"
        #expect(
            try upstream(json, model: "gpt-4o-2024-08-06", stream: false, requestUsage: false)
                == "{\n  \"messages\": [],\n  \"model\" :  \"gpt-4o-2024-08-06\",\n  \"temperature\": 0.2\n}")
        #expect(
            try upstream(#"{"model":"a","messages":[]}"#, model: #"we"ird"#, stream: false, requestUsage: false)
                == #"{"model":"we\"ird","messages":[]}"#)
    }

    @Test func streamIsSetWhenTheUpstreamModeDiffers() throws {
        // Client streams, provider cannot: stream turned off and stream_options removed.
        let streaming = #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        #expect(try upstream(streaming, model: "m", stream: false, requestUsage: true) == #"{"model":"m","stream":false,"messages":[]}"#)
        // Client does not stream, provider only streams: stream turned on and usage requested.
        let plain = #"{"model":"m","messages":[],"stream":false}"#
        #expect(
            try upstream(plain, model: "m", stream: true, requestUsage: true)
                == #"{"stream_options":{"include_usage":true},"model":"m","messages":[],"stream":true}"#)
        // No stream member at all: it is added.
        #expect(
            try upstream(#"{"model":"m","messages":[]}"#, model: "m", stream: true, requestUsage: false)
                == #"{"stream":true,"model":"m","messages":[]}"#)
        #expect(
            try upstream(#"{"model":"m","messages":[]}"#, model: "up", stream: true, requestUsage: true)
                == #"{"stream":true,"stream_options":{"include_usage":true},"model":"up","messages":[]}"#)
    }

    @Test func includeUsageIsMergedIntoExistingStreamOptions() throws {
        let withOther = #"{"model":"m","stream":true,"stream_options":{ "foo" : 1 },"messages":[]}"#
        #expect(
            try upstream(withOther, model: "m", stream: true, requestUsage: true)
                == #"{"model":"m","stream":true,"stream_options":{"include_usage":true, "foo" : 1 },"messages":[]}"#)
        let falseFlag = #"{"model":"m","stream":true,"stream_options":{"include_usage": false},"messages":[]}"#
        #expect(
            try upstream(falseFlag, model: "m", stream: true, requestUsage: true)
                == #"{"model":"m","stream":true,"stream_options":{"include_usage": true},"messages":[]}"#)
        let empty = #"{"model":"m","stream":true,"stream_options":{},"messages":[]}"#
        #expect(
            try upstream(empty, model: "m", stream: true, requestUsage: true)
                == #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
        let null = #"{"model":"m","stream":true,"stream_options":null,"messages":[]}"#
        #expect(
            try upstream(null, model: "m", stream: true, requestUsage: true)
                == #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#)
    }

    @Test func streamOptionsAreLeftOutForProvidersThatTakeNone() throws {
        let json = #"{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[]}"#
        #expect(try upstream(json, model: "m", stream: true, requestUsage: false) == #"{"model":"m","stream":true,"messages":[]}"#)
    }

    @Test func streamOptionsAreRemovedForNonStreamUpstreams() throws {
        let json = #"{"model":"m","messages":[],"stream_options":{"include_usage":true}}"#
        #expect(try upstream(json, model: "m", stream: false, requestUsage: true) == #"{"model":"m","messages":[]}"#)
        let first = #"{"stream_options":{"include_usage":true}, "model":"m","messages":[]}"#
        #expect(try upstream(first, model: "m", stream: false, requestUsage: false) == #"{"model":"m","messages":[]}"#)
    }

    @Test func everyOtherByteIsForwardedExactly() throws {
        // Images, tools, unknown fields, unicode (raw and escaped), odd number spellings and whitespace.
        let rest = """
            "messages": [
                {"role": "system", "content": "Tu es un assistant. \\u4f60\\u597d \u{4f60}\u{597d} \u{1F600} \\ud83d\\ude00"},
                {"role": "user", "content": [
                    {"type": "text", "text": "What is in this image?\\n\\t\\"quoted\\""},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg==", "detail": "high"}}
                ]}
            ],
            "tools": [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}],
            "tool_choice": "auto",
            "temperature": 0.70, "top_p": 1E0, "max_tokens": 1e3, "seed": -0,
            "logit_bias": {"50256": -100},
            "x_vendor_extension": {"nested": [null, true, false, {"deep": "\u{e9}"}]},
            "user": "caf\u{e9}"
            """
        let original = "{\n\t\"model\": \"gpt-4o\",\r\n" + rest + "\n}\n"
        let expected = "{\n\t\"model\": \"provider-model\",\r\n" + rest + "\n}\n"
        let client = try request(original)
        let output = byteArray(client.upstreamBody(model: "provider-model", stream: false, requestUsage: true))
        #expect(output == bytes(expected))

        // Switching the client's non-stream request to an upstream stream only adds the stream fields.
        let streamed = byteArray(client.upstreamBody(model: "gpt-4o", stream: true, requestUsage: true))
        #expect(streamed == bytes("{\"stream\":true,\"stream_options\":{\"include_usage\":true},\n\t\"model\": \"gpt-4o\",\r\n" + rest + "\n}\n"))
    }

    @Test func bodyInAByteBufferWithAnOffsetIsHandled() throws {
        var body = ByteBuffer(string: "ignored prefix")
        body.moveReaderIndex(forwardBy: body.readableBytes)
        body.writeString(#"{"model":"a","messages":[]}"#)
        let client = try ClientRequest(endpoint: .chatCompletions, body: body)
        #expect(client.model == "a")
        #expect(text(client.upstreamBody(model: "b", stream: false, requestUsage: false)) == #"{"model":"b","messages":[]}"#)
    }
}
