import Foundation
import NIOCore

/// A decoded JSON object, as `JSONSerialization` gives it. Translators between dialects work on these; the OpenAI
/// pass-through never builds one.
public typealias JSONObject = [String: Any]

extension JSONValue {
    /// Parses bytes that must hold one JSON object.
    public static func object(_ bytes: some Collection<UInt8>) -> JSONObject? {
        (try? JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])) as? JSONObject
    }

    /// A 2xx upstream answer body as an object, or the invalid-answer error.
    ///
    /// The strict scan comes first because `JSONSerialization` accepts what RFC 8259 does not (trailing commas): a
    /// `/v1/responses` answer passed through is relayed and kept for `previous_response_id` as the provider's bytes,
    /// which must be JSON, and every dialect should refuse the same bodies OpenAI's strict scan refuses.
    public static func answer(_ body: ByteBuffer) throws(GatewayError) -> JSONObject {
        guard (try? JSONObjectScan(body)) != nil, let object = object(body.readableBytesView) else {
            throw .invalidUpstreamAnswer
        }
        return object
    }

    /// A whole number from a JSON value (`JSONSerialization` gives `NSNumber`s), nil for anything else or for
    /// values beyond `TokenUsage.maximumCount`, so that counts from outside are range-checked where they enter.
    public static func count(_ value: Any?) -> Int? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        let double = number.doubleValue
        guard double.isFinite, double >= 0, double <= Double(TokenUsage.maximumCount), double.rounded() == double
        else { return nil }
        return number.intValue
    }
}

extension JSONValue {
    /// Whether a decoded value is a JSON boolean. `value is Bool` cannot tell: on Linux the numbers 0 and 1 from
    /// `JSONSerialization` are `Bool`s too; only the number's type code (`c`) says it was `true`/`false`.
    public static func isBoolean(_ value: Any?) -> Bool {
        guard let number = value as? NSNumber else { return false }
        return number.objCType.pointee == CChar(UInt8(ascii: "c"))
    }

    /// A decoded JSON boolean, never a number.
    public static func bool(_ value: Any?) -> Bool? {
        guard let number = value as? NSNumber, isBoolean(number) else { return nil }
        return number.boolValue
    }

    /// A decoded JSON number, never a boolean.
    public static func number(_ value: Any?) -> NSNumber? {
        guard let number = value as? NSNumber, !isBoolean(number) else { return nil }
        return number
    }
}

extension TokenUsage {
    /// Reads an OpenAI `usage` object already decoded; nil when it has no counts or an unbelievable one.
    public init?(openAIUsage usage: Any?) {
        guard let usage = usage as? JSONObject else { return nil }
        let prompt = JSONValue.count(usage["prompt_tokens"])
        let completion = JSONValue.count(usage["completion_tokens"])
        let total = JSONValue.count(usage["total_tokens"])
        for key in ["prompt_tokens", "completion_tokens", "total_tokens"] where usage[key] != nil && !(usage[key] is NSNull) {
            if JSONValue.count(usage[key]) == nil { return nil }
        }
        guard prompt != nil || completion != nil || total != nil else { return nil }
        self.init(promptTokens: prompt ?? 0, completionTokens: completion ?? 0, totalTokens: total)
    }
}
