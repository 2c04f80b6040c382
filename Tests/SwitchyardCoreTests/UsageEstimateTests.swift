import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Token estimates from characters, for answers whose upstream reported no usage.
@Suite struct UsageEstimateTests {
    func request(_ json: String, _ endpoint: APIEndpoint) throws -> ClientRequest {
        try ClientRequest(endpoint: endpoint, body: buffer(json))
    }

    func prompt(_ json: String, _ endpoint: APIEndpoint = .chatCompletions) throws -> Int {
        UsageEstimate.promptCharacters(try request(json, endpoint))
    }

    func completion(_ json: String) -> Int {
        UsageEstimate.completionCharacters(inResponse: buffer(json))
    }

    @Test func tokensAreCharactersOverFourRoundedUp() {
        let expected: [(Int, Int)] = [(0, 0), (1, 1), (2, 1), (3, 1), (4, 1), (5, 2), (7, 2), (8, 2), (9, 3), (400, 100), (401, 101)]
        for (characters, tokens) in expected {
            #expect(UsageEstimate.tokens(characters: characters) == tokens, "\(characters) characters")
        }
    }

    @Test func usageIsMarkedEstimated() {
        let usage = UsageEstimate.usage(promptCharacters: 10, completionCharacters: 5)
        #expect(usage == TokenUsage(promptTokens: 3, completionTokens: 2, totalTokens: 5, estimated: true))
        #expect(UsageEstimate.usage(promptCharacters: 0, completionCharacters: 0).totalTokens == 0)
        #expect(UsageEstimate.usage(promptCharacters: 0, completionCharacters: 1) == TokenUsage(promptTokens: 0, completionTokens: 1, estimated: true))
    }

    // MARK: Prompts

    @Test func chatCountsStringContentAndTextParts() throws {
        let json = """
            {"model":"gpt-4o","messages":[
              {"role":"system","content":"You are"},
              {"role":"user","content":[
                {"type":"text","text":"Hello"},
                {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAAB"}},
                {"type":"text","text":"world"}
              ]},
              {"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
              {"role":"user","content":""}
            ]}
            """
        #expect(try prompt(json) == 7 + 5 + 5)
    }

    @Test func chatCountsCharactersNotBytes() throws {
        #expect(try prompt(#"{"model":"m","messages":[{"role":"user","content":"héllo 世界"}]}"#) == 8)
        #expect(try prompt(#"{"model":"m","messages":[{"role":"user","content":"h\u00e9"}]}"#) == 2)
    }

    @Test func chatWithOnlyImagesCountsNothing() throws {
        let json = #"{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"https://example.com/cat.png"}}]}]}"#
        #expect(try prompt(json) == 0)
        #expect(try prompt(#"{"model":"m","messages":[]}"#) == 0)
    }

    @Test func completionsPromptStringOrList() throws {
        #expect(try prompt(#"{"model":"m","prompt":"Say this is a test"}"#, .completions) == 18)
        #expect(try prompt(#"{"model":"m","prompt":["abc","de"]}"#, .completions) == 5)
        #expect(try prompt(#"{"model":"m","prompt":[]}"#, .completions) == 0)
        // Token-id prompts carry no text to count.
        #expect(try prompt(#"{"model":"m","prompt":[1,2,3]}"#, .completions) == 0)
    }

    @Test func embeddingsInput() throws {
        #expect(try prompt(#"{"model":"m","input":"hello world"}"#, .embeddings) == 11)
        #expect(try prompt(#"{"model":"m","input":["a","bb","ccc"]}"#, .embeddings) == 6)
        #expect(try prompt(#"{"model":"m","input":[[1,2],[3]]}"#, .embeddings) == 0)
    }

    @Test func otherMembersAreNotCounted() throws {
        // `messages` for completions and `prompt` for chat are not what those endpoints send.
        #expect(try prompt(#"{"model":"m","prompt":"abcd","input":"efgh","messages":[{"role":"user","content":"x"}]}"#) == 1)
        #expect(try prompt(#"{"model":"m","prompt":"abcd","input":"efgh"}"#, .completions) == 4)
        #expect(try prompt(#"{"model":"m","prompt":"abcd","input":"efgh"}"#, .embeddings) == 4)
    }

