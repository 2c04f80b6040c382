import Hummingbird
import NIOCore

/// Per-request context: Hummingbird's core storage plus the connection the request came on.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    var remoteAddress: SocketAddress? { channel.remoteAddress }
}
