import ServiceLifecycle

/// Owns the upstream connection pools: closes them after the server has stopped (services stop in reverse order).
struct UpstreamPoolService: Service {
    let pools: UpstreamPools

    func run() async throws {
        try? await gracefulShutdown()
        await pools.shutdown()
    }
}
