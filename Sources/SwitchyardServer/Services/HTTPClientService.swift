import ServiceLifecycle

/// Owns the upstream HTTP clients: shuts them down after the server has stopped (services stop in reverse order).
struct HTTPClientService: Service {
    let clients: UpstreamClients

    func run() async throws {
        try? await gracefulShutdown()
        try await clients.shutdown()
    }
}
