import Foundation

/// The namespaces a Responses request declares (`{"type":"namespace","name":"crm","tools":[…]}`, as Codex CLI
/// sends its sub-agent tools). Chat has no namespaces, so a namespaced function reaches chat providers as one flat
/// function named `crm__lookup`, and its calls come back as `function_call` items with `namespace: "crm"`.
struct ToolNamespaces {
    private let names: Set<String>

    static let separator = "__"

    /// The namespaces among a request's (or a response's echoed) `tools`.
    init(tools: Any?) {
        var names: Set<String> = []
        for case let tool as JSONObject in tools as? [Any] ?? [] where tool["type"] as? String == "namespace" {
            if let name = tool["name"] as? String, !name.isEmpty { names.insert(name) }
        }
        self.names = names
    }

    /// The chat function name of `name` in `namespace`.
    static func chatName(_ name: String, namespace: String?) -> String {
        guard let namespace, !namespace.isEmpty else { return name }
        return namespace + separator + name
    }

    /// A chat function name as the Responses call it stands for: its namespace, when it starts with a declared one.
    func call(named chatName: String) -> (name: String, namespace: String?) {
        guard let range = chatName.range(of: Self.separator) else { return (chatName, nil) }
        let namespace = String(chatName[..<range.lowerBound])
        let name = String(chatName[range.upperBound...])
        guard names.contains(namespace), !name.isEmpty else { return (chatName, nil) }
        return (name, namespace)
    }
}
