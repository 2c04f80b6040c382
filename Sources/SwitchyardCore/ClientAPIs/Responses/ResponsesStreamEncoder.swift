import Foundation
import NIOCore

/// Canonical chunks → Responses stream events, each written `event: <type>\ndata: <json>\n\n` with a
/// `sequence_number` counted from 0.
///
/// `response.created` and `response.in_progress` open the stream; output items are opened as content arrives (a
/// reasoning item from `reasoning_content`, a message item for text and refusals, one function_call item per
/// tool-call index) and the open item is closed with its done events when another kind starts. Tool calls stay open
/// together until then, so interleaved argument fragments still go to their own item. OpenAI reports the finish
/// reason and the usage in separate chunks, so `finish()` writes `response.completed` (or `.incomplete`).
public struct ResponsesStreamEncoder: ClientStreamEncoder {
    private let envelope: ResponseEnvelope
    private let inputTokensEstimate: Int
    private var sequenceNumber = 0
    private var started = false
    /// Every output item by output index; open ones without the open part's text or the open calls' arguments.
    private var items: [JSONObject] = []
    private var openItem: OpenItem?
    /// The part of the open message or reasoning item (always the last item) text is going to.
    private var openPart: (kind: Part, index: Int, text: String)?
    /// The output index of each chat tool-call index.
    private var callItems: [Int: Int] = [:]
    /// The arguments so far of each open function call, by output index.
    private var openCallArguments: [Int: String] = [:]
    private var finishReason: String?
    private var usage: JSONObject?
    /// Characters generated, for estimating output tokens when the upstream reports no usage.
    private var generatedCharacters = 0
    /// The final response object (the one in response.completed / response.incomplete), once finish() ran.
    public private(set) var completedAnswer: JSONObject?

    private enum OpenItem: Equatable {
        case reasoning, message, functionCalls
    }

    public init(envelope: ResponseEnvelope, inputTokensEstimate: Int) {
        self.envelope = envelope
        self.inputTokensEstimate = inputTokensEstimate
    }

    public mutating func encode(_ chunk: JSONObject) -> [ByteBuffer] {
        var events = start()
        if let reported = ResponsesAnswerEncoder.usage(fromChat: chunk["usage"]) { usage = reported }
        guard let choice = (chunk["choices"] as? [Any])?.first as? JSONObject else { return events }
        let delta = choice["delta"] as? JSONObject ?? [:]
        if let text = ResponsesAnswerEncoder.nonEmpty(delta["reasoning_content"]) {
            events += append(text, to: .summaryText)
        }
        if let text = ResponsesAnswerEncoder.nonEmpty(delta["content"]) { events += append(text, to: .outputText) }
        if let text = ResponsesAnswerEncoder.nonEmpty(delta["refusal"]) { events += append(text, to: .refusal) }
        for case let call as JSONObject in delta["tool_calls"] as? [Any] ?? [] {
            events += toolCallEvents(call)
        }
        if let reason = choice["finish_reason"] as? String { finishReason = reason }
        return events
    }

    public mutating func finish() -> [ByteBuffer] {
        var events = start()
        events += closeOpenItem()
        let outcome = ResponsesAnswerEncoder.outcome(finishReason: finishReason)
        let estimate = ResponsesAnswerEncoder.usage(
            input: inputTokensEstimate, output: UsageEstimate.tokens(characters: generatedCharacters)
        )
        let response = envelope.response(
            status: outcome.status, output: items, usage: usage ?? estimate, incompleteReason: outcome.incompleteReason
        )
        completedAnswer = response
        let type = outcome.status == "incomplete" ? "response.incomplete" : "response.completed"
        events.append(Self.event(type, ["response": response], number: &sequenceNumber))
        return events
    }

