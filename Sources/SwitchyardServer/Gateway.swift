import Foundation
import Hummingbird
import HummingbirdCore
import Logging
import NIOCore
import NIOPosix
import ServiceLifecycle
import UnixSignals
import SwitchyardCore

/// Where and how to run the gateway.
public struct GatewayOptions: Sendable {
    public var host: String
    public var port: Int
    public var configFile: String
    public var dataDirectory: String
    public var logDirectory: String
    /// The zone cron schedules are evaluated in (`TZ`, default UTC).
    public var timeZone: TimeZone
    /// The clock schedules run on; tests substitute one they control.
    public var clock: any GatewayClock
    /// The sink of `gateway.log` (made by whoever bootstraps logging), flushed by the gateway.
    public var logSink: LogSink?
    /// The event loops that serve client connections and their upstream pools. A test gives the gateway loops of
    /// its own, apart from its fake upstreams' and clients', as separate processes would be.
    public var eventLoopGroup: any EventLoopGroup

    public init(
        host: String, port: Int, configFile: String, dataDirectory: String, logDirectory: String,
        timeZone: TimeZone = .schedules(), clock: any GatewayClock = SystemClock(), logSink: LogSink? = nil,
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton
    ) {
        self.eventLoopGroup = eventLoopGroup
        self.host = host
        self.port = port
        self.configFile = configFile
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
        self.timeZone = timeZone
        self.clock = clock
        self.logSink = logSink
    }
}

/// Assembles the Switchyard application: routes, middleware, upstream connection pools and services.
public enum Gateway {
    /// Runs the gateway until SIGTERM or SIGINT, then shuts down gracefully: in-flight requests and streams get
    /// `shutdown_grace_seconds` to finish (streams still open then end with an error event), usage counters are
    /// saved, the upstream connections are closed.
    public static func serve(config: LoadedConfig, options: GatewayOptions, logger: Logger) async throws {
        let app = makeApplication(config: config, options: options, logger: logger)
        var configuration = ServiceGroupConfiguration(
            services: [app], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
        )
        // Requests and streams end themselves when the grace period in force at shutdown is over (a reload may
        // have changed it); this is only a backstop.
        configuration.maximumGracefulShutdownDuration = .seconds(GlobalSettings.maximumShutdownGrace + 10)
        try await ServiceGroup(configuration: configuration).run()
    }

    /// - Parameter onServerRunning: called with the bound port once the server accepts connections.
    public static func makeApplication(
        config: LoadedConfig,
        options: GatewayOptions,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let metrics = GatewayMetrics()
        let eventLog = LogSink(
            path: (options.logDirectory as NSString).appendingPathComponent("events.log"), toStandardError: false
        )
        let state = GatewayState(
            config: config.config, configFile: config.file,
            files: UsageFiles(dataDirectory: options.dataDirectory, timeZone: options.timeZone),
            responsesDirectory: (options.dataDirectory as NSString).appendingPathComponent("responses"),
            clock: options.clock, logger: logger, metrics: metrics, listenHost: options.host,
            events: EventLog(sink: eventLog)
        )
        let proxies = OutboundProxies(clock: options.clock, cooldown: { state.table.config.global.cooldownSeconds }) {
            proxy, out, reason in
            if out {
                logger.warning("Outbound proxy \(proxy.label) taken out: \(reason)")
            } else {
                logger.info("Outbound proxy \(proxy.label) is back: \(reason)")
            }
            state.event(out ? .proxyDown : .proxyUp, detail: "\(proxy.label): \(reason)")
        }
        let pools = UpstreamPools(group: options.eventLoopGroup, proxies: proxies) {
            UpstreamConnectionPool.Settings(state.table.config.global)
        }
        let requestLog = LogSink(
            path: (options.logDirectory as NSString).appendingPathComponent("requests.log"), toStandardError: false
        )
        let recorder = RequestRecorder(metrics: metrics, requestLog: requestLog, state: state)
        let transport = UpstreamTransport(pools: pools)
        let proxy = ProxyEngine(
            state: state, transport: transport, metrics: metrics, recorder: recorder,
            credentials: Credentials(transport: transport, clock: options.clock)
        )

        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: RequestIDMiddleware())
        router.add(middleware: ErrorMiddleware())
        HealthController().addRoutes(to: router)
        OpenAIController(state: state, proxy: proxy).addRoutes(to: router)
        AnthropicController(proxy: proxy, state: state).addRoutes(to: router)
        GeminiController(proxy: proxy, state: state).addRoutes(to: router)
        ResponsesController(proxy: proxy, state: state).addRoutes(to: router)
        AdminController(state: state, proxies: proxies).addRoutes(to: router)
        MetricsController(state: state, metrics: metrics).addRoutes(to: router)

        return Application(
            router: router,
            server: HTTPServerBuilder { responder in
                GatewayHTTP1Channel(responder: responder, engine: proxy) { ClientConnectionLimits(state.table.config.global) }
            },
            // A deep accept queue: streams open in bursts, and a dropped SYN costs the client a one-second retry.
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil, backlog: 4096),
            // Services stop in reverse order after the server: the upstream pools first, the usage flush last.
            services: [
                LogFlushService(sinks: [requestLog, eventLog] + (options.logSink.map { [$0] } ?? [])),
                UsageFlushService(state: state), UsageResetService(state: state), ReloadOnHangupService(state: state),
                ConfigWatchService(state: state),
                HealthCheckService(state: state, proxy: proxy, eventLoopGroup: options.eventLoopGroup),
                ProxyHealthService(state: state, pools: pools),
                UpstreamPoolService(pools: pools),
            ],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? options.port) },
            eventLoopGroupProvider: .shared(options.eventLoopGroup),
            logger: logger
        )
    }
}
