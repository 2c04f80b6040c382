import Hummingbird
import NIOCore
import SwitchyardCore

/// Protects `/admin/*` (and `/metrics`): `_global.admin_key` if set, else the gateway keys, as Bearer or
/// `x-api-key`. With no key configured at all, only clients on the loopback interface are answered.
struct AdminAuthMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let state: GatewayState

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        try Self.authorize(request, context: context, state: state)
        return try await next(request, context)
    }

    static func authorize(_ request: Request, context: Context, state: GatewayState) throws(GatewayError) {
        let keys = adminKeys(state.table.config.global)
        guard keys.isEmpty else {
            try KeyCheck.require(keys: keys, in: request.headers)
            return
        }
        guard isLoopback(context.remoteAddress) else {
            throw GatewayError(
                status: 403, type: "permission_error", code: "admin_loopback_only",
                message: "No admin_key or api_key is configured, so admin endpoints only answer on loopback."
            )
        }
    }

    static func adminKeys(_ global: GlobalSettings) -> [String] {
        global.adminKey.map { [$0] } ?? global.apiKeys
    }

    static func isLoopback(_ address: SocketAddress?) -> Bool {
        switch address {
        case .v4:
            return address?.ipAddress?.hasPrefix("127.") ?? false
        case .v6:
            let ip = address?.ipAddress?.lowercased() ?? ""
            return ip == "::1" || ip.hasPrefix("::ffff:127.")
        case .unixDomainSocket:
            return true
        default:
            return false
        }
    }
}
