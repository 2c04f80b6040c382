import HTTPTypes
@testable import SwitchyardServer
import Testing

@Suite("Data plane routes")
struct DataPlaneRouteTests {
    @Test func clientAPIPostsAreMatchedByPathComponentsWithTheQueryApart() {
        let cases: [(String, DataPlaneRoute?)] = [
            ("/v1/chat/completions", .openAI(.chatCompletions)),
            ("/chat/completions", .openAI(.chatCompletions)),
            ("//v1//chat/completions/", .openAI(.chatCompletions)),
            ("/v1/completions?x=1", .openAI(.completions)),
            ("/embeddings", .openAI(.embeddings)),
            ("/v1/responses", .responses),
            ("/responses", .responses),
            ("/v1/messages", .anthropicMessages),
            ("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse", .gemini(modelAndMethod: "gemini-2.5-flash:streamGenerateContent")),
            // Left to the router: not client-API posts, or not routes at all.
            ("/messages", nil),
            ("/v1/messages/count_tokens", nil),
            ("/v1/responses/resp_1", nil),
            ("/v1/models", nil),
            ("/v1beta/models", nil),
            ("/v1/chat", nil),
            ("/v1/unknown", nil),
        ]
        for (target, route) in cases {
            #expect(DataPlaneRoute(method: .post, target: target) == route, "\(target)")
        }
        #expect(DataPlaneRoute(method: .get, target: "/v1/chat/completions") == nil)
    }

    @Test func geminiRoutesTakeTheKeyFromTheQueryAndOthersOnlyFromHeaders() {
        let headers: HTTPFields = [.authorization: "Bearer header-key"]
        let gemini = DataPlaneRoute.gemini(modelAndMethod: "m:generateContent")
        #expect(gemini.presentedKey(headers: headers, target: "/v1beta/models/m:generateContent?key=a%2Fb") == "a/b")
        #expect(gemini.presentedKey(headers: headers, target: "/v1beta/models/m:generateContent") == "header-key")
        #expect(DataPlaneRoute.responses.presentedKey(headers: headers, target: "/v1/responses?key=q") == "header-key")
        #expect(DataPlaneRoute.query(of: "/a?b=1&c") == "b=1&c")
        #expect(DataPlaneRoute.path(of: "/a?b=1") == "/a")
    }
}
