import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSOCKS
import NIOSSL
import NIOConcurrencyHelpers
import SwitchyardCore

/// The keep-alive upstream connections of one event loop, per origin: a request made on a client connection's loop
/// is sent and answered on that loop, as in Envoy's and nginx's per-worker pools, so no lock and no thread hop sit
/// between the two sockets.
///
/// Confined to `eventLoop` (hence the unchecked `Sendable`): `execute` and everything the connections call run
/// there. Idle connections are reused last-in first-out (the warmest first) and closed after the idle timeout; at
/// `max_upstream_connections` to one origin further requests wait, in order, for a connection to come free.
final class UpstreamConnectionPool: @unchecked Sendable {
    struct Settings: Sendable {
        var connectTimeout: TimeAmount
        var idleTimeout: TimeAmount
        var maxConnectionsPerOrigin: Int

        init(_ global: GlobalSettings) {
            connectTimeout = .fromSeconds(global.upstreamConnectTimeoutSeconds)
            idleTimeout = .fromSeconds(global.upstreamIdleTimeoutSeconds)
            maxConnectionsPerOrigin = global.maxUpstreamConnections
        }
    }

    /// The connections of one origin; each connection keeps a reference to its own, so handing it back after an
    /// answer needs no lookup by origin.
    final class OriginConnections {
        let origin: UpstreamOrigin
        var idle: [UpstreamConnection] = []
        /// Open or opening, idle ones included.
        var open = 0
        var waiting = CircularBuffer<UpstreamExchange>()

        init(origin: UpstreamOrigin) {
            self.origin = origin
        }
    }

    let eventLoop: any EventLoop
    private let settings: @Sendable () -> Settings
    private let tls: UpstreamTLS
    let proxies: OutboundProxies
    private var origins: [UpstreamOrigin: OriginConnections] = [:]
    private var isShutDown = false

    /// - Parameter settings: read when a connection is opened (or the cap is checked), so a reload applies to the
    ///   next one.
    init(eventLoop: any EventLoop, tls: UpstreamTLS, proxies: OutboundProxies, settings: @escaping @Sendable () -> Settings) {
        self.eventLoop = eventLoop
        self.tls = tls
        self.proxies = proxies
        self.settings = settings
    }

    /// Sends the exchange on an idle connection, a new one, or (at the cap) the next one to come free.
    func execute(_ exchange: UpstreamExchange) {
        eventLoop.preconditionInEventLoop()
        // Its reader may have left before the request reached the loop: then nothing is sent.
        guard !exchange.isFinished else { return }
        guard !isShutDown else {
            exchange.fail(UpstreamTransportError.shutDown)
            return
        }
        let connections = connections(to: exchange.origin)
        while let connection = connections.idle.popLast() {
            if connection.isActive {
                connection.start(exchange)
                return
            }
        }
        if connections.open < settings().maxConnectionsPerOrigin {
            connect(exchange, connections: connections)
        } else {
            connections.waiting.append(exchange)
        }
    }

    /// The connection finished an answer: it serves the next waiting request, or waits idle, or (when it cannot be
    /// reused) closes.
    func release(_ connection: UpstreamConnection, reusable: Bool) {
        guard reusable, !isShutDown, connection.isActive else {
            connection.close()
            return
        }
        let connections = connection.originConnections
        while let waiting = connections.waiting.popFirst() {
            if !waiting.isFinished {
                connection.start(waiting)
                return
            }
        }
        connections.idle.append(connection)
        connection.closeWhenIdle()
    }

    /// An open connection closed: its place goes to the next waiting request.
    func connectionClosed(_ connection: UpstreamConnection) {
        let connections = connection.originConnections
        connections.open -= 1
        if let index = connections.idle.lastIndex(where: { $0 === connection }) {
            connections.idle.remove(at: index)
        }
        serveWaiting(connections)
    }

    /// Refuses new requests, fails those waiting and closes idle connections; busy ones close when their answer
    /// ends.
    func shutdown() {
        eventLoop.preconditionInEventLoop()
        isShutDown = true
        for connections in origins.values {
            while let waiting = connections.waiting.popFirst() { waiting.fail(UpstreamTransportError.shutDown) }
            for connection in connections.idle { connection.close() }
        }
    }

