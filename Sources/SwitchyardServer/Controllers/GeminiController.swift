import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Gemini's native API: `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`, routed by model
/// across its Gemini providers and relayed byte-exact; `GET /v1beta/models[/{model}]` lists the gateway's models
/// in Gemini's shape. Errors come in Google's shape.
struct GeminiController {
    let proxy: ProxyEngine
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let group = router.clientAPIGroup(
            "v1beta/models", dialect: .gemini, recorder: proxy.recorder, state: state, acceptsQueryKey: true
        )
        // One parameter name for both methods: the router cannot tell `{model}` from `{model}:{method}`.
        group.post("{model}") { request, context in
            let body = try await proxy.collectBody(of: request)
            let call = try GeminiCall(
                modelAndMethod: context.parameters.get("model") ?? "", query: request.uri.query ?? "", body: body
            )
            return try await proxy.serve(InboundRequest(gemini: call), request: request, context: context)
        }
        group.get { _, _ in
            OpenAIController.json(["models": state.table.config.models.map { Self.modelObject($0.name) }])
        }
        group.get("{model}") { _, context in
            let name = context.parameters.get("model") ?? ""
            guard state.table.config.model(named: name) != nil else { throw GatewayError.modelNotFound(name) }
            return OpenAIController.json(Self.modelObject(name))
        }
    }

    static func modelObject(_ name: String) -> [String: Any] {
        [
            "name": "models/\(name)", "displayName": name,
            "supportedGenerationMethods": ["generateContent", "streamGenerateContent"],
        ]
    }
}