    // MARK: Completions

    @Test func chatCompletionCountsContentAndToolCallArguments() {
        let json = """
            {"id":"chatcmpl-1","object":"chat.completion","model":"gpt-4o","choices":[
              {"index":0,"message":{"role":"assistant","content":"Hi there","tool_calls":[
                {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\\"city\\":\\"Paris\\"}"}},
                {"id":"call_2","type":"function","function":{"name":"noop","arguments":"{}"}}
              ]},"finish_reason":"tool_calls"}
            ]}
            """
        #expect(completion(json) == 8 + #"{"city":"Paris"}"#.count + 2)
    }

    @Test func everyChoiceIsCounted() {
        let json = #"""
            {"object":"chat.completion","choices":[
              {"index":0,"message":{"role":"assistant","content":"one"}},
              {"index":1,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"abcde"}}]}},
              {"index":2,"message":{"role":"assistant","content":"三"}}
            ]}
            """#
        #expect(completion(json) == 3 + 5 + 1)
    }

    @Test func textCompletionCountsText() {
        #expect(completion(#"{"object":"text_completion","choices":[{"text":"hello","index":0,"finish_reason":"stop"}]}"#) == 5)
        #expect(completion(#"{"object":"text_completion","choices":[{"text":"ab","index":0},{"text":"cde","index":1}]}"#) == 5)
    }

    @Test func unusableAnswersCountNothing() {
        #expect(completion("") == 0)
        #expect(completion("not json") == 0)
        #expect(completion("[1,2]") == 0)
        #expect(completion(#"{"object":"chat.completion"}"#) == 0)
        #expect(completion(#"{"choices":[null,1,"x"]}"#) == 0)
        #expect(completion(#"{"object":"embedding","data":[{"embedding":[0.1,0.2]}]}"#) == 0)
    }
}

/// The context a request needs, for skipping providers whose `max_context_length` is smaller.
@Suite struct ContextEstimateTests {
    func buffer(_ text: String) -> ByteBuffer { ByteBuffer(string: text) }

    @Test func promptTokensPlusTheMostTheAnswerMayTakeInEveryDialect() throws {
        let prompt = String(repeating: "a", count: 400)  // about 100 tokens
        let chat = InboundRequest(openAI: try ClientRequest(
            endpoint: .chatCompletions, body: buffer(#"{"model":"m","max_tokens":50,"messages":[{"role":"user","content":"\#(prompt)"}]}"#)))
        #expect(chat.contextTokensEstimate == 150)
        let newer = InboundRequest(openAI: try ClientRequest(
            endpoint: .chatCompletions,
            body: buffer(#"{"model":"m","max_completion_tokens":70,"max_tokens":50,"messages":[{"role":"user","content":"\#(prompt)"}]}"#)))
        #expect(newer.contextTokensEstimate == 170)
        let unbounded = InboundRequest(openAI: try ClientRequest(
            endpoint: .chatCompletions, body: buffer(#"{"model":"m","max_tokens":-5,"messages":[{"role":"user","content":"\#(prompt)"}]}"#)))
        #expect(unbounded.contextTokensEstimate == 100)
        let anthropic = InboundRequest(anthropic: try AnthropicMessagesRequest(
            body: buffer(#"{"model":"m","max_tokens":30,"messages":[{"role":"user","content":"\#(prompt)"}]}"#)))
        #expect(anthropic.contextTokensEstimate == 130)
        let gemini = InboundRequest(gemini: try GeminiCall(
            modelAndMethod: "m:generateContent", query: "",
            body: buffer(#"{"contents":[{"parts":[{"text":"\#(prompt)"}]}],"generationConfig":{"maxOutputTokens":20}}"#)))
        #expect(gemini.contextTokensEstimate == 120)
    }
}
