import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// What the relay learns from one stream chunk's data.
@Suite struct ChunkInspectorTests {
    func info(_ data: String) -> ChunkInfo { ChunkInfo(data: buffer(data)) }

    static let contentChunk = #"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"logprobs":null,"finish_reason":null}]}"#

    @Test func onlyChunksWithPartOfTheAnswerCarryIt() {
        func carries(_ json: String) -> Bool { ChunkInfo(data: ByteBuffer(string: json)).carriesAnswer }
        #expect(!carries(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"#))
        #expect(!carries(#"{"choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":null},"finish_reason":null}]}"#))
        #expect(!carries(#"{"choices":[{"index":0,"delta":{},"finish_reason":null}],"usage":null}"#))
        #expect(carries(#"{"choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#))
        #expect(carries(#"{"choices":[{"index":0,"delta":{"reasoning_content":"Let me think"},"finish_reason":null}]}"#))
        #expect(carries(#"{"choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]}}]}"#))
        #expect(carries(#"{"choices":[{"index":0,"delta":{"refusal":"I can't"},"finish_reason":null}]}"#))
        #expect(carries(#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#))
        #expect(carries(#"{"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}"#))
        #expect(carries("[DONE]"))
    }

    @Test func doneMarker() {
        let done = info("[DONE]")
        #expect(done.isDone)
        #expect(!done.isError)
        #expect(!done.hasFinishReason)
        #expect(done.usage == nil)
    }

    @Test func anOrdinaryContentChunkReportsOnlyItsGeneratedText() {
        let plain = info(Self.contentChunk)
        #expect(!plain.isDone && !plain.isError && !plain.hasFinishReason && !plain.isUsageOnly && !plain.hasNullUsage)
        #expect(plain.usage == nil)
        #expect(plain.generatedBytes == 2)
    }

    @Test func generatedTextIsCountedFromContentTextAndArguments() {
        #expect(info(#"{"choices":[{"delta":{"content":"a\"b\\c"}}]}"#).generatedBytes == 5, "escapes count once")
        #expect(info(#"{"choices":[{"text": "four","finish_reason":null}]}"#).generatedBytes == 4)
        #expect(info(#"{"choices":[{"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"q\":1}"}}]}}]}"#).generatedBytes == 7)
        #expect(info(#"{"choices":[{"delta":{"content":null}}]}"#).generatedBytes == 0)
        #expect(info(#"{"choices":[{"delta":{"role":"assistant","content":""}}]}"#).generatedBytes == 0)
    }

    @Test func errorEvents() {
        #expect(info(#"{"error":{"message":"overloaded","type":"server_error"}}"#).isError)
        #expect(info(#"{ "error" : { "code": 500 } }"#).isError)
        // A chunk with choices is content, even if it carries an error member.
        #expect(!info(#"{"choices":[],"error":{"message":"x"}}"#).isError)
        // The word "error" inside content is not an error event.
        #expect(!info(#"{"choices":[{"delta":{"content":"\"error\": {}"}}]}"#).isError)
        #expect(!info(#"{"error":null}"#).isError)
        #expect(info(#"{"error":"upstream overloaded"}"#).isError, "the seed's string form")
    }

    @Test func finishReasonNonNullVersusNull() {
        #expect(info(#"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}"#).hasFinishReason)
        #expect(info(#"{"choices":[{"index":0,"delta":{},"finish_reason" : "length"}]}"#).hasFinishReason)
        #expect(info(#"{"choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"#).hasFinishReason)
        #expect(!info(#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}]}"#).hasFinishReason)
        #expect(!info(#"{"choices":[{"index":0,"delta":{"content":"x"},"finish_reason": null}]}"#).hasFinishReason)
        #expect(!info(#"{"choices":[{"index":0,"delta":{"content":"x"}}]}"#).hasFinishReason)
        // A second choice finishing counts.
        #expect(info(#"{"choices":[{"index":0,"finish_reason":null},{"index":1,"finish_reason":"stop"}]}"#).hasFinishReason)
        // The key quoted inside content does not.
        #expect(!info(#"{"choices":[{"delta":{"content":"the \"finish_reason\": \"stop\""},"finish_reason":null}]}"#).hasFinishReason)
    }

    @Test func usageOnlyChunk() {
        let chunk = info(
            #"{"id":"c1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":9,"completion_tokens":3,"total_tokens":12}}"#
        )
        #expect(chunk.isUsageOnly)
        #expect(!chunk.hasNullUsage)
        #expect(chunk.usage == TokenUsage(promptTokens: 9, completionTokens: 3, totalTokens: 12))
        #expect(info(#"{"choices":[ ],"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#).isUsageOnly)
        #expect(info(#"{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}"#).isUsageOnly)
    }

    @Test func usageOnAContentChunkIsNotUsageOnly() {
        let chunk = info(
            #"{"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":2,"completion_tokens":5,"total_tokens":7}}"#
        )
        #expect(!chunk.isUsageOnly)
        #expect(chunk.hasFinishReason)
        #expect(chunk.usage?.totalTokens == 7)
    }

