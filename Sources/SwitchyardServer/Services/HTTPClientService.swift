import AsyncHTTPClient
import ServiceLifecycle

/// Owns the upstream HTTP client: shuts it down after the server has stopped (services stop in reverse order).
struct HTTPClientService: Service {
    let client: HTTPClient

    func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}