    /// An `error` event and `response.failed` with the output so far.
    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var output = items
        if let part = openPart, let last = output.indices.last {
            output[last] = Self.appending(part.kind.object(part.text), to: output[last], key: part.kind.itemKey)
        }
        for (index, arguments) in openCallArguments { output[index]["arguments"] = arguments }
        let response = envelope.response(status: "in_progress", output: output, usage: NSNull())
        return Self.failureEvents(error, response: response, sequenceNumber: sequenceNumber)
    }

    /// `response.created` and `response.in_progress`, once.
    private mutating func start() -> [ByteBuffer] {
        guard !started else { return [] }
        started = true
        let response = envelope.response(status: "in_progress", output: [], usage: NSNull())
        return [
            Self.event("response.created", ["response": response], number: &sequenceNumber),
            Self.event("response.in_progress", ["response": response], number: &sequenceNumber),
        ]
    }

    /// Text for a message or reasoning item: opens the item and the part unless they are the open ones.
    private mutating func append(_ text: String, to kind: Part) -> [ByteBuffer] {
        var events: [ByteBuffer] = []
        let itemKind: OpenItem = kind == .summaryText ? .reasoning : .message
        if openItem != itemKind {
            events += closeOpenItem()
            let id = ResponseEnvelope.makeID(prefix: itemKind == .reasoning ? "rs" : "msg")
            let item =
                itemKind == .reasoning
                ? ResponsesAnswerEncoder.reasoningItem(id: id, summary: [])
                : ResponsesAnswerEncoder.messageItem(id: id, content: [], status: "in_progress")
            items.append(item)
            openItem = itemKind
            events.append(
                Self.itemEvent(
                    "response.output_item.added", item, outputIndex: items.count - 1, number: &sequenceNumber))
        }
        let outputIndex = items.count - 1
        let itemID = items[outputIndex]["id"] as? String ?? ""
        if openPart?.kind != kind {
            events += closeOpenPart()
            let partIndex = (items[outputIndex][kind.itemKey] as? [Any])?.count ?? 0
            openPart = (kind, partIndex, "")
            events.append(
                kind.addedEvent(itemID: itemID, outputIndex: outputIndex, partIndex: partIndex, number: &sequenceNumber)
            )
        }
        openPart?.text += text
        generatedCharacters += text.count
        let partIndex = openPart?.index ?? 0
        events.append(
            kind.deltaEvent(
                text, itemID: itemID, outputIndex: outputIndex, partIndex: partIndex, number: &sequenceNumber))
        return events
    }

    private mutating func toolCallEvents(_ call: JSONObject) -> [ByteBuffer] {
        var events: [ByteBuffer] = []
        let callIndex = JSONValue.count(call["index"]) ?? 0
        let function = call["function"] as? JSONObject
        if callItems[callIndex] == nil {
            if openItem != .functionCalls { events += closeOpenItem() }
            openItem = .functionCalls
            let item = ResponsesAnswerEncoder.functionCallItem(
                callID: call["id"], name: function?["name"], arguments: "", status: "in_progress",
                namespaces: ToolNamespaces(tools: envelope.echo["tools"])
            )
            items.append(item)
            callItems[callIndex] = items.count - 1
            openCallArguments[items.count - 1] = ""
            events.append(
                Self.itemEvent(
                    "response.output_item.added", item, outputIndex: items.count - 1, number: &sequenceNumber))
        }
        guard let fragment = ResponsesAnswerEncoder.nonEmpty(function?["arguments"]),
            let outputIndex = callItems[callIndex]
        else { return events }
        generatedCharacters += fragment.count
        if openCallArguments[outputIndex] == nil {
            // A fragment for a call already closed (text came between): it can only go into the final response.
            items[outputIndex]["arguments"] = (items[outputIndex]["arguments"] as? String ?? "") + fragment
            return events
        }
        openCallArguments[outputIndex]? += fragment
        let itemID = items[outputIndex]["id"] as? String ?? ""
        events.append(
            Self.event(
                "response.function_call_arguments.delta",
                ["item_id": itemID, "output_index": outputIndex, "delta": fragment], number: &sequenceNumber
            ))
        return events
    }

    /// The done events of the open item (or of every open function call), in output order.
    private mutating func closeOpenItem() -> [ByteBuffer] {
        var events = closeOpenPart()
        let closing =
            openItem == .functionCalls ? openCallArguments.keys.sorted() : openItem == nil ? [] : [items.count - 1]
        for outputIndex in closing {
            let itemID = items[outputIndex]["id"] as? String ?? ""
            if let arguments = openCallArguments[outputIndex] {
                items[outputIndex]["arguments"] = arguments
                events.append(
                    Self.event(
                        "response.function_call_arguments.done",
                        ["item_id": itemID, "output_index": outputIndex, "arguments": arguments],
                        number: &sequenceNumber
                    ))
            }
            if items[outputIndex]["status"] != nil { items[outputIndex]["status"] = "completed" }
            events.append(
                Self.itemEvent(
                    "response.output_item.done", items[outputIndex], outputIndex: outputIndex, number: &sequenceNumber))
        }
        openCallArguments = [:]
        openItem = nil
        return events
    }

    private mutating func closeOpenPart() -> [ByteBuffer] {
        guard let part = openPart, let outputIndex = items.indices.last else { return [] }
        openPart = nil
        let object = part.kind.object(part.text)
        items[outputIndex] = Self.appending(object, to: items[outputIndex], key: part.kind.itemKey)
        return part.kind.doneEvents(
            object, itemID: items[outputIndex]["id"] as? String ?? "", outputIndex: outputIndex, partIndex: part.index,
            number: &sequenceNumber
        )
    }

    private static func appending(_ part: JSONObject, to item: JSONObject, key: String) -> JSONObject {
        var item = item
        item[key] = (item[key] as? [Any] ?? []) + [part]
        return item
    }
}

