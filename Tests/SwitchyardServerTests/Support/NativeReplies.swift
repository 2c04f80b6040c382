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

    /// A chat-completions upstream for the SDK scripts: it calls get_weather when given tools, answers "It is 20C in
    /// Paris" once a tool result is in the messages, and "Hello from OpenAI" otherwise, streaming when asked.
    static func weatherChat(_ request: FakeUpstream.Received) -> Response {
        let json = request.json
        let stream = json["stream"] as? Bool == true
        let messages = json["messages"] as? [[String: Any]] ?? []
        if messages.contains(where: { $0["role"] as? String == "tool" }) {
            return Reply.chatCompletion(content: "It is 20C in Paris", usage: (20, 6))
        }
        if json["tools"] != nil {
            return stream ? Reply.sse(openAIToolCallStream) : openAIToolCall
        }
        return stream ? Reply.sse(Reply.streamEvents(["Hello", " from", " OpenAI"])) : Reply.chatCompletion(content: "Hello from OpenAI")
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

    /// A Responses API answer from a provider that speaks it, with the text `text`.
    static func responsesObject(_ text: String, id: String = "resp_upstream1", status: String = "completed") -> String {
        #"{"id":"\#(id)","object":"response","created_at":1700000000,"status":"\#(status)","error":null,"incomplete_details":null,"instructions":null,"max_output_tokens":null,"model":"gpt-up","output":[{"type":"message","id":"msg_up1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"\#(text)","annotations":[]}]}],"parallel_tool_calls":true,"previous_response_id":null,"store":true,"temperature":1.0,"text":{"format":{"type":"text"}},"tool_choice":"auto","tools":[],"top_p":1.0,"truncation":"disabled","usage":{"input_tokens":12,"input_tokens_details":{"cached_tokens":2},"output_tokens":6,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":18},"metadata":{}}"#
    }

    /// The events of a Responses API stream from a provider that speaks it, as OpenAI frames them.
    static func responsesStream(_ words: [String], id: String = "resp_upstream2") -> [String] {
        let text = words.joined()
        let created = responsesObject("", id: id, status: "in_progress")
            .replacingOccurrences(of: #""output":[{"type":"message","id":"msg_up1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"","annotations":[]}]}]"#, with: #""output":[]"#)
        var sequence = 0
        func event(_ type: String, _ fields: String) -> String {
            defer { sequence += 1 }
            return "event: \(type)\ndata: {\"type\":\"\(type)\",\"sequence_number\":\(sequence),\(fields)}\n\n"
        }
        var events = [
            event("response.created", #""response":\#(created)"#),
            event("response.in_progress", #""response":\#(created)"#),
            event("response.output_item.added", #""output_index":0,"item":{"type":"message","id":"msg_up1","status":"in_progress","role":"assistant","content":[]}"#),
            event("response.content_part.added", #""item_id":"msg_up1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"","annotations":[]}"#),
        ]
        for word in words {
            events.append(event("response.output_text.delta", #""item_id":"msg_up1","output_index":0,"content_index":0,"delta":"\#(word)","logprobs":[]"#))
        }
        events += [
            event("response.output_text.done", #""item_id":"msg_up1","output_index":0,"content_index":0,"text":"\#(text)","logprobs":[]"#),
            event("response.content_part.done", #""item_id":"msg_up1","output_index":0,"content_index":0,"part":{"type":"output_text","text":"\#(text)","annotations":[]}"#),
            event("response.output_item.done", #""output_index":0,"item":{"type":"message","id":"msg_up1","status":"completed","role":"assistant","content":[{"type":"output_text","text":"\#(text)","annotations":[]}]}"#),
            event("response.completed", #""response":\#(responsesObject(text, id: id))"#),
        ]
        return events
    }
}
