import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// Gemini's model list: `GET /v1beta/models[/{model}]` in Gemini's shape (the data plane serves
/// `POST /v1beta/models/{model}:generateContent` and `:streamGenerateContent`). Errors come in Google's shape.
struct GeminiController {
    let proxy: ProxyEngine
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let group = router.clientAPIGroup(
            "v1beta/models", dialect: .gemini, recorder: proxy.recorder, state: state, acceptsQueryKey: true
        )
        group.get { _, _ in
            OpenAIController.json(["models": state.table.listedModelNames(now: state.clock.now(), timeZone: state.timeZone).map(Self.modelObject)])
        }
        group.get("{model}") { _, context in
            let name = context.parameters.get("model") ?? ""
            guard state.table.route(for: name) != nil else { throw GatewayError.modelNotFound(name) }
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