// MARK: Events, shared with ResponsesPassThrough and ResponsesAnswer.streamEvents

extension ResponsesStreamEncoder {
    /// One event, numbered `number`, which then moves on.
    static func event(_ type: String, _ fields: JSONObject, number: inout Int) -> ByteBuffer {
        var payload = fields
        payload["type"] = type
        payload["sequence_number"] = number
        number += 1
        var event = ByteBuffer(string: "event: \(type)\ndata: ")
        event.writeBytes(JSONValue.encode(payload))
        event.writeString("\n\n")
        return event
    }

    static func itemEvent(_ type: String, _ item: JSONObject, outputIndex: Int, number: inout Int) -> ByteBuffer {
        event(type, ["output_index": outputIndex, "item": item], number: &number)
    }

    /// The end of a stream that failed: an `error` event, then `response.failed` with `response` (the output so
    /// far) marked failed, in one buffer. A response's error code is one of a fixed set (the SDK's `ResponseError`),
    /// so the gateway's own code goes only into the `error` event.
    static func failureEvents(_ error: GatewayError, response: JSONObject, sequenceNumber: Int) -> ByteBuffer {
        var number = sequenceNumber
        let responseCode = error.statusCode == 429 ? "rate_limit_exceeded" : "server_error"
        var failed = response
        failed["status"] = "failed"
        failed["error"] = ["code": responseCode, "message": error.message]
        var events = event(
            "error", ["code": error.code ?? responseCode, "message": error.message, "param": error.param ?? NSNull()],
            number: &number
        )
        events.writeImmutableBuffer(event("response.failed", ["response": failed], number: &number))
        return events
    }

    /// A part of an output item that text streams into: a message's `output_text` or `refusal` content part, or a
    /// reasoning item's `summary_text` part. Each has its own event names.
    enum Part: Equatable {
        case outputText, refusal, summaryText

        init?(type: Any?) {
            switch type as? String {
            case "output_text": self = .outputText
            case "refusal": self = .refusal
            case "summary_text": self = .summaryText
            default: return nil
            }
        }

        /// The item's list this part belongs in.
        var itemKey: String { self == .summaryText ? "summary" : "content" }
        /// The part's member holding its text.
        var textKey: String { self == .refusal ? "refusal" : "text" }
        private var indexKey: String { self == .summaryText ? "summary_index" : "content_index" }

        func object(_ text: String) -> JSONObject {
            switch self {
            case .outputText: ResponsesAnswerEncoder.outputText(text)
            case .refusal: ResponsesAnswerEncoder.refusalPart(text)
            case .summaryText: ResponsesAnswerEncoder.summaryText(text)
            }
        }

        /// Where the part is: its item, the item's output index and the part's index in the item.
        private func location(_ itemID: String, _ outputIndex: Int, _ partIndex: Int) -> JSONObject {
            ["item_id": itemID, "output_index": outputIndex, indexKey: partIndex]
        }

        func addedEvent(itemID: String, outputIndex: Int, partIndex: Int, number: inout Int) -> ByteBuffer {
            var fields = location(itemID, outputIndex, partIndex)
            fields["part"] = object("")
            let type = self == .summaryText ? "response.reasoning_summary_part.added" : "response.content_part.added"
            return ResponsesStreamEncoder.event(type, fields, number: &number)
        }

        func deltaEvent(
            _ delta: String, itemID: String, outputIndex: Int, partIndex: Int, number: inout Int
        ) -> ByteBuffer {
            var fields = location(itemID, outputIndex, partIndex)
            fields["delta"] = delta
            let type: String
            switch self {
            case .outputText:
                type = "response.output_text.delta"
                fields["logprobs"] = [Any]()
            case .refusal: type = "response.refusal.delta"
            case .summaryText: type = "response.reasoning_summary_text.delta"
            }
            return ResponsesStreamEncoder.event(type, fields, number: &number)
        }

        /// The text's done event, then the part's.
        func doneEvents(
            _ part: JSONObject, itemID: String, outputIndex: Int, partIndex: Int, number: inout Int
        )
            -> [ByteBuffer]
        {
            var textFields = location(itemID, outputIndex, partIndex)
            textFields[textKey] = part[textKey] as? String ?? ""
            let textType: String
            switch self {
            case .outputText:
                textType = "response.output_text.done"
                textFields["logprobs"] = [Any]()
            case .refusal: textType = "response.refusal.done"
            case .summaryText: textType = "response.reasoning_summary_text.done"
            }
            var partFields = location(itemID, outputIndex, partIndex)
            partFields["part"] = part
            let partType = self == .summaryText ? "response.reasoning_summary_part.done" : "response.content_part.done"
            return [
                ResponsesStreamEncoder.event(textType, textFields, number: &number),
                ResponsesStreamEncoder.event(partType, partFields, number: &number),
            ]
        }
    }
}
