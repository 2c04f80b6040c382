import NIOCore

/// Opens an HTTP `CONNECT` tunnel through an outbound proxy to an HTTPS upstream, the first handler of the
/// upstream connection's channel. The channel becomes active at once (TLS starts its handshake), but every write is
/// held back until the proxy has answered `200`, and the proxy's answer is not passed on: the TLS handler above
/// sees only the upstream's bytes, so the proxy never sees the request or its key.
final class ProxyTunnelHandler: ChannelDuplexHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    /// The proxy refused the tunnel or did not answer like an HTTP proxy.
    struct Refused: Error, Equatable {
        /// The proxy's status, or nil when its answer was not HTTP.
        var status: Int?
    }

    /// The longest proxy answer head read before the proxy is judged broken.
    static let maximumAnswerBytes = 16 * 1024

    private let authority: String
    private let authorization: String?
    private var answer = ByteBuffer()
    private var established = false
    private var refused = false
    private var heldWrites: [(ByteBuffer, EventLoopPromise<Void>?)] = []

    /// - Parameter authority: `host:port` of the upstream.
    init(authority: String, authorization: String?) {
        self.authority = authority
        self.authorization = authorization
    }

    func channelActive(context: ChannelHandlerContext) {
        var head = "CONNECT \(authority) HTTP/1.1\r\nHost: \(authority)\r\n"
        if let authorization { head += "Proxy-Authorization: \(authorization)\r\n" }
        head += "\r\n"
        context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: head)), promise: nil)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !established else { return context.fireChannelRead(data) }
        guard !refused else { return }
        var chunk = unwrapInboundIn(data)
        answer.writeBuffer(&chunk)
        let view = answer.readableBytesView
        guard let end = view.firstRange(of: [13, 10, 13, 10]) else {
            if answer.readableBytes > Self.maximumAnswerBytes { refuse(context, Refused(status: nil)) }
            return
        }
        let statusLine = String(decoding: view[view.startIndex..<(view.firstRange(of: [13, 10])?.lowerBound ?? end.lowerBound)], as: UTF8.self)
        let parts = statusLine.split(separator: " ", maxSplits: 2)
        guard parts.count >= 2, parts[0].hasPrefix("HTTP/1."), let status = Int(parts[1]) else {
            return refuse(context, Refused(status: nil))
        }
        guard (200..<300).contains(status) else { return refuse(context, Refused(status: status)) }
        established = true
        answer.moveReaderIndex(to: answer.readerIndex + view.distance(from: view.startIndex, to: end.upperBound))
        let early = answer
        answer = ByteBuffer()
        for (buffer, promise) in heldWrites { context.write(wrapOutboundOut(buffer), promise: promise) }
        heldWrites.removeAll()
        context.flush()
        if early.readableBytes > 0 { context.fireChannelRead(wrapInboundOut(early)) }
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        guard established else { return heldWrites.append((unwrapOutboundIn(data), promise)) }
        context.write(data, promise: promise)
    }

    func flush(context: ChannelHandlerContext) {
        if established { context.flush() }
    }

    func channelInactive(context: ChannelHandlerContext) {
        if !established { failHeldWrites(ChannelError.ioOnClosedChannel) }
        context.fireChannelInactive()
    }

    private func refuse(_ context: ChannelHandlerContext, _ error: Refused) {
        refused = true
        answer = ByteBuffer()
        failHeldWrites(error)
        context.fireErrorCaught(error)
        context.close(promise: nil)
    }

    private func failHeldWrites(_ error: any Error) {
        let held = heldWrites
        heldWrites.removeAll()
        for (_, promise) in held { promise?.fail(error) }
    }
}
