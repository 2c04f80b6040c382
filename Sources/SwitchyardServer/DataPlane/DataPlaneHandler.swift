import HTTPTypes
import Logging
import NIOCore
import NIOHTTPTypes
import NIOPosix
import SwitchyardCore

/// The data plane of one client connection: serves client-API requests (`DataPlaneRoute`) itself, on the
/// connection's event loop, and passes every other request on to Hummingbird's router, which answers it on the
/// same connection.
///
/// It sits after Hummingbird's connection-state handler, which therefore sees every request and answer (keep-alive
/// timeout, closing after the answer on shutdown). One request is answered at a time: a pipelined request that
/// arrives while another is being answered waits in `queued`.
final class DataPlaneHandler: ChannelDuplexHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    typealias OutboundIn = HTTPResponsePart
    typealias OutboundOut = HTTPResponsePart

    /// Fired through the pipeline when the gateway starts shutting down.
    struct ShutdownStarted {}

    private enum Current {
        case none
        /// A request Hummingbird answers, until both it has been read and its answer written.
        case passing(requestEnded: Bool, responseEnded: Bool)
        /// A client-API request whose body is arriving.
        case collecting(DataPlaneRoute, HTTPRequest, body: ByteBuffer, limit: Int)
        /// A client-API request with a large body, being read off the loop.
        case parsing(closeAfter: Bool)
        /// A client-API request being answered (`call` is nil for an answer the handler gives itself).
        case serving(ProxyCall?, closeAfter: Bool)
        /// The rest of a request that was answered before its body was read whole (too large): ignored.
        case discarding
        /// The connection is closing.
        case closing
    }

    private let engine: ProxyEngine
    private let logger: Logger
    private var context: ChannelHandlerContext?
    private var current = Current.none
    private var queued = CircularBuffer<HTTPRequestPart>()
    private var requestID = ""
    /// When the gateway started shutting down, if it has.
    private var shutdownGrace: TimeAmount?

    /// Bodies up to this size are read on the loop; a larger one (a long context) is read on a thread of its own,
    /// so that the loop's other connections and streams do not wait on it.
    static let largestBodyReadOnTheLoop = 64 * 1024

    init(engine: ProxyEngine, logger: Logger) {
        self.engine = engine
        self.logger = logger
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // Hummingbird's connection-state handler, before this one, does not pass `channelInactive` on.
        context.channel.closeFuture.assumeIsolated().whenComplete { [self] _ in connectionClosed() }
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    // MARK: Requests

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let part = unwrapInboundIn(data)
        if !queued.isEmpty {
            queued.append(part)
            return
        }
        receive(part, context: context)
    }

    private func receive(_ part: HTTPRequestPart, context: ChannelHandlerContext) {
        switch (current, part) {
        case (.none, .head(let head)):
            if let route = DataPlaneRoute(method: head.method, target: head.path ?? "") {
                current = .collecting(
                    route, head, body: ByteBuffer(), limit: engine.state.table.config.global.maxRequestBodyBytes
                )
            } else {
                current = .passing(requestEnded: false, responseEnded: false)
                context.fireChannelRead(wrapInboundOut(part))
            }
        case (.passing(_, let responseEnded), .end):
            current = responseEnded ? .none : .passing(requestEnded: true, responseEnded: false)
            context.fireChannelRead(wrapInboundOut(part))
        case (.passing(false, _), .body), (.none, .body), (.none, .end):
            context.fireChannelRead(wrapInboundOut(part))
        case (.collecting(let route, let head, var body, let limit), .body(let chunk)):
            current = .none  // drops the reference, so the body below is uniquely held
            guard body.readableBytes + chunk.readableBytes <= limit else {
                return refuse(head, route: route, error: .payloadTooLarge(limit: limit))
            }
            if body.readableBytes == 0 {
                body = chunk
            } else {
                body.writeImmutableBuffer(chunk)
            }
            current = .collecting(route, head, body: body, limit: limit)
        case (.collecting(let route, let head, let body, _), .end):
            serve(head, route: route, body: body)
        case (.passing(true, _), _), (.parsing, _), (.serving, _):
            // The next request, before this one is answered: it waits.
            queued.append(part)
        case (.collecting, .head), (.passing(false, _), .head):
            // A head inside a request cannot be parsed into one; the decoder does not produce this.
            context.close(promise: nil)
        case (.discarding, .end):
            current = .none
            takeQueued(context)
        case (.discarding, _), (.closing, _):
            break
        }
    }

    /// A client-API request has arrived whole: it gets an id, a trace and a check of its key, and is read and
    /// served.
    private func serve(_ head: HTTPRequest, route: DataPlaneRoute, body: ByteBuffer) {
        guard let context else { return }
        let target = head.path ?? ""
        let presentedKey = route.presentedKey(headers: head.headerFields, target: target)
        let (trace, logger) = begin(head, route: route, target: target, presentedKey: presentedKey)
        let closeAfter = head.headerFields[.connection]?.lowercased().contains("close") ?? false
        let apiKeys = engine.state.table.config.global.apiKeys
        if !apiKeys.isEmpty {
            do throws(GatewayError) {
                try KeyCheck.require(keys: apiKeys, presented: presentedKey)
            } catch {
                return refuse(trace: trace, error: error, route: route, closeAfter: closeAfter)
            }
        }
        let engine = engine
        let fields = head.headerFields
        let read = { @Sendable () -> Result<ProxyEngine.Request, GatewayError> in
            Result { () throws(GatewayError) in
                try engine.request(for: route, target: target, headers: fields, body: body, trace: trace)
            }
        }
        guard body.readableBytes > Self.largestBodyReadOnTheLoop else {
            return serve(
                read(), headers: fields, route: route, trace: trace, logger: logger, closeAfter: closeAfter,
                readOffTheLoop: false
            )
        }
        current = .parsing(closeAfter: closeAfter)
        // On the blocking-work pool: neither the loops nor Swift's executor (Hummingbird's routes) wait on it.
        NIOThreadPool.singleton.runIfActive(eventLoop: context.eventLoop, read).assumeIsolated().whenComplete {
            [self] result in
            guard case .parsing = current else {
                // The client left while its request was read.
                return engine.recorder.finish(trace, status: GatewayError.clientClosedRequest.statusCode)
            }
            switch result {
            case .success(let request):
                serve(
                    request, headers: fields, route: route, trace: trace, logger: logger, closeAfter: closeAfter,
                    readOffTheLoop: true
                )
            case .failure:
                // The pool has stopped: the process is ending.
                refuse(trace: trace, error: .shuttingDown, route: route, closeAfter: true)
            }
        }
    }

    private func serve(
        _ request: Result<ProxyEngine.Request, GatewayError>, headers: HTTPFields, route: DataPlaneRoute,
        trace: RequestTrace, logger: Logger, closeAfter: Bool, readOffTheLoop: Bool
    ) {
        guard let context else { return }
        let table = engine.state.table
        do throws(GatewayError) {
            let request = try request.get()
            trace.request(model: request.inbound.model, stream: request.inbound.stream)
            guard let modelRoute = table.route(for: request.inbound.model) else {
                throw GatewayError.modelNotFound(request.inbound.model)
            }
            let call = ProxyCall(
                engine: engine, client: self, eventLoop: context.eventLoop, request: request, route: modelRoute,
                global: table.config.global, clientHeaders: headers.map { HeaderField($0.name.rawName, $0.value) },
                requestID: requestID, logger: logger, trace: trace, readsOffTheLoop: readOffTheLoop
            )
            current = .serving(call, closeAfter: closeAfter)
            if let shutdownGrace { call.shutdownStarted(grace: shutdownGrace) }
            call.start()
        } catch {
            refuse(trace: trace, error: error, route: route, closeAfter: closeAfter)
        }
    }

    /// The request's id (the client's `X-Request-Id` when it is sensible), its logger and its trace.
    private func begin(_ head: HTTPRequest, route: DataPlaneRoute, target: String, presentedKey: String?)
        -> (RequestTrace, Logger)
    {
        requestID = head.headerFields[.requestID].flatMap(RequestIDMiddleware.acceptable) ?? RequestIDMiddleware.generate()
        var logger = logger
        logger[metadataKey: "request_id"] = .string(requestID)
        let trace = RequestTrace(
            id: requestID, method: head.method.rawValue, path: DataPlaneRoute.path(of: target),
            clientKey: presentedKey
        )
        engine.recorder.started(trace)
        return (trace, logger)
    }

    /// Answers with the gateway's own error.
    private func refuse(trace: RequestTrace, error: GatewayError, route: DataPlaneRoute, closeAfter: Bool) {
        current = .serving(nil, closeAfter: closeAfter)
        engine.recorder.finish(trace, status: error.statusCode)
        respond(ClientAnswer(error, dialect: route.dialect))
    }

    /// The body is larger than `max_request_body_mb`: the answer goes at once, the rest of the body is read and
    /// dropped.
    private func refuse(_ head: HTTPRequest, route: DataPlaneRoute, error: GatewayError) {
        let target = head.path ?? ""
        let (trace, _) = begin(
            head, route: route, target: target, presentedKey: route.presentedKey(headers: head.headerFields, target: target)
        )
        refuse(trace: trace, error: error, route: route, closeAfter: false)
        if case .none = current { current = .discarding }
    }

    // MARK: Answers (called by the call, on the loop)

    var isWritable: Bool { context?.channel.isWritable ?? false }

    /// A whole answer, with its length; the request is done.
    func respond(_ answer: ClientAnswer) {
        guard let context else { return }
        var headers = answer.headers
        headers[.requestID] = requestID
        headers[.contentLength] = String(answer.body.readableBytes)
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .init(code: answer.status), headerFields: headers))), promise: nil)
        if answer.body.readableBytes > 0 { context.write(wrapOutboundOut(.body(answer.body)), promise: nil) }
        answered(context)
    }

    /// The head of a stream (its body goes chunked).
    func startStream(headers: HTTPFields) {
        guard let context else { return }
        var headers = headers
        headers[.requestID] = requestID
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .ok, headerFields: headers))), promise: nil)
    }

    func writeStream(_ buffers: [ByteBuffer]) {
        guard let context else { return }
        for buffer in buffers { context.write(wrapOutboundOut(.body(buffer)), promise: nil) }
        context.flush()
    }

    func endStream() {
        guard let context else { return }
        answered(context)
    }

    /// Closes the connection in the middle of an answer (a client that stopped reading it).
    func abort() {
        guard let context else { return }
        current = .closing
        queued.removeAll()
        context.close(promise: nil)
    }

    /// Ends the answer; the next request, if one is waiting, is taken up.
    private func answered(_ context: ChannelHandlerContext) {
        var closeAfter = false
        if case .serving(_, let close) = current { closeAfter = close }
        current = .none
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if closeAfter {
            current = .closing
            context.close(promise: nil)
            return
        }
        takeQueued(context)
    }

    /// Takes up waiting parts for as long as they can be: a head once nothing is being answered, and the rest of
    /// that request's parts while it is read.
    private func takeQueued(_ context: ChannelHandlerContext) {
        var passedOn = false
        taking: while let part = queued.first {
            switch (current, part) {
            case (.none, _), (.passing(false, _), .body), (.passing(false, _), .end), (.collecting, .body),
                (.collecting, .end), (.discarding, .body), (.discarding, .end):
                queued.removeFirst()
                receive(part, context: context)
                if case .passing = current { passedOn = true }
            default:
                break taking
            }
        }
        // Hummingbird's channel hands reads on when a read completes.
        if passedOn { context.fireChannelReadComplete() }
    }

    // MARK: Hummingbird's answers pass through

    func write(context: ChannelHandlerContext, data: NIOAny, promise: EventLoopPromise<Void>?) {
        context.write(data, promise: promise)
        guard case .end = unwrapOutboundIn(data), case .passing(let requestEnded, _) = current else { return }
        if requestEnded {
            current = .none
            takeQueued(context)
        } else {
            current = .passing(requestEnded: false, responseEnded: true)
        }
    }

    // MARK: The connection

    func channelWritabilityChanged(context: ChannelHandlerContext) {
        if context.channel.isWritable, case .serving(let call?, _) = current { call.clientBecameWritable() }
        context.fireChannelWritabilityChanged()
    }

    private func connectionClosed() {
        if case .serving(let call?, _) = current {
            current = .closing
            call.clientLeft()
        }
        current = .closing
        queued.removeAll()
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is ShutdownStarted {
            let grace = TimeAmount.fromSeconds(engine.state.table.config.global.shutdownGraceSeconds)
            shutdownGrace = grace
            if case .serving(let call?, _) = current { call.shutdownStarted(grace: grace) }
            return
        }
        context.fireUserInboundEventTriggered(event)
    }
}
