import Hummingbird
import SwitchyardCore

/// `GET /health`: open to everyone, for load balancers and container health checks.
struct HealthController {
    func addRoutes(to router: Router<GatewayRequestContext>) {
        router.get("health") { _, _ in
            OpenAIController.json(["status": "healthy", "version": SwitchyardVersion.current])
        }
    }
}
