import Foundation
import HTTPTypes
import NIOCore
import SwitchyardCore

/// A client-API request the data plane serves itself, on its connection's event loop; every other request
/// (admin, health, metrics, model lists, kept responses) goes on to the Hummingbird router.
enum DataPlaneRoute: Equatable {
    /// `POST /v1/{endpoint}` or `POST /{endpoint}`.
    case openAI(APIEndpoint)
    /// `POST /v1/responses` or `POST /responses`.
    case responses
    /// `POST /v1/messages`.
    case anthropicMessages
    /// `POST /v1beta/models/{model}:{method}`, with the last path component.
    case gemini(modelAndMethod: String)

    /// Matches a request line the way the router does: by path components, empty ones skipped, the query apart.
    /// (On the UTF-8 bytes: every request passes here, and splitting `Character`s cost several times as much.)
    init?(method: HTTPRequest.Method, target: String) {
        guard method == .post else { return nil }
        let bytes = target.utf8
        let pathEnd = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.endIndex
        var components = bytes[..<pathEnd].split(separator: UInt8(ascii: "/"))
        func isComponent(_ index: Int, _ name: String) -> Bool { components[index].elementsEqual(name.utf8) }
        if components.count == 3, isComponent(0, "v1beta"), isComponent(1, "models") {
            self = .gemini(modelAndMethod: String(Substring(components[2])))
            return
        }
        let versioned = components.first?.elementsEqual("v1".utf8) ?? false
        if versioned { components.removeFirst() }
        switch components.count {
        case 1 where isComponent(0, "responses"): self = .responses
        case 1 where versioned && isComponent(0, "messages"): self = .anthropicMessages
        case 1 where isComponent(0, "completions"): self = .openAI(.completions)
        case 1 where isComponent(0, "embeddings"): self = .openAI(.embeddings)
        case 2 where isComponent(0, "chat") && isComponent(1, "completions"): self = .openAI(.chatCompletions)
        default: return nil
        }
    }

    /// The shape of its errors.
    var dialect: Dialect {
        switch self {
        case .openAI, .responses: .openAI
        case .anthropicMessages: .anthropic
        case .gemini: .gemini
        }
    }

    /// The gateway key a request presents: as a header, or on Gemini's routes also as `?key=` (as Google accepts).
    func presentedKey(headers: HTTPFields, target: String) -> String? {
        if case .gemini = self, let key = Self.queryValue("key", in: target) { return key }
        return KeyCheck.presentedKey(in: headers)
    }

    /// The path of a request target, without its query. (The mark is looked for in the UTF-8 bytes: searching
    /// `Character`s cost about 7,500 instructions a request.)
    static func path(of target: String) -> String {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return target }
        return String(target[..<mark])
    }

    /// The query string of a request target ("" when it has none).
    static func query(of target: String) -> Substring {
        guard let mark = target.utf8.firstIndex(of: UInt8(ascii: "?")) else { return "" }
        return target[target.utf8.index(after: mark)...]
    }

    static func queryValue(_ name: String, in target: String) -> String? {
        for pair in query(of: target).split(separator: "&") {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, parts[0] == name else { continue }
            let raw = parts[1].replacingOccurrences(of: "+", with: " ")
            return raw.removingPercentEncoding ?? raw
        }
        return nil
    }
}
