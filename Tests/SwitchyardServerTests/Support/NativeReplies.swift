import Foundation
import HTTPTypes
import Hummingbird
import NIOCore

/// Canned answers in Anthropic's and Gemini's own formats, as their APIs send them.
enum NativeReply {
    static func anthropicMessage(_ text: String, model: String = "claude-upstream") -> Response {
        Reply.json(
            #"{"id":"msg_1","type":"message","role":"assistant","model":"\#(model)","content":[{"type":"text","text":"\#(text)"}],"stop_reason":"end_turn","stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":5,"cache_read_input_tokens":3,"cache_creation_input_tokens":0}}"#
        )
    }

    static func anthropicError(_ status: Int, type: String, message: String) -> Response {
        Reply.json(#"{"type":"error","error":{"type":"\#(type)","message":"\#(message)"}}"#, status: .init(code: status))
    }

    static func anthropicEvent(_ type: String, _ data: String) -> String {
        "event: \(type)\ndata: \(data)\n\n"
    }

    /// A text stream: message_start, one text block in `words`, a ping, message_delta and message_stop.
    static func anthropicStream(_ words: [String], model: String = "claude-upstream") -> [String] {
        [
            anthropicEvent(
                "message_start",
                #"{"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","model":"\#(model)","content":[],"stop_reason":null,"stop_sequence":null,"usage":{"input_tokens":11,"output_tokens":1,"cache_read_input_tokens":3}}}"#
            ),
            anthropicEvent("content_block_start", #"{"type":"content_block_start","index":0,"content_block":{"type":"text","text":""}}"#),
            anthropicEvent("ping", #"{"type": "ping"}"#),
        ]
            + words.map {
                anthropicEvent("content_block_delta", #"{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"\#($0)"}}"#)
            }
            + [
                anthropicEvent("content_block_stop", #"{"type":"content_block_stop","index":0}"#),
                anthropicEvent(
                    "message_delta",
                    #"{"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":5}}"#
                ),
                anthropicEvent("message_stop", #"{"type":"message_stop"}"#),
            ]
    }

    static func geminiText(_ text: String) -> String {
        #"{"candidates":[{"content":{"role":"model","parts":[{"text":"\#(text)"}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":5,"totalTokenCount":9},"modelVersion":"gemini-up"}"#
    }

    static let geminiFunctionCall =
        #"{"candidates":[{"content":{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]},"finishReason":"STOP","index":0}],"usageMetadata":{"promptTokenCount":8,"candidatesTokenCount":3,"totalTokenCount":11}}"#

    static func geminiError(_ status: Int, _ name: String, message: String) -> Response {
        Reply.json(#"{"error":{"code":\#(status),"message":"\#(message)","status":"\#(name)"}}"#, status: .init(code: status))
    }

    /// Gemini's SSE: whole responses as events, CRLF-framed, no `[DONE]`.
    static func geminiStream(_ words: [String]) -> [String] {
        words.enumerated().map { index, word in
            let last = index == words.count - 1
            let finish = last ? #","finishReason":"STOP""# : ""
            let usage = last ? #","usageMetadata":{"promptTokenCount":4,"candidatesTokenCount":5,"totalTokenCount":9}"# : ""
            return #"data: {"candidates":[{"content":{"role":"model","parts":[{"text":"\#(word)"}]}\#(finish),"index":0}]\#(usage)}"#
                + "\r\n\r\n"
        }
    }

    /// OpenAI chunks of a streamed tool call to get_weather({"city":"Paris"}).
    static let openAIToolCallStream: [String] = [
        #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}"# + "\n\n",
        #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}"# + "\n\n",
        #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}"# + "\n\n",
        #"data: {"id":"c1","object":"chat.completion.chunk","created":1,"model":"up","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}"# + "\n\n",
        Reply.usageChunk(prompt: 9, completion: 4), Reply.done,
    ]

    static let openAIToolCall = Reply.json(
        #"{"id":"c1","object":"chat.completion","created":1,"model":"up","choices":[{"index":0,"message":{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":9,"completion_tokens":4,"total_tokens":13}}"#
    )
}
