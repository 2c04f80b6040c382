import NIOCore
import NIOPosix
import Synchronization

/// An upstream on 127.0.0.1 that does not wait for the request body: as soon as a request head has arrived it
/// answers (or just closes) and closes the connection, while the gateway is still writing.
final class EarlyAnswerUpstream: Sendable {
    enum Behaviour: Sendable {
        /// Answers with this status and an OpenAI-style error body.
        case answer(status: Int)
        /// Closes the connection without a word.
        case close
    }

    private let channel: any Channel
    private let heads = Atomic(0)

    var port: Int { channel.localAddress?.port ?? 0 }
    var endpoint: String { "http://127.0.0.1:\(port)/v1" }
    /// Request heads seen.
    var requestCount: Int { heads.load(ordering: .relaxed) }

    private init(channel: any Channel) {
        self.channel = channel
    }

    static func start(_ behaviour: Behaviour) async throws -> EarlyAnswerUpstream {
        let box = Mutex<EarlyAnswerUpstream?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Handler(behaviour: behaviour) { box.withLock { $0 }?.heads.add(1, ordering: .relaxed) }
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = EarlyAnswerUpstream(channel: channel)
        box.withLock { $0 = upstream }
        return upstream
    }

    func stop() async throws {
        try await channel.close()
    }

    private final class Handler: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let behaviour: Behaviour
        let onHead: @Sendable () -> Void
        var seen: [UInt8] = []
        var answered = false

        init(behaviour: Behaviour, onHead: @escaping @Sendable () -> Void) {
            self.behaviour = behaviour
            self.onHead = onHead
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !answered else { return }
            seen += unwrapInboundIn(data).readableBytesView
            guard seen.count >= 4, String(decoding: seen, as: UTF8.self).contains("\r\n\r\n") else { return }
            answered = true
            onHead()
            switch behaviour {
            case .close:
                context.close(promise: nil)
            case .answer(let status):
                let body = #"{"error":{"message":"request rejected early","type":"invalid_request_error","param":null,"code":null}}"#
                let head = "HTTP/1.1 \(status) Rejected\r\ncontent-type: application/json\r\ncontent-length: \(body.utf8.count)\r\nconnection: close\r\n\r\n"
                context.writeAndFlush(NIOAny(ByteBuffer(string: head + body))).whenComplete { _ in
                    context.close(promise: nil)
                }
            }
        }
    }
}
