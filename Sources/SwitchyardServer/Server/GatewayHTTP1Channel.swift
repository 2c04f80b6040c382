import HTTPTypes
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOHTTP1
import NIOHTTPTypes
import NIOHTTPTypesHTTP1
import ServiceLifecycle
import SwitchyardCore

/// What a client connection may hold: read from the config in force when the connection is accepted.
struct ClientConnectionLimits: Sendable {
    /// From a request head's first byte to its last.
    var headTimeout: TimeAmount
    /// Between requests on a keep-alive connection.
    var keepAliveTimeout: TimeAmount
    /// Request line and headers together.
    var maxHeadBytes: Int

    init(_ global: GlobalSettings) {
        headTimeout = .fromSeconds(global.requestHeadTimeoutSeconds)
        keepAliveTimeout = .fromSeconds(global.keepAliveTimeoutSeconds)
        maxHeadBytes = global.maxRequestHeadBytes
    }
}

/// Hummingbird's HTTP/1 channel with the data plane in its pipeline: client-API requests are served by
/// `DataPlaneHandler` on the connection's event loop, everything else by Hummingbird's router. It limits what a
/// client can make the gateway hold: a request head must arrive within `headTimeout` of its first byte (else 408)
/// and within `maxHeadBytes` (else 431), and an idle keep-alive connection is closed after `keepAliveTimeout`. None
/// of these apply while a response is being written, so long streams and slow upstreams are never cut.
struct GatewayHTTP1Channel: ServerChildChannel, HTTPChannelHandler {
    typealias Value = NIOAsyncChannel<HTTPRequestPart, HTTPResponsePart>

    let responder: HTTPChannelHandler.Responder
    let engine: ProxyEngine
    let limits: @Sendable () -> ClientConnectionLimits

    func setup(channel: any Channel, logger: Logger) -> EventLoopFuture<Value> {
        channel.eventLoop.makeCompletedFuture {
            try Self.addHandlers(to: channel.pipeline.syncOperations, limits: limits(), engine: engine, logger: logger)
            return try NIOAsyncChannel(
                wrappingChannelSynchronously: channel, configuration: .init(isOutboundHalfClosureEnabled: true)
            )
        }
    }

    /// A client connection's handlers, from raw bytes to the data plane; Hummingbird's bridge goes after them.
    /// (The fuzz target of the request head builds the same pipeline.)
    static func addHandlers(
        to pipeline: ChannelPipeline.SynchronousOperations, limits: ClientConnectionLimits, engine: ProxyEngine,
        logger: Logger
    ) throws {
        var decoderLimits = NIOHTTPDecoderLimitConfiguration()
        decoderLimits.maxHeaderFieldSize = limits.maxHeadBytes
        decoderLimits.maxHeaderListSize = limits.maxHeadBytes
        let headGuard = RequestHeadGuard(timeout: limits.headTimeout, maxBytes: limits.maxHeadBytes)
        // First in the pipeline: it sees raw bytes before the decoder and writes its answers straight out.
        try pipeline.addHandler(headGuard)
        try pipeline.configureHTTPServerPipeline(
            withPipeliningAssistance: false, withErrorHandling: false, withOutboundHeaderValidation: false,
            withEncoderConfiguration: .init(), withDecoderLimitConfiguration: decoderLimits
        )
        try pipeline.addHandler(HTTP1ToHTTPServerCodec(secure: false))
        try pipeline.addHandler(RequestHeadWatcher(headGuard: headGuard))
        try pipeline.addHandler(
            HTTPConnectionStateHandler(idleTimeout: .nanoseconds(limits.keepAliveTimeout.nanoseconds), logger: logger)
        )
        try pipeline.addHandler(DataPlaneHandler(engine: engine, logger: logger))
    }

    /// Hummingbird serves the connection's other requests; on shutdown the data plane's request, if one runs, gets
    /// the grace period in force then.
    func handle(value asyncChannel: Value, logger: Logger) async {
        let channel = asyncChannel.channel
        await withGracefulShutdownHandler {
            await handleHTTP(asyncChannel: asyncChannel, logger: logger)
        } onGracefulShutdown: {
            channel.pipeline.fireUserInboundEventTriggered(DataPlaneHandler.ShutdownStarted())
        }
    }
}

