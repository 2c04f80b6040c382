import Foundation
import NIOCore

/// Reading Responses API answers (from providers that speak the API).
public enum ResponsesAnswer {
    /// Responses `usage` {input_tokens, output_tokens, total_tokens, input_tokens_details.cached_tokens} as
    /// TokenUsage (prompt = input, completion = output); nil when it has no counts or an unbelievable one.
    public static func usage(_ usage: Any?) -> TokenUsage? {
        guard let usage = usage as? JSONObject else { return nil }
        let cached = (usage["input_tokens_details"] as? JSONObject)?["cached_tokens"]
        for value in [usage["input_tokens"], usage["output_tokens"], usage["total_tokens"], cached] {
            if let value, !(value is NSNull), JSONValue.count(value) == nil { return nil }
        }
        let input = JSONValue.count(usage["input_tokens"])
        let output = JSONValue.count(usage["output_tokens"])
        let total = JSONValue.count(usage["total_tokens"])
        guard input != nil || output != nil || total != nil else { return nil }
        return TokenUsage(promptTokens: input ?? 0, completionTokens: output ?? 0, totalTokens: total)
    }

    /// Characters of generated text in a response's output (message text, refusals, reasoning summaries, call
    /// names and arguments), for an estimate when it reports no usage.
    public static func outputCharacters(_ response: JSONObject) -> Int {
        var total = 0
        for case let item as JSONObject in response["output"] as? [Any] ?? [] {
            for key in ["name", "arguments"] { total += (item[key] as? String)?.count ?? 0 }
            for case let part as JSONObject in (item["content"] as? [Any] ?? []) + (item["summary"] as? [Any] ?? []) {
                for key in ["text", "refusal"] { total += (part[key] as? String)?.count ?? 0 }
            }
        }
        return total
    }

    /// The events of a whole stream for one complete response object (for a provider that could not stream):
    /// the same sequence a live stream has, sequence_number from 0.
    ///
    /// Each text part goes out as one delta. Items of other types (hosted tool calls …) get only their added and
    /// done events; the terminal event follows the response's status (incomplete, failed, else completed).
    public static func streamEvents(fromResponse response: JSONObject) -> [ByteBuffer] {
        var number = 0
        var opening = response
        opening["status"] = "in_progress"
        opening["output"] = [Any]()
        opening["usage"] = NSNull()
        opening["error"] = NSNull()
        opening["incomplete_details"] = NSNull()
        opening["completed_at"] = nil
        var events = [
            ResponsesStreamEncoder.event("response.created", ["response": opening], number: &number),
            ResponsesStreamEncoder.event("response.in_progress", ["response": opening], number: &number),
        ]
        for (outputIndex, value) in (response["output"] as? [Any] ?? []).enumerated() {
            guard let item = value as? JSONObject else { continue }
            events += itemEvents(item, outputIndex: outputIndex, number: &number)
        }
        let terminal =
            switch response["status"] as? String {
            case "incomplete": "response.incomplete"
            case "failed": "response.failed"
            default: "response.completed"
            }
        events.append(ResponsesStreamEncoder.event(terminal, ["response": response], number: &number))
        return events
    }

    /// One output item's events: added (as it starts: no content, summary or arguments yet), its parts or
    /// arguments, done (as given).
    private static func itemEvents(_ item: JSONObject, outputIndex: Int, number: inout Int) -> [ByteBuffer] {
        let type = item["type"] as? String
        var added = item
        if added["status"] != nil { added["status"] = "in_progress" }
        switch type {
        case "message": added["content"] = [Any]()
        case "reasoning": added["summary"] = [Any]()
        case "function_call": added["arguments"] = ""
        default: break
        }
        var events = [
            ResponsesStreamEncoder.itemEvent(
                "response.output_item.added", added, outputIndex: outputIndex, number: &number)
        ]
        let itemID = item["id"] as? String ?? ""
        if type == "message" || type == "reasoning" {
            let key = type == "message" ? "content" : "summary"
            for (partIndex, value) in (item[key] as? [Any] ?? []).enumerated() {
                guard let part = value as? JSONObject, let kind = ResponsesStreamEncoder.Part(type: part["type"]),
                    kind.itemKey == key
                else { continue }
                let text = part[kind.textKey] as? String ?? ""
                events.append(
                    kind.addedEvent(itemID: itemID, outputIndex: outputIndex, partIndex: partIndex, number: &number))
                if !text.isEmpty {
                    events.append(
                        kind.deltaEvent(
                            text, itemID: itemID, outputIndex: outputIndex, partIndex: partIndex, number: &number))
                }
                events += kind.doneEvents(
                    part, itemID: itemID, outputIndex: outputIndex, partIndex: partIndex, number: &number)
            }
        } else if type == "function_call" {
            let arguments = item["arguments"] as? String ?? ""
            let location: JSONObject = ["item_id": itemID, "output_index": outputIndex]
            if !arguments.isEmpty {
                events.append(
                    ResponsesStreamEncoder.event(
                        "response.function_call_arguments.delta", location.merging(["delta": arguments]) { $1 },
                        number: &number
                    ))
            }
            events.append(
                ResponsesStreamEncoder.event(
                    "response.function_call_arguments.done", location.merging(["arguments": arguments]) { $1 },
                    number: &number
                ))
        }
        events.append(
            ResponsesStreamEncoder.itemEvent(
                "response.output_item.done", item, outputIndex: outputIndex, number: &number))
        return events
    }
}
