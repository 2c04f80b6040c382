import Foundation
import NIOCore

/// An Anthropic stream relayed to an Anthropic client byte-exact. Deltas are only measured with byte searches;
/// the few other events are parsed for usage (input in `message_start`, cumulative counts in `message_delta`) and
/// for the end (`message_stop`).
public struct AnthropicPassThrough: StreamTranslator {
    private var reportedUsage: JSONObject = [:]
    private var stopped = false
    public private(set) var generatedBytes = 0
    public private(set) var carriesAnswer = false

    public init() {}

    public var usage: TokenUsage? { AnthropicAnswer.usage(reportedUsage) }

    public mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        output.append(event)
        guard let data = SSEEvent.data(of: event) else { return }
        let isDelta = data.withUnsafeReadableBytes { bytes in
            guard bytes.firstRange(of: #""content_block_delta""#) != nil else { return false }
            generatedBytes += ChunkInfo.stringValueBytes(bytes, key: #""text""#)
                + ChunkInfo.stringValueBytes(bytes, key: #""partial_json""#)
                + ChunkInfo.stringValueBytes(bytes, key: #""thinking""#)
            return true
        }
        if isDelta {
            carriesAnswer = true
            return
        }
        guard let object = JSONValue.object(data.readableBytesView) else { return }
        switch object["type"] as? String {
        case "message_start":
            merge((object["message"] as? JSONObject)?["usage"])
        case "message_delta":
            carriesAnswer = true
            merge(object["usage"])
        case "message_stop":
            carriesAnswer = true
            stopped = true
        case "error":
            output.removeLast()
            let error = object["error"] as? JSONObject
            throw UpstreamStreamError(
                reason: "the upstream reported \(error?["type"] as? String ?? "an error"): "
                    + GatewayError.clipped(error?["message"] as? String ?? ""),
                forwarded: [event]
            )
        default:
            break
        }
    }

    /// Usage counts are cumulative; only the fields an event carries replace earlier ones.
    private mutating func merge(_ usage: Any?) {
        guard let usage = usage as? JSONObject else { return }
        for (key, value) in usage where !(value is NSNull) { reportedUsage[key] = value }
    }

    public mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard stopped else { throw UpstreamStreamError(reason: "the stream ended before it finished") }
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        AnthropicPassThrough.event("error", data: error.anthropicBody)
    }

    /// One Anthropic SSE event: `event: <type>` and its data.
    public static func event(_ type: String, data: [UInt8]) -> ByteBuffer {
        var buffer = ByteBuffer()
        buffer.reserveCapacity(data.count + type.utf8.count + 16)
        buffer.writeString("event: \(type)\ndata: ")
        buffer.writeBytes(data)
        buffer.writeString("\n\n")
        return buffer
    }
}
