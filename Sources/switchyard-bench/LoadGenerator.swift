import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOPosix

/// What one request measured.
struct Sample: Sendable {
    var latency: Int64
    /// Nanoseconds until the first body bytes (streams).
    var firstByte: Int64
    /// How many reads delivered body bytes (more reads than events would mean splitting, fewer coalescing).
    var bodyReads: Int
    var ok: Bool
}

/// A request to send over and over: path, body and where to send it.
struct RequestTemplate: Sendable {
    var host: String = "127.0.0.1"
    var port: Int
    var path: String
    var body: String
}

/// Drives HTTP/1.1 load from one process with SwiftNIO: keep-alive connections that each send requests back to
/// back and record every one. Errors are counted, never retried.
final class LoadGenerator: Sendable {
    let group: MultiThreadedEventLoopGroup

    init(threads: Int) {
        group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
    }

    func shutdown() {
        try? group.syncShutdownGracefully()
    }

    struct Result: Sendable {
        var samples: [Sample]
        var connectionErrors: Int
        var elapsed: Double

        var errors: Int { connectionErrors + samples.filter { !$0.ok }.count }
        var completed: Int { samples.filter(\.ok).count }
    }

    /// `connections` connections, opened `openRate` per second (all at once when nil), each sending requests until
    /// `duration` seconds have passed (or exactly `requestsPerConnection` requests when set).
    func run(
        _ template: RequestTemplate, connections: Int, duration: Double, warmup: Double = 0,
        requestsPerConnection: Int? = nil, openRate: Double? = nil
    ) async -> Result {
        let start = NIODeadline.now()
        let measureFrom = start + .milliseconds(Int64(warmup * 1000))
        let stopAt = start + .milliseconds(Int64((warmup + duration) * 1000))
        let request = Self.encode(template)
        let collected = NIOLockedValueBox<(samples: [Sample], errors: Int)>(([], 0))
        await withTaskGroup(of: Void.self) { tasks in
            for index in 0..<connections {
                if let openRate {
                    let due = start + .nanoseconds(Int64(Double(index) / openRate * 1e9))
                    let wait = due - .now()
                    if wait > .zero { try? await Task.sleep(for: .nanoseconds(wait.nanoseconds)) }
                }
                tasks.addTask { [group] in
                    let promise = group.next().makePromise(of: [Sample].self)
                    let handler = Connection(
                        request: request, measureFrom: measureFrom, stopAt: stopAt,
                        remaining: requestsPerConnection, done: promise
                    )
                    let connected = ClientBootstrap(group: group)
                        .channelOption(.socketOption(.tcp_nodelay), value: 1)
                        .connectTimeout(.seconds(30))
                        .channelInitializer { channel in
                            channel.eventLoop.makeCompletedFuture {
                                try channel.pipeline.syncOperations.addHTTPClientHandlers()
                                try channel.pipeline.syncOperations.addHandler(handler)
                            }
                        }
                        .connect(host: template.host, port: template.port)
                    do {
                        _ = try await connected.get()
                        let samples = try await promise.futureResult.get()
                        collected.withLockedValue { $0.samples.append(contentsOf: samples) }
                    } catch {
                        promise.fail(error)
                        collected.withLockedValue { $0.errors += 1 }
                    }
                }
            }
        }
        let elapsed = Double((NIODeadline.now() - measureFrom).nanoseconds) / 1e9
        let (samples, errors) = collected.withLockedValue { $0 }
        return Result(samples: samples, connectionErrors: errors, elapsed: max(elapsed, 0.001))
    }

    static func encode(_ template: RequestTemplate) -> (head: HTTPRequestHead, body: ByteBuffer) {
        var head = HTTPRequestHead(version: .http1_1, method: .POST, uri: template.path)
        head.headers.add(name: "host", value: "\(template.host):\(template.port)")
        head.headers.add(name: "content-type", value: "application/json")
        head.headers.add(name: "content-length", value: String(template.body.utf8.count))
        return (head, ByteBuffer(string: template.body))
    }

    /// One connection's request loop; runs entirely on its event loop.
    final class Connection: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = HTTPClientResponsePart
        typealias OutboundOut = HTTPClientRequestPart

        let request: (head: HTTPRequestHead, body: ByteBuffer)
        let measureFrom: NIODeadline
        let stopAt: NIODeadline
        var remaining: Int?
        let done: EventLoopPromise<[Sample]>
        var samples: [Sample] = []
        var sentAt = NIODeadline.now()
        var firstByteAt: NIODeadline?
        var bodyReads = 0
        var status = 0
        var finished = false

        init(
            request: (head: HTTPRequestHead, body: ByteBuffer), measureFrom: NIODeadline, stopAt: NIODeadline,
            remaining: Int?, done: EventLoopPromise<[Sample]>
        ) {
            self.request = request
            self.measureFrom = measureFrom
            self.stopAt = stopAt
            self.remaining = remaining
            self.done = done
        }

        func channelActive(context: ChannelHandlerContext) {
            send(context)
        }

        private func send(_ context: ChannelHandlerContext) {
            sentAt = .now()
            firstByteAt = nil
            bodyReads = 0
            context.write(wrapOutboundOut(.head(request.head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(request.body))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                status = Int(head.status.code)
            case .body:
                if firstByteAt == nil { firstByteAt = .now() }
                bodyReads += 1
            case .end:
                let now = NIODeadline.now()
                if sentAt >= measureFrom || remaining != nil {
                    samples.append(
                        Sample(
                            latency: (now - sentAt).nanoseconds,
                            firstByte: ((firstByteAt ?? now) - sentAt).nanoseconds,
                            bodyReads: bodyReads, ok: status == 200
                        )
                    )
                }
                if let left = remaining {
                    remaining = left - 1
                    if left - 1 <= 0 { return finish(context) }
                } else if now >= stopAt {
                    return finish(context)
                }
                send(context)
            }
        }

        func errorCaught(context: ChannelHandlerContext, error: any Error) {
            samples.append(Sample(latency: 0, firstByte: 0, bodyReads: 0, ok: false))
            finish(context)
        }

        func channelInactive(context: ChannelHandlerContext) {
            if !finished {
                samples.append(Sample(latency: 0, firstByte: 0, bodyReads: 0, ok: false))
                finished = true
                done.succeed(samples)
            }
        }

        private func finish(_ context: ChannelHandlerContext) {
            guard !finished else { return }
            finished = true
            done.succeed(samples)
            context.close(promise: nil)
        }
    }
}
