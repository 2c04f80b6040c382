import Foundation
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers
import Synchronization

/// An upstream on 127.0.0.1 that plays a script of raw bytes once a request has arrived (or only its head, to answer
/// while the gateway is still writing): for answers no HTTP server library would send (garbage, broken chunking,
/// resets, drips, huge heads, early answers).
final class ScriptedUpstream: Sendable {
    enum Step: Sendable {
        case send(String)
        /// `count` bytes of `byte`, in one write.
        case fill(UInt8, count: Int)
        /// Sends the text one byte at a time, `every` apart.
        case drip(String, every: TimeAmount)
        case pause(TimeAmount)
        /// Closes with a TCP reset (SO_LINGER 0).
        case reset
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

    /// Plays the script made for each connection's first request (from its body), once the whole request has
    /// arrived or, with `beforeBody`, once its head has (the body is then ""); a script that ends without closing
    /// leaves the connection open and silent.
    static func start(beforeBody: Bool = false, _ script: @escaping @Sendable (_ body: String) -> [Step]) async throws
        -> ScriptedUpstream
    {
        let box = NIOLockedValueBox<ScriptedUpstream?>(nil)
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(
                        Player(script: script, beforeBody: beforeBody) { box.withLockedValue { $0 }?.heads.add(1, ordering: .relaxed) }
                    )
                }
            }
            .bind(host: "127.0.0.1", port: 0).get()
        let upstream = ScriptedUpstream(channel: channel)
        box.withLockedValue { $0 = upstream }
        return upstream
    }

    func stop() async throws {
        try await channel.close()
    }

    private final class Player: ChannelInboundHandler {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let script: @Sendable (String) -> [Step]
        let beforeBody: Bool
        let onHead: @Sendable () -> Void
        var seen: [UInt8] = []
        var started = false

        init(script: @escaping @Sendable (String) -> [Step], beforeBody: Bool, onHead: @escaping @Sendable () -> Void) {
            self.script = script
            self.beforeBody = beforeBody
            self.onHead = onHead
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            guard !started else { return }
            seen += unwrapInboundIn(data).readableBytesView
            let text = String(decoding: seen, as: UTF8.self)
            guard let end = text.range(of: "\r\n\r\n") else { return }
            let head = text[..<end.lowerBound].lowercased()
            let length = head.split(separator: "\r\n").first { $0.hasPrefix("content-length:") }
                .flatMap { Int($0.dropFirst("content-length:".count).trimmingCharacters(in: .whitespaces)) } ?? 0
            let body = beforeBody ? "" : text[end.upperBound...]
            guard beforeBody || body.utf8.count >= length else { return }
            started = true
            onHead()
            play(script(String(body))[...], context: context)
        }

        private func play(_ steps: ArraySlice<Step>, context: ChannelHandlerContext) {
            guard let step = steps.first, context.channel.isActive else { return }
            let rest = steps.dropFirst()
            let loop = context.eventLoop.assumeIsolated()
            switch step {
            case .send(let text):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: text)), promise: nil)
                play(rest, context: context)
            case .fill(let byte, let count):
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(repeating: byte, count: count)), promise: nil)
                play(rest, context: context)
            case .drip(let text, let interval):
                guard let first = text.first else { return play(rest, context: context) }
                context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: String(first))), promise: nil)
                loop.scheduleTask(in: interval) { self.play([.drip(String(text.dropFirst()), every: interval)] + rest, context: context) }
            case .pause(let duration):
                loop.scheduleTask(in: duration) { self.play(rest, context: context) }
            case .reset:
                guard let socket = context.channel as? any SocketOptionProvider else { return context.close(promise: nil) }
                socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in context.close(promise: nil) }
            case .close:
                context.close(promise: nil)
            }
        }
    }
}
