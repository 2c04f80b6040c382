import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// How a relayed stream ended.
enum RelayOutcome: Sendable, Equatable {
    /// The upstream finished (`[DONE]`, or a clean end after a finish reason).
    case completed
    /// The upstream broke, went silent or ended early; the client got one error event and no `[DONE]`.
    case failed(reason: String)
    /// The client went away; the upstream request was cancelled.
    case clientGone

    /// For the request log.
    var label: String {
        switch self {
        case .completed: "completed"
        case .failed: "upstream_failed"
        case .clientGone: "client_disconnected"
        }
    }
}

/// What a relay learned about the stream as it passed, for accounting.
struct RelayReport: Sendable {
    var outcome: RelayOutcome
    var usage: TokenUsage?
    /// Bytes of generated text relayed, for an estimate when the upstream reported no usage.
    var generatedBytes: Int
    /// When the first bytes were handed to the client.
    var firstWriteAt: ContinuousClock.Instant?
    /// The whole answer of a completed stream, for APIs whose answers are kept (Responses).
    var completedAnswer: [UInt8]? = nil
}

/// Relays a committed upstream SSE stream to the client, event by event as it arrives, through the attempt's
/// translator (byte-exact when the provider speaks the client's dialect).
///
/// The relay ends in one of three ways: the upstream finishes; the upstream fails (the client then gets one error
/// event in its dialect, never a silent clean end); or the client disconnects (the upstream request is cancelled at
/// once).
struct StreamRelay: Sendable {
    /// The rest of the upstream body; nil when the whole stream came before the commit.
    let body: UpstreamBody?
    let framer: SSEEventFramer
    /// Client events already translated before the commit.
    let firstEvents: [ByteBuffer]
    let translator: RelayTranslator
    let idleTimeout: TimeAmount
    let eventLoop: any EventLoop
    let provider: String
    let logger: Logger
    let connectionWatch: ClientConnectionWatch
    /// How long the stream may go on once the gateway starts shutting down (read then, so a reload applies).
    let shutdownGrace: @Sendable () -> TimeAmount
    let settlement: RelaySettlement

    func run(writer: inout any ResponseBodyWriter, clientConnection: any Channel) async throws {
        let sink = ClientSink(writer)
        let streamGuard = StreamGuard(idleTimeout: idleTimeout, eventLoop: eventLoop)
        connectionWatch.watch(clientConnection, stopping: streamGuard)
        defer { connectionWatch.end(clientConnection, stopping: streamGuard) }
        var outcome: RelayOutcome
        var failureDetail: String?
        var forwarded: [ByteBuffer] = []
        do {
            try await withGracefulShutdownHandler {
                try await streamGuard.run { streamGuard in
                    try await pump(into: sink, streamGuard: streamGuard)
                }
            } onGracefulShutdown: { [shutdownGrace] in
                streamGuard.stop(.shuttingDown, after: shutdownGrace())
            }
            outcome = .completed
        } catch StreamStop.shuttingDown {
            outcome = .failed(reason: "the gateway is shutting down")
        } catch StreamStop.idleTimeout {
            outcome = .failed(reason: "no data from the upstream for \(Double(idleTimeout.nanoseconds) / 1e9) s")
        } catch let failure as UpstreamStreamError {
            failureDetail = failure.detail
            forwarded = failure.forwarded
            outcome = .failed(reason: failure.reason)
        } catch {
            // A write to the client failed, the client disconnected, or the task was cancelled.
            outcome = .clientGone
        }
        if case .failed(let reason) = outcome {
            logger.error(
                "ERROR stream from provider \(provider) failed after it started: \(reason)\(failureDetail.map { " (\($0))" } ?? "")"
            )
            if forwarded.isEmpty {
                let error = GatewayError(
                    status: 502, type: "api_error", code: "upstream_stream_error",
                    message: "The upstream provider \(provider) failed during the stream: \(reason)."
                )
                try? await writer.write(translator.errorEvent(error))
            } else {
                try? await writer.write(contentsOf: forwarded)
            }
        } else if outcome == .clientGone {
            logger.info("Client disconnected from a stream of provider \(provider); upstream request cancelled")
        }
        settlement.finish(
            RelayReport(
                outcome: outcome, usage: translator.usage, generatedBytes: translator.generatedBytes,
                firstWriteAt: sink.firstWriteAt,
                completedAnswer: outcome == .completed ? translator.completedAnswer.map(JSONValue.encode) : nil
            )
        )
        if outcome != .clientGone {
            try await writer.finish(nil)
        }
    }

    private func pump(into sink: ClientSink, streamGuard: StreamGuard) async throws {
        var framer = self.framer
        if !firstEvents.isEmpty { try await sink.write(firstEvents) }
        guard let body else { return }
        var outgoing: [ByteBuffer] = []
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await body.next()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                throw UpstreamStreamError(
                    reason: "the connection to the upstream broke", detail: String(String(describing: error).prefix(300))
                )
            }
            guard let chunk else { break }
            streamGuard.touch()
            let events: [ByteBuffer]
            do {
                events = try framer.append(chunk)
            } catch {
                throw UpstreamStreamError(reason: "the upstream sent an event larger than \(error.limit) bytes")
            }
            for event in events {
                do {
                    try translator.translate(event, into: &outgoing)
                } catch {
                    // What was translated before the failure still reaches the client.
                    if !outgoing.isEmpty { try await sink.write(outgoing) }
                    throw error
                }
            }
            if !outgoing.isEmpty {
                try await sink.write(outgoing)
                outgoing.removeAll(keepingCapacity: true)
            }
        }
        if framer.pendingByteCount > 0 {
            throw UpstreamStreamError(reason: "the stream ended in the middle of an event")
        }
        try translator.finish(into: &outgoing)
        if !outgoing.isEmpty { try await sink.write(outgoing) }
    }
}

/// The attempt's translator, moved into the relay's task: only that task uses it while the relay runs, and its
/// totals are read after the relay's task has ended.
final class RelayTranslator: @unchecked Sendable {
    private var translator: any StreamTranslator

    init(_ translator: any StreamTranslator) {
        self.translator = translator
    }

    func translate(_ event: ByteBuffer, into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        try translator.translate(event, into: &output)
    }

    func finish(into output: inout [ByteBuffer]) throws(UpstreamStreamError) {
        try translator.finish(into: &output)
    }

    func errorEvent(_ error: GatewayError) -> ByteBuffer { translator.errorEvent(error) }
    var usage: TokenUsage? { translator.usage }
    var generatedBytes: Int { translator.generatedBytes }
    var completedAnswer: JSONObject? { translator.completedAnswer }
}

/// The client side of a relay, moved into the relay's child task. Only that task writes while it runs; the
/// response writer's own copy is used again only after it has finished.
final class ClientSink: @unchecked Sendable {
    private var writer: any ResponseBodyWriter
    private(set) var firstWriteAt: ContinuousClock.Instant?

    init(_ writer: any ResponseBodyWriter) {
        self.writer = writer
    }

    func write(_ buffers: [ByteBuffer]) async throws {
        if buffers.count == 1 {
            try await writer.write(buffers[0])
        } else {
            try await writer.write(contentsOf: buffers)
        }
        if firstWriteAt == nil { firstWriteAt = .now }
    }
}
