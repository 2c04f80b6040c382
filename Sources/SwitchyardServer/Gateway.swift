import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// Where and how to run the gateway.
public struct GatewayOptions: Sendable {
    public var host: String
    public var port: Int
    public var configFile: String
    public var dataDirectory: String
    public var logDirectory: String

    public init(host: String, port: Int, configFile: String, dataDirectory: String, logDirectory: String) {
        self.host = host
        self.port = port
        self.configFile = configFile
        self.dataDirectory = dataDirectory
        self.logDirectory = logDirectory
    }
}

/// Assembles the Switchyard application: routes, middleware, upstream client and services.
public enum Gateway {
    /// Runs the gateway until SIGTERM or SIGINT.
    public static func serve(config: LoadedConfig, options: GatewayOptions, logger: Logger) async throws {
        try await makeApplication(config: config, options: options, logger: logger).runService()
    }

    /// - Parameter onServerRunning: called with the bound port once the server accepts connections.
    public static func makeApplication(
        config: LoadedConfig,
        options: GatewayOptions,
        logger: Logger,
        onServerRunning: @escaping @Sendable (Int) async -> Void = { _ in }
    ) -> some ApplicationProtocol {
        let state = GatewayState(config: config.config, configFile: config.file)
        let client = UpstreamTransport.makeClient()
        let proxy = ProxyEngine(state: state, transport: UpstreamTransport(client: client))

        let router = Router(context: GatewayRequestContext.self)
        router.add(middleware: OpenAIErrorMiddleware())
        HealthController().addRoutes(to: router)
        OpenAIController(state: state, proxy: proxy).addRoutes(to: router)

        return Application(
            router: router,
            configuration: .init(address: .hostname(options.host, port: options.port), serverName: nil),
            services: [HTTPClientService(client: client)],
            onServerRunning: { channel in await onServerRunning(channel.localAddress?.port ?? options.port) },
            logger: logger
        )
    }
}
