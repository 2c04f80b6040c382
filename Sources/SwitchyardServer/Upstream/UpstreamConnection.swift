import NIOCore
import NIOHTTP1

/// One keep-alive HTTP/1.1 connection to an upstream origin, the last handler of its channel, carrying one
/// exchange at a time and handed back to its pool after each complete answer.
///
/// Confined to its channel's event loop (hence the unchecked `Sendable`). Reads from the socket are passed on only
/// while the exchange wants more data, which is the read half of the relay's backpressure.
final class UpstreamConnection: ChannelDuplexHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundIn = HTTPClientRequestPart
    typealias OutboundOut = HTTPClientRequestPart

    private let pool: UpstreamConnectionPool
    /// Its origin's place in the pool.
    let originConnections: UpstreamConnectionPool.OriginConnections
    /// How long it may wait idle in the pool (the setting when it was opened).
    private let idleTimeout: TimeAmount
    private var context: ChannelHandlerContext?
    private var exchange: UpstreamExchange?
    /// Whether the channel became active (only then does its closing count against the pool).
    private var opened = false
    /// Whether an earlier exchange used this connection: only a reused one can be stale.
    private var hasServed = false
    private var currentIsReuse = false
    private var requestWritten = false
    private var responseStarted = false
    private var keepAlive = true
    private var pendingRead = false
    /// Armed at most once per idle timeout, not per answer: when it fires early (the connection was busy in
    /// between) it re-arms for the rest of the time from `idleSince`.
    private var idleTimer: Scheduled<Void>?
    /// When it was last handed back to the pool; nil while it carries an exchange.
    private var idleSince: NIODeadline?

    init(pool: UpstreamConnectionPool, originConnections: UpstreamConnectionPool.OriginConnections, idleTimeout: TimeAmount) {
        self.pool = pool
        self.originConnections = originConnections
        self.idleTimeout = idleTimeout
    }

    var isActive: Bool { context?.channel.isActive ?? false }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
    }

    /// The context holds this handler: keeping it past the channel's end would keep both alive for good.
    func handlerRemoved(context: ChannelHandlerContext) {
        self.context = nil
    }

    func channelActive(context: ChannelHandlerContext) {
        opened = true
        context.fireChannelActive()
    }

    /// Sends `exchange`'s request on this connection.
    func start(_ exchange: UpstreamExchange) {
        guard let context else {
            exchange.fail(UpstreamTransportError.closedEarly)
            return
        }
        idleSince = nil
        self.exchange = exchange
        exchange.attach(self)
        currentIsReuse = hasServed
        hasServed = true
        requestWritten = false
        responseStarted = false
        keepAlive = true
        context.write(wrapOutboundOut(.head(exchange.requestHead)), promise: nil)
        if exchange.requestBody.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(exchange.requestBody))), promise: nil)
        }
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: written)
        written.futureResult.assumeIsolated().whenComplete { [self] result in
            guard self.exchange === exchange else { return }
            switch result {
            case .success: requestWritten = true
            case .failure(let error): lost(UpstreamTransportError.from(error))
            }
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard let exchange else {
            // An answer nobody asked for: the connection is out of step and cannot be trusted.
            context.close(promise: nil)
            return
        }
        responseStarted = true
        switch unwrapInboundIn(data) {
        case .head(let head):
            keepAlive = head.isKeepAlive
            exchange.receivedHead(head)
        case .body(let chunk):
            exchange.receivedBody(chunk)
        case .end:
            self.exchange = nil
            // Idle, it keeps reading: that is how a close by the upstream is noticed.
            resumeReading()
            // Back in the pool before the exchange hears of its end, so that a next attempt its receiver starts
            // at once can take this connection. A request still being written when the answer ended (an early
            // answer) leaves the stream out of step.
            pool.release(self, reusable: keepAlive && requestWritten)
            exchange.receivedEnd()
        }
    }

    func read(context: ChannelHandlerContext) {
        if let exchange, !exchange.wantsMoreData {
            pendingRead = true
        } else {
            context.read()
        }
    }

    /// The exchange has room again.
    func resumeReading() {
        guard pendingRead, let context else { return }
        pendingRead = false
        context.read()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        let failure = UpstreamTransportError.from(error)
        // Through a proxy, a refused tunnel or a TLS failure is the proxy's.
        if let proxy = originConnections.origin.proxy, failure.isProxyOrTLSFailure {
            pool.proxies.failed(proxy, reason: failure.description)
        }
        lost(failure)
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        idleTimer?.cancel()
        idleTimer = nil
        lost(.closedEarly)
        if opened { pool.connectionClosed(self) }
        context.fireChannelInactive()
    }

    /// The connection failed under the current exchange. A reused connection that closed before the request was
    /// written (the server timed it out while it sat in the pool: the stale keep-alive race) costs the request
    /// nothing: it moves to another connection. Anything later fails it, since the upstream may have acted on it.
    private func lost(_ error: UpstreamTransportError) {
        guard let exchange else { return }
        self.exchange = nil
        exchange.attach(nil)
        context?.close(promise: nil)
        if currentIsReuse, !requestWritten, !responseStarted, exchange.staleRetriesLeft > 0, !exchange.isFinished {
            exchange.staleRetriesLeft -= 1
            pool.execute(exchange)
        } else {
            exchange.fail(error)
        }
    }

    /// The exchange ended early (its reader left, or its deadline passed): the rest of its answer is not wanted.
    func abandon(_ abandoned: UpstreamExchange) {
        guard exchange === abandoned else { return }
        exchange = nil
        context?.close(promise: nil)
    }

    /// Closes the connection if no request takes it within its idle timeout.
    func closeWhenIdle() {
        let now = NIODeadline.now()
        idleSince = now
        if idleTimer == nil { armIdleTimer(at: now + idleTimeout) }
    }

    private func armIdleTimer(at deadline: NIODeadline) {
        guard let context else { return }
        idleTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            idleTimer = nil
            guard let idleSince else { return }  // busy: the next hand-back arms it again
            let due = idleSince + idleTimeout
            if due <= .now() {
                self.context?.close(promise: nil)
            } else {
                armIdleTimer(at: due)
            }
        }
    }

    func close() {
        context?.close(promise: nil)
    }
}
