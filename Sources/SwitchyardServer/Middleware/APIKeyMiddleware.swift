import Foundation
import HTTPTypes
import Hummingbird
import SwitchyardCore

/// Requires one of `_global.api_key` on the client API routes, as `Authorization: Bearer <key>`, `x-api-key`,
/// `x-goog-api-key` or `x-server-key` (and `?key=` on Gemini's routes, as Google's API accepts). With no key
/// configured the routes are open.
struct APIKeyMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext
    let state: GatewayState
    /// Whether the `key` query parameter counts (Gemini's native routes).
    var acceptsQueryKey = false

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let keys = state.table.config.global.apiKeys
        if !keys.isEmpty {
            let queryKey = acceptsQueryKey ? request.uri.queryParameters.get("key") : nil
            try KeyCheck.require(keys: keys, presented: queryKey ?? KeyCheck.presentedKey(in: request.headers))
        }
        return try await next(request, context)
    }
}

/// Reading and checking gateway keys.
enum KeyCheck {
    /// The key a client presented: `Authorization: Bearer <key>` or `x-api-key: <key>`.
    static func presentedKey(in headers: HTTPFields) -> String? {
        if let authorization = headers[.authorization] {
            let parts = authorization.split(separator: " ", maxSplits: 1)
            if parts.count == 2, parts[0].lowercased() == "bearer" {
                return parts[1].trimmingCharacters(in: .whitespaces)
            }
        }
        for name in keyHeaders {
            if let key = headers[name] { return key.trimmingCharacters(in: .whitespaces) }
        }
        return nil
    }

    private static let keyHeaders: [HTTPField.Name] = ["x-api-key", "x-goog-api-key", "x-server-key"].compactMap { HTTPField.Name($0) }

    static func require(keys: [String], in headers: HTTPFields) throws(GatewayError) {
        try require(keys: keys, presented: presentedKey(in: headers))
    }

    static func require(keys: [String], presented: String?) throws(GatewayError) {
        guard let presented, !presented.isEmpty else {
            throw .unauthorized("Missing API key. Send it as 'Authorization: Bearer <key>' or 'x-api-key: <key>'.")
        }
        // Every configured key is compared in full, so timing reveals neither which key matched nor how much of it.
        var matched = false
        for key in keys where constantTimeEquals(key, presented) {
            matched = true
        }
        guard matched else { throw .unauthorized("Invalid API key.") }
    }

    /// Compares without an early exit; the running time depends only on the lengths.
    static func constantTimeEquals(_ expected: String, _ presented: String) -> Bool {
        let a = Array(expected.utf8)
        let b = Array(presented.utf8)
        var difference = UInt8(truncatingIfNeeded: a.count ^ b.count)
        for index in 0..<max(a.count, b.count) {
            let x = index < a.count ? a[index] : 0
            let y = index < b.count ? b[index] : 0
            difference |= x ^ y
        }
        return difference == 0 && a.count == b.count
    }
}
