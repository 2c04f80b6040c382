import NIOCore

/// An OpenAI stream relayed to an OpenAI client: events pass byte-exact, read only with byte searches. The usage
/// chunk and `"usage": null` fields Switchyard asked for itself are removed when the client did not ask for usage.
public struct OpenAIPassThrough: StreamTranslator {
    private let clientWantsUsage: Bool
    /// Azure sends chunks with empty `choices` and only prompt-filter results; they carry nothing for a client.
    private let dropsPromptFilterChunks: Bool
    private var sawDone = false
    private var sawFinishReason = false
    public private(set) var usage: TokenUsage?
    public private(set) var generatedBytes = 0
    /// Set by the first event with part of the answer; a role chunk before it is held back with the attempt.
    public private(set) var carriesAnswer = false

    public init(clientWantsUsage: Bool, dropsPromptFilterChunks: Bool = false) {
        self.clientWantsUsage = clientWantsUsage
        self.dropsPromptFilterChunks = dropsPromptFilterChunks
    }

    public mutating func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        guard let data = SSEEvent.data(of: event) else {
            output.append(event)
            return
        }
        let info = ChunkInfo(data: data)
        generatedBytes += info.generatedBytes
        if info.isDone { sawDone = true }
        if info.hasFinishReason { sawFinishReason = true }
        if let reported = info.usage { usage = reported }
        if info.isError {
            throw UpstreamStreamError(reason: "the upstream sent an error event", forwarded: [event])
        }
        if dropsPromptFilterChunks && info.usage == nil && ChunkInfo.isPromptFilterOnly(data) { return }
        if !clientWantsUsage {
            if info.isUsageOnly { return }
            if info.hasNullUsage, let trimmed = ChunkInfo.removingNullUsage(data) {
                output.append(SSEEvent.encode(data: trimmed))
                if info.carriesAnswer { carriesAnswer = true }
                return
            }
        }
        output.append(event)
        if info.carriesAnswer { carriesAnswer = true }
    }

    public mutating func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        if !sawDone && !sawFinishReason {
            throw UpstreamStreamError(reason: "the stream ended before it finished")
        }
    }

    public func errorEvent(_ error: GatewayError) -> ByteBuffer {
        ByteBuffer(bytes: error.sseEvent)
    }
}
