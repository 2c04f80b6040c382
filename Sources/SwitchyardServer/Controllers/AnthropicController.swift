import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import SwitchyardCore

/// Anthropic's `POST /v1/messages/count_tokens` (the data plane serves `POST /v1/messages`). Errors come in
/// Anthropic's shape.
struct AnthropicController {
    let proxy: ProxyEngine
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        let group = router.clientAPIGroup("v1/messages", dialect: .anthropic, recorder: proxy.recorder, state: state)
        group.post("count_tokens") { request, context in
            try await countTokens(request, context: context)
        }
    }

    /// Asked of the model's first Anthropic provider that answers; otherwise estimated from the text.
    private func countTokens(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        let limit = state.table.config.global.maxRequestBodyBytes
        let body: ByteBuffer
        do {
            body = try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw GatewayError.payloadTooLarge(limit: limit)
        }
        let messages = try AnthropicMessagesRequest(body: body, requiresMaxTokens: false)
        guard let route = state.table.route(for: messages.model) else { throw GatewayError.modelNotFound(messages.model) }
        let (clientHeaders, clientKeys) = ClientKeyOverride.split(
            request.headers.map { HeaderField($0.name.rawName, $0.value) }, names: route.clientKeyHeaders
        )
        for slot in route.providers where slot.config.enabled && slot.config.kind is AnthropicKind {
            let provider = slot.config.serving(model: messages.model)
            do {
                var credential = clientKeys.key(for: provider) ?? ""
                if credential.isEmpty { credential = try await proxy.credential(for: provider, kind: provider.kind) }
                let upstream = AnthropicKind.countTokensRequest(
                    messages, provider: provider, credential: credential, clientHeaders: clientHeaders
                )
                let response = try await proxy.transport.send(upstream, provider: provider, kind: provider.kind, on: context.eventLoop)
                let answer = try await response.body.collect(upTo: ProxyEngine.maximumErrorBodyBytes)
                if (200..<300).contains(response.status), JSONValue.object(answer.readableBytesView) != nil {
                    return Response(
                        status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: answer)
                    )
                }
                context.logger.warning("Provider \(provider.name) could not count tokens (HTTP \(response.status)); trying the next")
            } catch {
                context.logger.warning("Provider \(provider.name) could not count tokens: \(error); trying the next")
            }
        }
        return OpenAIController.json(["input_tokens": messages.estimatedInputTokens])
    }
}
