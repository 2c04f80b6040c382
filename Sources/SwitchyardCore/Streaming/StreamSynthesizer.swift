import Foundation
import NIOCore

/// Turns one non-stream answer into the SSE stream a streaming client expects, for providers that cannot stream:
/// a role chunk, the content, tool calls, a finish chunk, the usage chunk when the client asked for
/// `stream_options.include_usage`, then `data: [DONE]`. Every chunk carries the answer's `id`, `created` and `model`.
public enum StreamSynthesizer {
    public static func stream(
        fromResponse body: ByteBuffer, endpoint: APIEndpoint, includeUsage: Bool
    ) throws(GatewayError) -> ByteBuffer {
        let response = try JSONValue.answer(body)
        var output = ByteBuffer()
        for chunk in chunks(fromCompletion: response, endpoint: endpoint, includeUsage: includeUsage) {
            output.writeImmutableBuffer(SSEEvent.encode(data: JSONValue.encode(chunk)))
        }
        output.writeImmutableBuffer(SSEEvent.done)
        return output
    }

    /// The chunks of that stream, without the `[DONE]` marker (other dialects end their streams their own way).
    public static func chunks(
        fromCompletion response: JSONObject, endpoint: APIEndpoint, includeUsage: Bool
    ) -> [JSONObject] {
        var base: [String: Any] = [
            "id": response["id"] ?? "",
            "created": response["created"] ?? 0,
            "model": response["model"] ?? "",
            "object": endpoint == .completions ? "text_completion" : "chat.completion.chunk",
        ]
        if let fingerprint = response["system_fingerprint"] { base["system_fingerprint"] = fingerprint }
        if includeUsage { base["usage"] = NSNull() }

        var output: [JSONObject] = []
        func emit(_ choices: [[String: Any]], usage: Any? = nil) {
            var chunk = base
            chunk["choices"] = choices
            if let usage { chunk["usage"] = usage }
            output.append(chunk)
        }

        for case let choice as [String: Any] in response["choices"] as? [Any] ?? [] {
            let index = choice["index"] as? Int ?? 0
            let finishReason = choice["finish_reason"] ?? NSNull()
            if endpoint == .completions {
                emit([["index": index, "text": choice["text"] ?? "", "logprobs": NSNull(), "finish_reason": finishReason]])
                continue
            }
            let message = choice["message"] as? [String: Any] ?? [:]
            func delta(_ delta: [String: Any], finish: Any = NSNull()) -> [String: Any] {
                ["index": index, "delta": delta, "logprobs": NSNull(), "finish_reason": finish]
            }
            // content null (a tool-call answer) stays null, so aggregating the stream gives the same message back.
            let initialContent: Any = message["content"] is String ? "" : NSNull()
            emit([delta(["role": message["role"] ?? "assistant", "content": initialContent])])
            if let content = message["content"] as? String, !content.isEmpty {
                emit([delta(["content": content])])
            }
            if let reasoning = message["reasoning_content"] as? String, !reasoning.isEmpty {
                emit([delta(["reasoning_content": reasoning])])
            }
            if let refusal = message["refusal"] as? String, !refusal.isEmpty {
                emit([delta(["refusal": refusal])])
            }
            if let toolCalls = message["tool_calls"] as? [[String: Any]], !toolCalls.isEmpty {
                let indexed = toolCalls.enumerated().map { offset, call -> [String: Any] in
                    var call = call
                    call["index"] = offset
                    return call
                }
                emit([delta(["tool_calls": indexed])])
            }
            if let functionCall = message["function_call"] {
                emit([delta(["function_call": functionCall])])
            }
            emit([delta([:], finish: finishReason)])
        }
        if includeUsage, let usage = response["usage"], !(usage is NSNull) {
            emit([], usage: usage)
        }
        return output
    }
}
