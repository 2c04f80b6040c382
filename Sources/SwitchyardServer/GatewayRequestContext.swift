import Hummingbird
import NIOCore

/// Per-request context: Hummingbird's core storage, the connection the request came on, its request id and, on
/// the OpenAI routes, its trace.
public struct GatewayRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    let channel: any Channel
    /// The client's `X-Request-Id`, or one made up for the request.
    var requestID = ""
    var trace: RequestTrace?

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        channel = source.channel
    }

    var eventLoop: any EventLoop { channel.eventLoop }

    var remoteAddress: SocketAddress? { channel.remoteAddress }
}
