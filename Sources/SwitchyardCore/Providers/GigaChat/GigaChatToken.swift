import Foundation
import NIOCore

/// An access token from GigaChat's OAuth endpoint.
public struct GigaChatToken: Sendable, Equatable {
    public var accessToken: String
    public var expiresAt: Date

    public init(accessToken: String, expiresAt: Date) {
        self.accessToken = accessToken
        self.expiresAt = expiresAt
    }

    /// Parses `{"access_token","expires_at"}` (expires_at in Unix milliseconds) or `{"tok","exp"}`; the
    /// expiry's unit is decided by magnitude (seconds vs milliseconds); rejects (GatewayError with status 502,
    /// type api_error, code "invalid_token_response") empty tokens, tokens with control characters, and expiries
    /// that are not finite or are absurd (before 2000 or more than a year ahead of `now`).
    public init(responseBody: ByteBuffer, now: Date) throws(GatewayError) {
        guard let answer = JSONValue.object(responseBody.readableBytesView) else {
            throw Self.invalidResponse("is not a JSON object")
        }
        guard let token = (answer["access_token"] as? String) ?? (answer["tok"] as? String), !token.isEmpty else {
            throw Self.invalidResponse("has no access token")
        }
        // The token goes into an Authorization header, where a control character could end or split it.
        guard !token.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw Self.invalidResponse("has an access token with control characters")
        }
        guard let expiry = (answer["expires_at"] as? NSNumber) ?? (answer["exp"] as? NSNumber),
            expiry.doubleValue.isFinite
        else {
            throw Self.invalidResponse("has no usable expiry")
        }
        // 1e11 seconds is the year 5138 and 1e11 milliseconds is 1973, so no believable expiry is ambiguous.
        let seconds = expiry.doubleValue >= 1e11 ? expiry.doubleValue / 1000 : expiry.doubleValue
        guard seconds >= Self.earliestExpiry, seconds <= now.timeIntervalSince1970 + Self.longestLifetime else {
            throw Self.invalidResponse("has an unbelievable expiry")
        }
        self.init(accessToken: token, expiresAt: Date(timeIntervalSince1970: seconds))
    }

    /// 2000-01-01T00:00:00Z.
    private static let earliestExpiry: TimeInterval = 946_684_800
    /// GigaChat's tokens last 30 minutes; a year ahead is already absurd.
    private static let longestLifetime: TimeInterval = 365 * 86_400

    private static func invalidResponse(_ problem: String) -> GatewayError {
        GatewayError(
            status: 502, type: "api_error", code: "invalid_token_response",
            message: "GigaChat's OAuth answer \(problem)."
        )
    }

    /// The form body of a token request: `scope=<scope>` percent-encoded.
    public static func formBody(scope: String) -> String {
        var body = "scope="
        for byte in scope.utf8 {
            if Self.unreservedBytes.contains(byte) {
                body.append(Character(Unicode.Scalar(byte)))
            } else {
                body += "%" + String(byte >> 4, radix: 16, uppercase: true) + String(byte & 0x0F, radix: 16, uppercase: true)
            }
        }
        return body
    }

    /// RFC 3986's unreserved characters, the only ones a form value carries as they are.
    private static let unreservedBytes = Set(Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~".utf8))
}
