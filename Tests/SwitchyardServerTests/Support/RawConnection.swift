import Foundation
import NIOCore
import NIOPosix
import NIOConcurrencyHelpers

/// A plain TCP connection to 127.0.0.1, for what an HTTP client library will not send: partial heads, huge
/// headers, idle keep-alive connections.
struct RawConnection: Sendable {
    let channel: any Channel
    private let collector: Collector

    /// Keeps what the server sent.
    private final class Collector: ChannelInboundHandler, Sendable {
        typealias InboundIn = ByteBuffer
        let received = NIOLockedValueBox("")

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            let buffer = unwrapInboundIn(data)
            received.withLockedValue { $0 += String(buffer: buffer) }
        }
    }

    /// Connects, and sends `first` from the event loop as soon as the connection is up: a test that waits on a busy
    /// machine between connecting and sending would otherwise trip the gateway's idle timeout before its first byte.
    /// `readsOnDemand`: it reads only when `readMore()` is called, through a small receive buffer, so that what
    /// the server writes backs up (a slow client).
    static func open(port: Int, sending first: String? = nil, readsOnDemand: Bool = false) async throws -> RawConnection {
        let collector = Collector()
        var bootstrap = ClientBootstrap(group: MultiThreadedEventLoopGroup.singleton)
        if readsOnDemand {
            bootstrap = bootstrap.channelOption(.autoRead, value: false)
                .channelOption(.socketOption(.so_rcvbuf), value: 65536)
        }
        let channel = try await bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture { try channel.pipeline.syncOperations.addHandler(collector) }
            }
            .connect(host: "127.0.0.1", port: port)
            .flatMap { channel in
                guard let first else { return channel.eventLoop.makeSucceededFuture(channel) }
                return channel.writeAndFlush(ByteBuffer(string: first)).map { channel }
            }
            .get()
        return RawConnection(channel: channel, collector: collector)
    }

    /// What the server sent so far.
    var received: String { collector.received.withLockedValue { $0 } }

    /// Reads what has arrived (a connection opened with `readsOnDemand`).
    func readMore() {
        channel.read()
    }

    func send(_ text: String) async throws {
        try await channel.writeAndFlush(ByteBuffer(string: text))
    }

    /// Everything the server sent once it has closed the connection, or nil if it is still open after `seconds`.
    func readUntilClosed(within seconds: Double) async throws -> String? {
        let closed = await withTaskGroup(of: Bool.self) { group in
            group.addTask { [channel] in
                try? await channel.closeFuture.get()
                return true
            }
            group.addTask {
                try? await Task.sleep(for: .milliseconds(Int(seconds * 1000)))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        close()
        return closed ? collector.received.withLockedValue { $0 } : nil
    }

    func close() {
        channel.close(promise: nil)
    }
}
