import Hummingbird
import NIOCore
import SwitchyardCore

/// `GET /metrics` in Prometheus text format; admin authentication unless `_global.metrics_public` is true.
struct MetricsController {
    let state: GatewayState
    let metrics: GatewayMetrics

    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("metrics") { request, context in
            if !state.table.config.global.metricsPublic {
                try AdminAuthMiddleware.authorize(request, context: context, state: state)
            }
            return Response(
                status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: .init(byteBuffer: ByteBuffer(bytes: metrics.scrape(state: state)))
            )
        }
    }
}
