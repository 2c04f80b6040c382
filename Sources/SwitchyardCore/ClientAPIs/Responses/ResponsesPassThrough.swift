import Foundation
import NIOCore

/// A Responses stream from a provider that speaks the API, relayed byte-exact (framing kept). Each event's
/// top-level members are scanned for its type and sequence number; deltas are only measured, and the few other
/// events that matter are parsed: the lifecycle ones (for the response an error event needs), finished items, the
/// terminal event (usage, the end) and failures.
public struct ResponsesPassThrough: StreamTranslator {
    private var lastSequenceNumber: Int?
    /// The response of the latest `response.created` / `response.in_progress`.
    private var openingResponse: JSONObject?
    /// Items from `response.output_item.done`, by output index.
    private var finishedItems: [Int: JSONObject] = [:]
    private var ended = false
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0
    /// A Responses stream commits on its first delta, finished item or terminal event, not on its opening events.
    public private(set) var carriesAnswer = false
    /// `response` of response.completed/.incomplete.
    public private(set) var completedAnswer: JSONObject?

    public init() {}

    public mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard let data = SSEEvent.data(of: event), let header = Self.header(of: data) else {
            output.append(event)
            return
        }
        if let number = header.sequenceNumber { lastSequenceNumber = number }
        if header.type.hasSuffix(".delta") {
            generatedBytes += header.deltaBytes
            carriesAnswer = true
            output.append(event)
            return
        }
        switch header.type {
        case "response.created", "response.in_progress", "response.queued":
            if let response = JSONValue.object(data.readableBytesView)?["response"] as? JSONObject {
                openingResponse = response
            }
        case "response.output_item.done":
            carriesAnswer = true
            if let object = JSONValue.object(data.readableBytesView),
                let index = JSONValue.count(object["output_index"]),
                let item = object["item"] as? JSONObject
            {
                finishedItems[index] = item
            }
        case "response.completed", "response.incomplete":
            carriesAnswer = true
            ended = true
            completedAnswer = JSONValue.object(data.readableBytesView)?["response"] as? JSONObject
            usage = ResponsesAnswer.usage(completedAnswer?["usage"])
        case "response.failed":
            let response = JSONValue.object(data.readableBytesView)?["response"] as? JSONObject
            usage = ResponsesAnswer.usage(response?["usage"]) ?? usage
            let message = (response?["error"] as? JSONObject)?["message"] as? String ?? ""
            throw UpstreamStreamError(
                reason: "the upstream reported that the response failed: " + GatewayError.clipped(message),
                forwarded: [event]
            )
        case "error":
            let object = JSONValue.object(data.readableBytesView)
            throw UpstreamStreamError(
                reason: "the upstream reported \(object?["code"] as? String ?? "an error"): "
                    + GatewayError.clipped(object?["message"] as? String ?? ""),
                forwarded: [event]
            )
        default:
            break
        }
        output.append(event)
    }

    public mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard ended else { throw UpstreamStreamError(reason: "the stream ended before response.completed") }
    }

    /// The encoder's `error` + `response.failed`, numbered on from the upstream's last event.
    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        var response =
            openingResponse
            ?? ResponseEnvelope(
                id: ResponseEnvelope.makeID(), createdAt: Int(Date().timeIntervalSince1970), model: "", echo: [:]
            ).response(status: "in_progress", output: [], usage: NSNull())
        response["output"] = finishedItems.sorted { $0.key < $1.key }.map(\.value)
        return ResponsesStreamEncoder.failureEvents(
            error, response: response, sequenceNumber: lastSequenceNumber.map { $0 + 1 } ?? 0
        )
    }

    /// An event's `type`, `sequence_number` and, for deltas, the bytes of its `delta` text; nil when its data is
    /// not a JSON object with a string type.
    private static func header(of data: ByteBuffer) -> (type: String, sequenceNumber: Int?, deltaBytes: Int)? {
        data.withUnsafeReadableBytes { bytes in
            guard let scan = try? JSONObjectScan.scanObject(bytes, in: 0..<bytes.count),
                let typeMember = scan.member("type"),
                let type = JSONObjectScan.decodeString(bytes, in: typeMember.valueRange)
            else { return nil }
            var sequenceNumber: Int?
            if let member = scan.member("sequence_number"), member.kind == .number {
                sequenceNumber = Int(String(decoding: bytes[member.valueRange], as: UTF8.self))
                    .flatMap { (0...TokenUsage.maximumCount).contains($0) ? $0 : nil }
            }
            let deltaBytes = type.hasSuffix(".delta") ? ChunkInfo.stringValueBytes(bytes, key: #""delta""#) : 0
            return (type, sequenceNumber, deltaBytes)
        }
    }
}
