import Foundation

/// What a response object carries besides its output.
public struct ResponseEnvelope {
    /// "resp_" + 48 lowercase hex (see `makeID`).
    public var id: String
    /// Unix seconds.
    public var createdAt: Int
    /// The client's model name.
    public var model: String
    /// Request fields the response echoes (instructions, tools, temperature, …), given by the caller.
    public var echo: JSONObject

    public init(id: String, createdAt: Int, model: String, echo: JSONObject) {
        self.id = id
        self.createdAt = createdAt
        self.model = model
        self.echo = echo
    }

    /// A random id in OpenAI's style: the prefix, "_" and 48 lowercase hex digits ("resp_…", "msg_…", "fc_…").
    public static func makeID(prefix: String = "resp") -> String {
        var generator = SystemRandomNumberGenerator()
        var id = prefix + "_"
        for _ in 0..<3 {
            let hex = String(generator.next() as UInt64, radix: 16)
            id += String(repeating: "0", count: 16 - hex.count) + hex
        }
        return id
    }

    /// The response object: the echoed request fields, then what this response is (these win over the echo).
    func response(status: String, output: [Any], usage: Any, incompleteReason: String? = nil) -> JSONObject {
        var response = echo
        response["id"] = id
        response["object"] = "response"
        response["created_at"] = createdAt
        response["model"] = model
        response["status"] = status
        response["output"] = output
        response["usage"] = usage
        response["error"] = NSNull()
        response["incomplete_details"] = incompleteReason.map { ["reason": $0] } ?? NSNull()
        return response
    }
}