/// Times and measures each request head from its first raw byte until the decoder has parsed it
/// (`RequestHeadWatcher` reports that), and answers 408 or 431 itself, in OpenAI's error shape, when a head takes
/// too long or grows too large.
final class RequestHeadGuard: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer
    typealias OutboundIn = ByteBuffer
    typealias OutboundOut = ByteBuffer

    private enum Phase {
        /// Between requests: no byte of the next head yet (the keep-alive timeout applies).
        case waitingForHead
        /// Bytes of a head have arrived, `received` so far, and its timer runs.
        case readingHead(received: Int, timer: Scheduled<Void>)
        /// The head was parsed; the request is being read or answered.
        case inRequest
        /// An error answer was sent and the connection is closing.
        case rejected
    }

    private let timeout: TimeAmount
    private let maxBytes: Int
    private var phase = Phase.waitingForHead
    private var context: ChannelHandlerContext?

    init(timeout: TimeAmount, maxBytes: Int) {
        self.timeout = timeout
        self.maxBytes = maxBytes
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        if case .readingHead(_, let timer) = phase { timer.cancel() }
        self.context = nil
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let bytes = unwrapInboundIn(data).readableBytes
        switch phase {
        case .rejected:
            return
        case .waitingForHead:
            guard bytes > 0 else { break }
            let timer = context.eventLoop.assumeIsolated().scheduleTask(in: timeout) { [self] in
                if case .readingHead = phase { reject(.requestTimeout) }
            }
            phase = .readingHead(received: bytes, timer: timer)
        case .readingHead(let received, let timer):
            phase = .readingHead(received: received + bytes, timer: timer)
        case .inRequest:
            break
        }
        // The decoder runs inside this call: a head completed by these bytes has moved the phase on by its return.
        context.fireChannelRead(data)
        if case .readingHead(let received, _) = phase, received > maxBytes {
            reject(.headTooLarge)
        }
    }

    /// The decoder produced a complete head.
    func headReceived() {
        if case .readingHead(_, let timer) = phase { timer.cancel() }
        if case .rejected = phase { return }
        phase = .inRequest
    }

    /// The response to the current request has been written: the next bytes start a new head.
    func responseEnded() {
        if case .inRequest = phase { phase = .waitingForHead }
    }

    enum Rejection {
        case requestTimeout, headTooLarge
        /// The decoder refused the head (invalid syntax, or a body framed two ways: request smuggling).
        case malformed(HTTPParserError)
    }

    /// Whether a head is being read, so that an answer written now cannot cut into another one.
    var isReadingHead: Bool {
        switch phase {
        case .waitingForHead, .readingHead: true
        case .inRequest, .rejected: false
        }
    }

    /// Answers with an error of our own and closes the connection.
    func reject(_ rejection: Rejection) {
        guard let context else { return }
        if case .rejected = phase { return }
        if case .readingHead(_, let timer) = phase { timer.cancel() }
        phase = .rejected
        let error: GatewayError
        let statusLine: String
        switch rejection {
        case .requestTimeout:
            statusLine = "408 Request Timeout"
            error = GatewayError(
                status: 408, type: "invalid_request_error", code: "request_timeout",
                message: "The request head did not arrive within \(Double(timeout.nanoseconds) / 1e9) seconds."
            )
        case .headTooLarge:
            statusLine = "431 Request Header Fields Too Large"
            error = GatewayError(
                status: 431, type: "invalid_request_error", code: "request_header_fields_too_large",
                message: "The request line and headers are larger than the gateway's limit of \(maxBytes) bytes."
            )
        case .malformed(let parserError):
            statusLine = "400 Bad Request"
            error = GatewayError(
                status: 400, type: "invalid_request_error", code: "bad_request",
                message: "The request could not be parsed (\(parserError)); a body must be framed by one Content-Length or by chunked encoding, never both."
            )
        }
        let body = error.body
        var response = ByteBuffer()
        response.writeString(
            "HTTP/1.1 \(statusLine)\r\ncontent-type: application/json\r\ncontent-length: \(body.count)\r\nconnection: close\r\n\r\n"
        )
        response.writeBytes(body)
        let channel = context.channel
        context.writeAndFlush(wrapOutboundOut(response)).whenComplete { _ in channel.close(promise: nil) }
    }
}

/// Tells `RequestHeadGuard` where requests begin and end, as the decoder sees them, turns the decoder's own
/// header-size error into a 431, and closes the connection when the client closes its side.
final class RequestHeadWatcher: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    private let headGuard: RequestHeadGuard

    init(headGuard: RequestHeadGuard) {
        self.headGuard = headGuard
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        if case .head = unwrapInboundIn(data) { headGuard.headReceived() }
        context.fireChannelRead(data)
    }

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        if case .end = unwrapOutboundIn(data) { headGuard.responseEnded() }
        context.write(data, promise: promise)
    }

    /// The server allows half-closed connections, so a client that goes away while its answer is being prepared
    /// would otherwise go unnoticed until the first write. HTTP/1 clients do not half-close while they wait.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        context.fireUserInboundEventTriggered(event)
        if let event = event as? ChannelEvent, event == .inputClosed {
            context.close(promise: nil)
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let parserError = error as? HTTPParserError, parserError == .headerOverflow {
            headGuard.reject(.headTooLarge)
            return
        }
        if let parserError = error as? HTTPParserError, headGuard.isReadingHead {
            headGuard.reject(.malformed(parserError))
            return
        }
        context.fireErrorCaught(error)
    }
}
