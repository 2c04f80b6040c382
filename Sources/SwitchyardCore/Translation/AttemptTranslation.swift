import Foundation
import NIOCore

/// How one attempt's upstream answer becomes its client's answer, for one (client API, provider kind) pair: relayed
/// byte-exact when the provider speaks the client's dialect, otherwise decoded into canonical chunks or answers and
/// encoded for the client. Also converts between streaming and non-streaming answers.
public struct AttemptTranslation: Sendable {
    public let request: InboundRequest
    public let provider: ProviderConfig
    public let kind: any ProviderKind
    /// The provider speaks the client's dialect.
    public let passesThrough: Bool

    public init(request: InboundRequest, provider: ProviderConfig) {
        self.request = request
        self.provider = provider
        kind = provider.kind
        passesThrough = kind.passesThrough(request, provider: provider)
    }

    /// Upstream stream → client stream.
    public func streamTranslator() -> any StreamTranslator {
        if passesThrough { return kind.passThroughStream(for: request) }
        return TranslatingStream(
            decoder: kind.streamDecoder(for: request, provider: provider), encoder: request.api.streamEncoder(for: request)
        )
    }

    /// Upstream stream → one client answer.
    public func streamAggregation() -> StreamAggregation {
        if passesThrough, case .openAI(let endpoint) = request.api {
            return StreamAggregation(aggregator: StreamAggregator(endpoint: endpoint), decoder: nil, translation: self)
        }
        if passesThrough, request.api == .responses {
            return StreamAggregation(
                aggregator: StreamAggregator(endpoint: .chatCompletions), decoder: nil, responses: ResponsesPassThrough(),
                translation: self
            )
        }
        return StreamAggregation(
            aggregator: StreamAggregator(endpoint: .chatCompletions),
            decoder: kind.streamDecoder(for: request, provider: provider), translation: self
        )
    }

    /// Upstream answer → client answer.
    public func answer(_ body: ByteBuffer) throws(GatewayError) -> TranslatedAnswer {
        let kept = request.api == .responses
        if passesThrough {
            let usage = try request.api.usage(ofAnswer: body)
            return TranslatedAnswer(
                body: body, usage: usage, generatedCharacters: usage == nil ? estimatedCharacters(ofNative: body) : 0,
                keptAnswer: kept ? Array(body.readableBytesView) : nil
            )
        }
        let canonical = try kind.canonicalAnswer(body, for: request, provider: provider)
        let encoded = request.api.encodeAnswer(canonical, for: request)
        return TranslatedAnswer(
            body: ByteBuffer(bytes: encoded),
            usage: TokenUsage(openAIUsage: canonical["usage"]),
            generatedCharacters: UsageEstimate.completionCharacters(inCompletion: canonical),
            keptAnswer: kept ? encoded : nil
        )
    }

    /// Upstream answer → client stream, for providers that cannot stream.
    public func synthesizedStream(_ body: ByteBuffer) throws(GatewayError) -> TranslatedAnswer {
        if passesThrough, case .openAI(let endpoint) = request.api {
            let usage = try Dialect.openAI.usage(ofAnswer: body)
            let events = try StreamSynthesizer.stream(
                fromResponse: body, endpoint: endpoint, includeUsage: request.clientWantsUsage
            )
            return TranslatedAnswer(
                body: events, usage: usage,
                generatedCharacters: usage == nil ? UsageEstimate.completionCharacters(inResponse: body) : 0
            )
        }
        if passesThrough, request.api == .responses {
            let response = try JSONValue.answer(body)
            var events = ByteBuffer()
            for event in ResponsesAnswer.streamEvents(fromResponse: response) { events.writeImmutableBuffer(event) }
            let usage = ResponsesAnswer.usage(response["usage"])
            return TranslatedAnswer(
                body: events, usage: usage,
                generatedCharacters: usage == nil ? ResponsesAnswer.outputCharacters(response) : 0,
                keptAnswer: Array(body.readableBytesView)
            )
        }
        let canonical = try kind.canonicalAnswer(body, for: request, provider: provider)
        var encoder = request.api.streamEncoder(for: request)
        var events = ByteBuffer()
        for chunk in StreamSynthesizer.chunks(fromCompletion: canonical, endpoint: .chatCompletions, includeUsage: true) {
            for event in encoder.encode(chunk) { events.writeImmutableBuffer(event) }
        }
        for event in encoder.finish() { events.writeImmutableBuffer(event) }
        return TranslatedAnswer(
            body: events, usage: TokenUsage(openAIUsage: canonical["usage"]),
            generatedCharacters: UsageEstimate.completionCharacters(inCompletion: canonical),
            keptAnswer: encoder.completedAnswer.map(JSONValue.encode)
        )
    }

