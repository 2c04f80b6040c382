import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// The OpenAI-compatible model list, with and without the `/v1` prefix (the data plane serves the `POST` routes).
struct OpenAIController {
    let state: GatewayState
    let proxy: ProxyEngine

    func addRoutes(to router: Router<GatewayRequestContext>) {
        for prefix in ["/v1", ""] {
            let group = router.clientAPIGroup(
                RouterPath(prefix.isEmpty ? "/" : prefix), dialect: .openAI, recorder: proxy.recorder, state: state
            )
            group.get("models") { _, _ in listModels() }
            group.get("models/{model}") { _, context in
                let name = context.parameters.get("model") ?? ""
                guard state.table.route(for: name) != nil else { throw GatewayError.modelNotFound(name) }
                return Self.json(Self.modelObject(name))
            }
        }
    }

    func listModels() -> Response {
        let models = state.table.listedModelNames(now: state.clock.now(), timeZone: state.timeZone).map(Self.modelObject)
        return Self.json(["object": "list", "data": models])
    }

    static func modelObject(_ name: String) -> [String: Any] {
        ["id": name, "object": "model", "created": 0, "owned_by": "switchyard"]
    }

    static func json(_ object: Any, status: HTTPResponse.Status = .ok) -> Response {
        Response(
            status: status, headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: JSONValue.encode(object)))
        )
    }
}

extension Router<GatewayRequestContext> {
    /// The routes of one client API: errors in its dialect (the router's own middleware renders OpenAI's), each
    /// request traced, the gateway key required.
    func clientAPIGroup(
        _ path: RouterPath, dialect: Dialect, recorder: RequestRecorder, state: GatewayState, acceptsQueryKey: Bool = false
    ) -> RouterGroup<GatewayRequestContext> {
        var group = self.group(path)
        if dialect != .openAI { group = group.add(middleware: ErrorMiddleware(dialect: dialect)) }
        return group.add(middleware: RequestTracingMiddleware(recorder: recorder))
            .add(middleware: APIKeyMiddleware(state: state, acceptsQueryKey: acceptsQueryKey))
    }
}
