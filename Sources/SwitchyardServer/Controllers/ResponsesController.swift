import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import SwitchyardCore

/// OpenAI's kept responses, with and without the `/v1` prefix: `GET` and `DELETE /responses/{id}`,
/// `GET /responses/{id}/input_items`, each visible only to the gateway key that created it (the data plane serves
/// `POST /responses`).
struct ResponsesController {
    let proxy: ProxyEngine
    let state: GatewayState

    func addRoutes(to router: Router<GatewayRequestContext>) {
        for path in ["/v1/responses", "/responses"] {
            let group = router.clientAPIGroup(RouterPath(path), dialect: .openAI, recorder: proxy.recorder, state: state)
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

    private func kept(_ id: String, context: GatewayRequestContext) throws -> StoredResponse {
        guard let stored = state.responses.get(id, owner: owner(of: context)) else {
            throw GatewayError.responseNotFound(id)
        }
        return stored
    }

    private func owner(of context: GatewayRequestContext) -> String {
        ProxyEngine.owner(of: context.trace, state: state)
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