    /// An upstream error answer for the client: unchanged in its own dialect, otherwise its message in the
    /// client's error shape with the same status.
    public func clientError(status: Int, body: ByteBuffer) -> (body: ByteBuffer, contentType: String)? {
        if passesThrough { return nil }
        let object = JSONValue.object(body.readableBytesView)
        let error = object?["error"]
        let message =
            ((error as? JSONObject)?["message"] as? String) ?? (error as? String) ?? (object?["message"] as? String)
            ?? "HTTP \(status)"
        let gatewayError = GatewayError(
            status: status, type: GatewayError.openAIType(forStatus: status), code: nil,
            message: "The upstream provider \(provider.name) rejected the request: \(GatewayError.clipped(message, to: 1024))"
        )
        return (ByteBuffer(bytes: request.api.errorBody(gatewayError)), "application/json")
    }

    private func estimatedCharacters(ofNative body: ByteBuffer) -> Int {
        if request.api == .responses {
            return JSONValue.object(body.readableBytesView).map(ResponsesAnswer.outputCharacters) ?? 0
        }
        guard let canonical = try? kind.canonicalAnswer(body, for: request, provider: provider) else { return 0 }
        return UsageEstimate.completionCharacters(inCompletion: canonical)
    }
}

/// A client answer made from an upstream one, with the tokens the upstream reported (nil: count by estimate).
public struct TranslatedAnswer {
    public var body: ByteBuffer
    public var usage: TokenUsage?
    public var generatedCharacters: Int
    /// The answer as the gateway keeps it, for APIs whose answers are kept (Responses: the response object, also
    /// when the client got it as a stream).
    public var keptAnswer: [UInt8]? = nil
}

/// Reads an upstream stream to its end and makes one client answer of it.
public struct StreamAggregation {
    var aggregator: StreamAggregator
    var decoder: (any UpstreamStreamDecoder)?
    /// A Responses API stream, whose last event carries the whole answer.
    var responses: ResponsesPassThrough?
    let translation: AttemptTranslation

    init(
        aggregator: StreamAggregator, decoder: (any UpstreamStreamDecoder)?, responses: ResponsesPassThrough? = nil,
        translation: AttemptTranslation
    ) {
        self.aggregator = aggregator
        self.decoder = decoder
        self.responses = responses
        self.translation = translation
    }

    /// Adds one upstream event (framing included).
    public mutating func add(event: ByteBuffer) throws(GatewayError) {
        if var responses {
            var ignored: [ByteBuffer] = []
            do {
                try responses.translate(event, into: &ignored)
            } catch {
                throw Self.unusable(error.reason)
            }
            self.responses = responses
            return
        }
        if let data = SSEEvent.data(of: event) { try add(data) }
    }

    /// Adds one upstream event's data.
    mutating func add(_ data: ByteBuffer) throws(GatewayError) {
        guard var decoder else {
            try aggregator.add(data: data)
            return
        }
        let chunks: [JSONObject]
        do {
            chunks = try decoder.decode(data)
        } catch {
            throw Self.unusable(error.reason)
        }
        self.decoder = decoder
        for chunk in chunks { aggregator.add(chunk: chunk) }
    }

    /// The answer, once the upstream body ended.
    public mutating func finish() throws(GatewayError) -> TranslatedAnswer {
        if var responses {
            var ignored: [ByteBuffer] = []
            do {
                try responses.finish(into: &ignored)
            } catch {
                throw Self.unusable(error.reason)
            }
            guard let response = responses.completedAnswer else { throw Self.unusable("the stream carried no response") }
            let usage = ResponsesAnswer.usage(response["usage"])
            let encoded = JSONValue.encode(response)
            return TranslatedAnswer(
                body: ByteBuffer(bytes: encoded), usage: usage,
                generatedCharacters: usage == nil ? ResponsesAnswer.outputCharacters(response) : 0, keptAnswer: encoded
            )
        }
        if var decoder {
            do {
                for chunk in try decoder.finish() { aggregator.add(chunk: chunk) }
            } catch {
                throw Self.unusable(error.reason)
            }
            self.decoder = decoder
        }
        guard aggregator.chunkCount > 0 else { throw Self.unusable("the stream carried no chunks") }
        guard decoder != nil || aggregator.sawDone || aggregator.sawFinishReason else {
            throw Self.unusable("the stream ended before it finished")
        }
        let usage = decoder?.usage ?? aggregator.usage
        let body: [UInt8]
        if decoder == nil {
            body = aggregator.result()
        } else {
            body = translation.request.api.encodeAnswer(aggregator.resultObject(), for: translation.request)
        }
        return TranslatedAnswer(
            body: ByteBuffer(bytes: body), usage: usage, generatedCharacters: aggregator.generatedCharacterCount,
            keptAnswer: translation.request.api == .responses ? body : nil
        )
    }

    static func unusable(_ reason: String) -> GatewayError {
        GatewayError(status: 502, type: "api_error", code: "invalid_upstream_response", message: reason)
    }
}
