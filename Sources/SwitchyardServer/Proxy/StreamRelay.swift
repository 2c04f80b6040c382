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
}

/// Relays a committed upstream SSE stream to the client, event by event as it arrives.
///
/// Events are forwarded byte-exact, except that the usage chunk and `"usage": null` fields which Switchyard asked
/// for itself are removed when the client did not ask for usage. The relay ends in one of three ways: the
/// upstream finishes; the upstream fails (the client then gets one `data: {"error":…}` event and no `[DONE]`, never
/// a silent clean end); or the client disconnects (the upstream request is cancelled at once).
struct StreamRelay: Sendable {
    let body: UpstreamBody
    let framer: SSEEventFramer
    let firstEvents: [ByteBuffer]
    let clientWantsUsage: Bool
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
        let progress = RelayProgress()
        let streamGuard = StreamGuard(idleTimeout: idleTimeout, eventLoop: eventLoop)
        connectionWatch.watch(clientConnection, stopping: streamGuard)
        defer { connectionWatch.end(clientConnection, stopping: streamGuard) }
        var outcome: RelayOutcome
        var failureDetail: String?
        do {
            try await withGracefulShutdownHandler {
                try await streamGuard.run { streamGuard in
                    try await pump(into: sink, progress: progress, streamGuard: streamGuard)
                }
            } onGracefulShutdown: { [shutdownGrace] in
                streamGuard.stop(.shuttingDown, after: shutdownGrace())
            }
            outcome = .completed
        } catch StreamStop.shuttingDown {
            outcome = .failed(reason: "the gateway is shutting down")
        } catch StreamStop.idleTimeout {
            outcome = .failed(reason: "no data from the upstream for \(Double(idleTimeout.nanoseconds) / 1e9) s")
        } catch let failure as UpstreamStreamFailure {
            failureDetail = failure.detail
            outcome = .failed(reason: failure.reason)
        } catch {
            // A write to the client failed, the client disconnected, or the task was cancelled.
            outcome = .clientGone
        }
        if case .failed(let reason) = outcome {
            logger.error(
                "ERROR stream from provider \(provider) failed after it started: \(reason)\(failureDetail.map { " (\($0))" } ?? "")"
            )
            if !progress.sawError {
                let error = GatewayError(
                    status: 502, type: "api_error", code: "upstream_stream_error",
                    message: "The upstream provider \(provider) failed during the stream: \(reason)."
                )
                try? await writer.write(ByteBuffer(bytes: error.sseEvent))
            }
        } else if outcome == .clientGone {
            logger.info("Client disconnected from a stream of provider \(provider); upstream request cancelled")
        }
        settlement.finish(
            RelayReport(
                outcome: outcome, usage: progress.usage, generatedBytes: progress.generatedBytes,
                firstWriteAt: sink.firstWriteAt
            )
        )
        if outcome != .clientGone {
            try await writer.finish(nil)
        }
    }

    private func pump(into sink: ClientSink, progress: RelayProgress, streamGuard: StreamGuard) async throws {
        var framer = self.framer
        try await deliver(firstEvents, to: sink, progress: progress)
        while true {
            let chunk: ByteBuffer?
            do {
                chunk = try await body.next()
            } catch {
                if Task.isCancelled { throw CancellationError() }
                throw UpstreamStreamFailure(
                    reason: "the connection to the upstream broke", detail: String(String(describing: error).prefix(300))
                )
            }
            guard let chunk else { break }
            streamGuard.touch()
            let events: [ByteBuffer]
            do {
                events = try framer.append(chunk)
            } catch {
                throw UpstreamStreamFailure(reason: "the upstream sent an event larger than \(error.limit) bytes")
            }
            if !events.isEmpty {
                try await deliver(events, to: sink, progress: progress)
            }
        }
        if progress.sawError { throw UpstreamStreamFailure(reason: "the upstream sent an error event") }
        if framer.pendingByteCount > 0 {
            throw UpstreamStreamFailure(reason: "the stream ended in the middle of an event")
        }
        if !progress.sawDone && !progress.sawFinishReason {
            throw UpstreamStreamFailure(reason: "the stream ended before it finished")
        }
    }

    private func deliver(_ events: [ByteBuffer], to sink: ClientSink, progress: RelayProgress) async throws {
        var outgoing: [ByteBuffer] = []
        outgoing.reserveCapacity(events.count)
        for event in events {
            guard let data = SSEEvent.data(of: event) else {
                outgoing.append(event)
                continue
            }
            let info = ChunkInfo(data: data)
            progress.record(info)
            if !clientWantsUsage {
                if info.isUsageOnly { continue }
                if info.hasNullUsage, let trimmed = ChunkInfo.removingNullUsage(data) {
                    outgoing.append(SSEEvent.encode(data: trimmed))
                    continue
                }
            }
            outgoing.append(event)
        }
        if !outgoing.isEmpty {
            try await sink.write(outgoing)
        }
    }
}

struct UpstreamStreamFailure: Error {
    /// What the client is told (no addresses or transport details).
    var reason: String
    /// What only the gateway log gets.
    var detail: String? = nil
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

/// What the relay has seen so far; written only by the relay task, read after it has ended.
final class RelayProgress: @unchecked Sendable {
    private(set) var sawDone = false
    private(set) var sawFinishReason = false
    private(set) var sawError = false
    private(set) var usage: TokenUsage?
    private(set) var generatedBytes = 0

    func record(_ info: ChunkInfo) {
        generatedBytes += info.generatedBytes
        if info.isDone { sawDone = true }
        if info.hasFinishReason { sawFinishReason = true }
        if info.isError { sawError = true }
        if let usage = info.usage { self.usage = usage }
    }
}
