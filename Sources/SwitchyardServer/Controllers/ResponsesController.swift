import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// OpenAI's Responses API, with and without the `/v1` prefix: `POST /responses` served by any provider kind
/// (byte-exact by providers marked `responses: true`, translated to chat completions for the others), and the
/// kept responses (`GET` and `DELETE /responses/{id}`, `GET /responses/{id}/input_items`), each visible only to the
/// gateway key that created it.
struct ResponsesController {
    let proxy: ProxyEngine
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        for path in ["/v1/responses", "/responses"] {
            let group = router.clientAPIGroup(RouterPath(path), dialect: .openAI, recorder: proxy.recorder, state: state)
            group.post { request, context in
                try await create(request, context: context)
            }
            group.get("{id}") { _, context in
                let stored = try kept(context.parameters.get("id") ?? "", context: context)
                return Response(
                    status: .ok, headers: [.contentType: "application/json"],
                    body: .init(byteBuffer: ByteBuffer(bytes: stored.response))
                )
            }
            group.delete("{id}") { _, context in
                let id = context.parameters.get("id") ?? ""
                guard state.responses.delete(id, owner: owner(of: context)) else {
                    throw GatewayError.responseNotFound(id)
                }
                return OpenAIController.json(["id": id, "object": "response", "deleted": true])
            }
            group.get("{id}/input_items") { request, context in
                let stored = try kept(context.parameters.get("id") ?? "", context: context)
                return OpenAIController.json(try Self.inputItemsPage(stored, query: request.uri.queryParameters))
            }
        }
    }

    private func create(_ request: Request, context: GatewayRequestContext) async throws -> Response {
        var responses = try ResponsesRequest(body: try await proxy.collectBody(of: request))
        let ownerKey = owner(of: context)
        var session = ProxyEngine.sessionID(in: request.headers)
        if let previousID = responses.previousResponseID {
            guard let previous = state.responses.get(previousID, owner: ownerKey) else {
                throw GatewayError.previousResponseNotFound(previousID)
            }
            responses = responses.continuing(after: previous.history())
            session = session ?? previous.sessionID
            // A session the gateway forgot (a restart) goes on where its previous response was served.
            if let session, previous.model == responses.model,
                state.sessions.provider(session: session, model: previous.model) == nil
            {
                state.sessions.record(session: session, model: previous.model, provider: previous.provider)
            }
        }
        let call = ResponsesCall(request: responses, createdAt: state.clock.now())
        let keeping =
            responses.store
            ? ResponseKeeping(owner: ownerKey, session: session, input: JSONValue.encode(responses.inputItems())) : nil
        return try await proxy.serve(
            InboundRequest(responses: call), request: request, context: context, session: session, keeping: keeping
        )
    }

    private func kept(_ id: String, context: GatewayRequestContext) throws -> StoredResponse {
        guard let stored = state.responses.get(id, owner: owner(of: context)) else {
            throw GatewayError.responseNotFound(id)
        }
        return stored
    }

    /// The fingerprint of the gateway key a request presented, as its trace already holds it ("" when the gateway
    /// has no keys: one owner).
    private func owner(of context: GatewayRequestContext) -> String {
        guard !state.table.config.global.apiKeys.isEmpty else { return "" }
        return context.trace?.clientKeyFingerprint ?? ""
    }

    /// One page of a kept response's input items, as OpenAI lists them: `order` desc (default) or asc, `limit`
    /// 1...100 (default 20), `after` an item id.
    static func inputItemsPage(_ stored: StoredResponse, query: Parameters) throws(GatewayError) -> JSONObject {
        let items = (try? JSONSerialization.jsonObject(with: Data(stored.input))) as? [Any] ?? []
        var listed = items.enumerated().map { index, item -> JSONObject in
            var object = item as? JSONObject ?? [:]
            if object["id"] == nil { object["id"] = "item_\(stored.id)_\(index)" }
            return object
        }
        switch query.get("order") ?? "desc" {
        case "desc": listed.reverse()
        case "asc": break
        default: throw .invalidRequest("'order' must be 'asc' or 'desc'.", param: "order", code: "invalid_value")
        }
        var limit = 20
        if let text = query.get("limit") {
            guard let value = Int(text), (1...100).contains(value) else {
                throw .invalidRequest("'limit' must be an integer from 1 to 100.", param: "limit", code: "invalid_value")
            }
            limit = value
        }
        if let after = query.get("after") {
            guard let index = listed.firstIndex(where: { $0["id"] as? String == after }) else {
                throw .invalidRequest("No input item with id '\(GatewayError.clipped(after))'.", param: "after", code: "invalid_value")
            }
            listed.removeFirst(index + 1)
        }
        let page = Array(listed.prefix(limit))
        return [
            "object": "list", "data": page, "first_id": page.first?["id"] ?? NSNull(),
            "last_id": page.last?["id"] ?? NSNull(), "has_more": listed.count > page.count,
        ]
    }
}