    @Test func nullUsage() {
        let chunk = info(#"{"id":"c1","choices":[{"index":0,"delta":{"content":"x"},"finish_reason":null}],"usage":null}"#)
        #expect(chunk.hasNullUsage)
        #expect(chunk.usage == nil)
        #expect(!chunk.isUsageOnly)
    }

    @Test func usageTotalsAreComputedWhenMissing() {
        #expect(info(#"{"choices":[],"usage":{"prompt_tokens":4,"completion_tokens":6}}"#).usage?.totalTokens == 10)
        #expect(info(#"{"choices":[],"usage":{}}"#).usage == nil)
        #expect(TokenUsage(promptTokens: 1, completionTokens: 2).totalTokens == 3)
        #expect(TokenUsage(promptTokens: 1, completionTokens: 2, totalTokens: 5).totalTokens == 5)
    }

    @Test func usageInAWholeResponse() {
        let response = bytes(#"{"id":"x","choices":[],"usage":{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30}}"#)
        #expect(response.withUnsafeBytes { TokenUsage(inResponse: $0) } == TokenUsage(promptTokens: 10, completionTokens: 20))
        #expect(bytes(#"{"usage":null}"#).withUnsafeBytes { TokenUsage(inResponse: $0) } == nil)
        #expect(bytes("not json").withUnsafeBytes { TokenUsage(inResponse: $0) } == nil)
    }

    @Test func nonJSONDataIsNotAnError() {
        let chunk = info("keep going")
        #expect(!chunk.isError && !chunk.isDone && chunk.usage == nil)
        #expect(!info(#"{"usage": broken"#).hasNullUsage)
    }

    @Test func removingNullUsageDropsOnlyThatMember() {
        let data = #"{"id":"c1","choices":[{"index":0,"delta":{"content":"x"}}],"usage":null}"#
        #expect(ChunkInfo.removingNullUsage(buffer(data)).map(text) == #"{"id":"c1","choices":[{"index":0,"delta":{"content":"x"}}]}"#)
        let first = #"{"usage": null, "id":"c1","choices":[]}"#
        #expect(ChunkInfo.removingNullUsage(buffer(first)).map(text) == #"{"id":"c1","choices":[]}"#)
        let middle = "{\"id\":\"c1\",\n\"usage\":null,\n\"choices\":[]}"
        #expect(ChunkInfo.removingNullUsage(buffer(middle)).map(text) == "{\"id\":\"c1\",\n\"choices\":[]}")
    }

    @Test func removingNullUsageLeavesOtherChunksAlone() {
        #expect(ChunkInfo.removingNullUsage(buffer(Self.contentChunk)) == nil)
        #expect(ChunkInfo.removingNullUsage(buffer(#"{"choices":[],"usage":{"total_tokens":1}}"#)) == nil)
        #expect(ChunkInfo.removingNullUsage(buffer("[DONE]")) == nil)
        // A nested usage: null is not the chunk's own.
        #expect(ChunkInfo.removingNullUsage(buffer(#"{"x":{"usage":null}}"#)) == nil)
    }
}

@Suite struct ByteSearchTests {
    func find(_ haystack: String, _ pattern: StaticString, from start: Int = 0) -> Range<Int>? {
        Array(haystack.utf8).withUnsafeBytes { $0.firstRange(of: pattern, from: start) }
    }

    @Test func findsPatternsAnywhereAndOnlyWholeOnes() {
        #expect(find(#""usage":1"#, #""usage""#) == 0..<7)
        #expect(find(#"{"a":"usage"}"#, #""usage""#) == 5..<12)
        #expect(find(#"xx"usage""#, #""usage""#) == 2..<9)
        #expect(find(#""usag""#, #""usage""#) == nil, "too short")
        #expect(find(#"usage" "usage"#, #""usage""#) == nil, "the quote must precede")
        #expect(find(#""uuusage""usage""#, #""usage""#) == 9..<16, "false candidates are skipped")
        #expect(find(#""usage""usage""#, #""usage""#, from: 1) == 7..<14)
        #expect(find("", #""usage""#) == nil)
    }

    @Test func usageCountsAboveTheMaximumAreNotBelieved() {
        let huge = #"{"usage":{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807}}"#
        #expect(bytes(huge).withUnsafeBytes { TokenUsage(inResponse: $0) } == nil)
        let overflowing = #"{"usage":{"prompt_tokens":99999999999999999999999,"completion_tokens":1}}"#
        #expect(bytes(overflowing).withUnsafeBytes { TokenUsage(inResponse: $0) } == nil)
        let chunk = ChunkInfo(data: buffer(#"{"choices":[],"usage":{"prompt_tokens":5,"completion_tokens":9223372036854775807}}"#))
        #expect(chunk.usage == nil)
        let largest = #"{"usage":{"prompt_tokens":10000000000,"completion_tokens":10000000000}}"#
        #expect(bytes(largest).withUnsafeBytes { TokenUsage(inResponse: $0) }?.totalTokens == 20_000_000_000)
    }
}