    /// Open connections to `origin`, idle or busy, counting those still opening (for tests and stats).
    func openConnections(to origin: UpstreamOrigin) -> Int {
        origins[origin]?.open ?? 0
    }

    private func connections(to origin: UpstreamOrigin) -> OriginConnections {
        if let connections = origins[origin] { return connections }
        let connections = OriginConnections(origin: origin)
        origins[origin] = connections
        return connections
    }

    private func serveWaiting(_ connections: OriginConnections) {
        while connections.open < settings().maxConnectionsPerOrigin, let waiting = connections.waiting.popFirst() {
            if !waiting.isFinished { connect(waiting, connections: connections) }
        }
    }

    private func connect(_ exchange: UpstreamExchange, connections: OriginConnections) {
        let origin = exchange.origin
        let sslContext: NIOSSLContext?
        do {
            sslContext = try tls.context(for: origin)
        } catch {
            exchange.fail(UpstreamTransportError.tlsFailed("the provider's ca_file could not be read"))
            return
        }
        connections.open += 1
        let settings = settings()
        let connection = UpstreamConnection(pool: self, originConnections: connections, idleTimeout: settings.idleTimeout)
        let serverName = origin.ipAddress == nil ? origin.host : nil
        let proxy = origin.proxy
        // A proxied connection goes to the proxy; a tunnel's first handler speaks to the proxy for it.
        let (host, port, address) = proxy.map { ($0.host, $0.port, try? SocketAddress(ipAddress: $0.host, port: $0.port)) }
            ?? (origin.host, origin.port, origin.ipAddress)
        let bootstrap = ClientBootstrap(group: eventLoop)
            .connectTimeout(settings.connectTimeout)
            .channelOption(.socketOption(.tcp_nodelay), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    switch proxy?.scheme {
                    case .socks5:
                        let target = origin.ipAddress.map(SOCKSAddress.address) ?? .domain(origin.host, port: origin.port)
                        try pipeline.addHandler(SOCKSClientHandler(targetAddress: target))
                    case .http where origin.secure:
                        try pipeline.addHandler(ProxyTunnelHandler(authority: origin.hostHeaderWithPort, authorization: proxy?.authorization))
                    case .http, nil:
                        break
                    }
                    if let sslContext {
                        try pipeline.addHandler(NIOSSLClientHandler(context: sslContext, serverHostname: serverName))
                    }
                    try pipeline.addHTTPClientHandlers(leftOverBytesStrategy: .dropBytes, enableOutboundHeaderValidation: false)
                    try pipeline.addHandler(connection)
                }
            }
        (address.map { bootstrap.connect(to: $0) } ?? bootstrap.connect(host: host, port: port))
            .assumeIsolated()
            .whenComplete { [self] result in
                switch result {
                case .success:
                    if exchange.isFinished {
                        release(connection, reusable: true)
                    } else {
                        connection.start(exchange)
                    }
                case .failure(let error):
                    connections.open -= 1
                    let failure = UpstreamTransportError.from(error)
                    if let proxy {
                        proxies.failed(proxy, reason: failure.description)
                        exchange.fail(UpstreamTransportError.proxyFailed(failure.description))
                    } else {
                        exchange.fail(failure)
                    }
                    serveWaiting(connections)
                }
            }
    }
}

/// TLS client contexts, one per trust setting (system roots, or system roots plus a provider's `ca_file`), made
/// once and shared by every event loop. Certificate and host name verification always stay on.
final class UpstreamTLS: Sendable {
    private let contexts = NIOLockedValueBox<[String: NIOSSLContext]>([:])

    func context(for origin: UpstreamOrigin) throws -> NIOSSLContext? {
        guard origin.secure else { return nil }
        let key = origin.caFile ?? ""
        if let context = contexts.withLockedValue({ $0[key] }) { return context }
        var configuration = TLSConfiguration.makeClientConfiguration()
        if let caFile = origin.caFile {
            configuration.additionalTrustRoots = [.certificates(try NIOSSLCertificate.fromPEMFile(caFile))]
        }
        let context = try NIOSSLContext(configuration: configuration)
        contexts.withLockedValue { $0[key] = context }
        return context
    }
}
