import Foundation

/// A Responses API response the gateway keeps so that `previous_response_id` works with every provider.
///
/// `input` and `response` are JSON text made by the gateway (an array of input items, the response object as the
/// client got it); they are kept as bytes because most stored responses are never read again.
public struct StoredResponse: Sendable, Equatable {
    /// `resp_…`; see `isValidID`.
    public var id: String
    /// Fingerprint of the gateway key that created it ("" when the gateway has no keys).
    public var owner: String
    /// Name of the provider that served it.
    public var provider: String
    /// Public model name.
    public var model: String
    /// The session it belongs to (`X-Session-Id`, or the id of the chain's first response).
    public var sessionID: String?
    public var createdAt: Date
    /// JSON array: the full input items it was made from (history included).
    public var input: [UInt8]
    /// JSON object: the response object as returned to the client.
    public var response: [UInt8]

    public init(
        id: String, owner: String, provider: String, model: String, sessionID: String?, createdAt: Date,
        input: [UInt8], response: [UInt8]
    ) {
        self.id = id
        self.owner = owner
        self.provider = provider
        self.model = model
        self.sessionID = sessionID
        self.createdAt = createdAt
        self.input = input
        self.response = response
    }

    /// The memory it takes, as counted against `ResponseStoreLimits.maximumBytes`.
    public var byteCount: Int {
        input.count + response.count + id.utf8.count + owner.utf8.count + provider.utf8.count + model.utf8.count
            + (sessionID?.utf8.count ?? 0)
    }

    /// The items a continuation prepends: the input items, then the response's `output` items.
    public func history() -> [JSONObject] {
        let inputItems = (try? JSONSerialization.jsonObject(with: Data(input))) as? [Any] ?? []
        let outputItems = JSONValue.object(response)?["output"] as? [Any] ?? []
        return (inputItems + outputItems).compactMap { $0 as? JSONObject }
    }

    public static let maximumIDLength = 200

    /// Whether `id` may name a stored response: 1 to 200 of `A-Z a-z 0-9 _ -`, so it is always a safe file name.
    public static func isValidID(_ id: String) -> Bool {
        guard (1...maximumIDLength).contains(id.utf8.count) else { return false }
        return id.utf8.allSatisfy { byte in
            switch byte {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "_"), UInt8(ascii: "-"):
                true
            default: false
            }
        }
    }
}

// MARK: - File form

extension StoredResponse {
    /// Why a file does not hold a stored response.
    public struct FileError: Error, Equatable, CustomStringConvertible {
        public var reason: String
        public var description: String { reason }
    }

    /// Latest `created_at` a file may carry (year 5138): anything later is not a time this gateway wrote.
    static let maximumCreatedAt: TimeInterval = 1e11

    /// `{"id","owner","provider","model"[,"session_id"],"created_at":<unix seconds>,"input":[…],"response":{…}}`,
    /// with `input` and `response` copied as they are.
    public func fileBytes() -> [UInt8] {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(byteCount + 128)
        func appendMember(_ key: String, _ value: [UInt8]) {
            bytes.append(bytes.isEmpty ? UInt8(ascii: "{") : UInt8(ascii: ","))
            JSONText.appendQuoted(key, to: &bytes)
            bytes.append(UInt8(ascii: ":"))
            bytes.append(contentsOf: value)
        }
        appendMember("id", JSONText.quoted(id))
        appendMember("owner", JSONText.quoted(owner))
        appendMember("provider", JSONText.quoted(provider))
        appendMember("model", JSONText.quoted(model))
        if let sessionID { appendMember("session_id", JSONText.quoted(sessionID)) }
        // Swift prints a Double as the shortest text that reads back as the same value.
        appendMember("created_at", Array("\(createdAt.timeIntervalSince1970)".utf8))
        appendMember("input", input)
        appendMember("response", response)
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// Reads a file written by `fileBytes()`; `created_at` may also be ISO-8601 text.
    public init(fileBytes bytes: [UInt8]) throws(FileError) {
        let scan: JSONObjectScan
        do { scan = try JSONObjectScan(bytes) } catch { throw FileError(reason: "is not a JSON object (\(error))") }
        var members: [String: JSONObjectScan.Member] = [:]
        for member in scan.members {
            // A repeated key could let text inside `input` stand in for a field written before it.
            guard members.updateValue(member, forKey: member.key) == nil else {
                throw FileError(reason: "has \"\(member.key)\" twice")
            }
        }
        func raw(_ member: JSONObjectScan.Member) -> [UInt8] { Array(bytes[member.valueRange]) }
        func string(_ key: String) throws(FileError) -> String {
            guard let member = members[key], member.kind == .string,
                let value = bytes.withUnsafeBytes({ JSONObjectScan.decodeString($0, in: member.valueRange) })
            else { throw FileError(reason: "has no string \"\(key)\"") }
            return value
        }
        let id = try string("id")
        guard Self.isValidID(id) else { throw FileError(reason: "has an invalid id") }
        let sessionID: String?
        switch members["session_id"]?.kind {
        case nil, .null?: sessionID = nil
        default: sessionID = try string("session_id")
        }
        guard let input = members["input"], input.kind == .array else {
            throw FileError(reason: "has no \"input\" array")
        }
        guard let response = members["response"], response.kind == .object else {
            throw FileError(reason: "has no \"response\" object")
        }
        self.init(
            id: id, owner: try string("owner"), provider: try string("provider"), model: try string("model"),
            sessionID: sessionID, createdAt: try Self.createdAt(members["created_at"], in: bytes),
            input: raw(input), response: raw(response))
    }

    private static func createdAt(_ member: JSONObjectScan.Member?, in bytes: [UInt8]) throws(FileError) -> Date {
        let invalid = FileError(reason: "has no \"created_at\" between 1970 and 5138 (unix seconds or ISO-8601)")
        guard let member else { throw invalid }
        let date: Date?
        switch member.kind {
        case .number:
            date = Double(String(decoding: bytes[member.valueRange], as: UTF8.self)).map(Date.init(timeIntervalSince1970:))
        case .string:
            let text = bytes.withUnsafeBytes { JSONObjectScan.decodeString($0, in: member.valueRange) } ?? ""
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = text.contains(".") ? [.withInternetDateTime, .withFractionalSeconds] : [.withInternetDateTime]
            date = formatter.date(from: text)
        default:
            date = nil
        }
        guard let date, (0...maximumCreatedAt).contains(date.timeIntervalSince1970) else { throw invalid }
        return date
    }
}
