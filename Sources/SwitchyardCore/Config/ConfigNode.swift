import Foundation
import Yams

/// A parsed configuration document, independent of its file format.
///
/// JSON and YAML both load into this tree so that validation, `${ENV}` expansion and error locations work the
/// same way for either. Objects keep their keys in file order (models are listed in the order they are written).
public indirect enum ConfigNode: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([ConfigNode])
    case object([(key: String, value: ConfigNode)])

    public static func == (lhs: ConfigNode, rhs: ConfigNode) -> Bool {
        switch (lhs, rhs) {
        case (.null, .null): return true
        case (.bool(let a), .bool(let b)): return a == b
        case (.int(let a), .int(let b)): return a == b
        case (.double(let a), .double(let b)): return a == b
        case (.string(let a), .string(let b)): return a == b
        case (.array(let a), .array(let b)): return a == b
        case (.object(let a), .object(let b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    /// A short name of the node's type, used in validation messages.
    var typeName: String {
        switch self {
        case .null: "null"
        case .bool: "a boolean"
        case .int: "an integer"
        case .double: "a number"
        case .string: "a string"
        case .array: "a list"
        case .object: "an object"
        }
    }
}

/// A configuration file that could not be parsed at all (syntax error).
public struct ConfigSyntaxError: Error, CustomStringConvertible {
    public var file: String
    public var message: String
    public var description: String { "\(file): \(message)" }
}

extension ConfigNode {
    /// Parses a configuration document; the format is chosen by the file extension (`.yaml`/`.yml` or JSON).
    public static func parse(contents: String, fileName: String) throws -> ConfigNode {
        let lower = fileName.lowercased()
        if lower.hasSuffix(".yaml") || lower.hasSuffix(".yml") {
            return try parseYAML(contents, fileName: fileName)
        }
        return try parseJSON(Array(contents.utf8), fileName: fileName)
    }

    static func parseJSON(_ bytes: [UInt8], fileName: String) throws -> ConfigNode {
        // The strict scan comes first: it is linear and caps nesting, where JSONDecoder, on an error deep inside a
        // nested file, takes time and memory that grow faster than the depth. It also rejects what JSONDecoder lets
        // through (trailing commas), which would lose the key order recovered below.
        do {
            try JSONObjectScan.validateDocument(bytes)
        } catch {
            throw ConfigSyntaxError(file: fileName, message: "invalid JSON: \(error.description)")
        }
        let tree: JSONTree
        do {
            tree = try JSONDecoder().decode(JSONTree.self, from: Data(bytes))
        } catch let DecodingError.dataCorrupted(context) {
            let detail = (context.underlyingError as? NSError)?.userInfo[NSDebugDescriptionErrorKey] as? String
            throw ConfigSyntaxError(file: fileName, message: "invalid JSON: \(detail ?? context.debugDescription)")
        } catch {
            throw ConfigSyntaxError(file: fileName, message: "invalid JSON: \(error)")
        }
        // Decoded objects forget key order; the top-level order (the model list) is recovered from the bytes.
        var topLevelOrder: [String] = []
        if case .object = tree, let scan = try? JSONObjectScan(bytes) { topLevelOrder = scan.members.map(\.key) }
        return tree.node(keyOrder: topLevelOrder)
    }

    static func parseYAML(_ text: String, fileName: String) throws -> ConfigNode {
        let root: Node?
        do {
            root = try Yams.compose(yaml: text)
        } catch {
            throw ConfigSyntaxError(file: fileName, message: "invalid YAML: \(describe(error))")
        }
        guard let root else { return .object([]) }
        return try fromYAML(root, fileName: fileName)
    }

    /// A YAML syntax error's position and problem, without the snippet of the offending line that Yams adds (the
    /// line may hold a key).
    static func describe(_ error: any Error) -> String {
        func position(_ mark: Mark) -> String { "line \(mark.line), column \(mark.column)" }
        switch error as? YamlError {
        case .scanner(let context, let problem, let mark, _), .parser(let context, let problem, let mark, _),
            .composer(let context, let problem, let mark, _):
            return "\(position(mark)): \(problem)" + (context.map { " (\($0.text) at \(position($0.mark)))" } ?? "")
        case .reader(let problem, let offset, _, _):
            return problem + (offset.map { " at byte \($0)" } ?? "")
        case .duplicatedKeysInMapping(let duplicates, let context):
            return "duplicate keys \(duplicates.sorted().joined(separator: ", ")) at \(position(context.mark))"
        default:
            return "\(error)"
        }
    }

    private static func fromYAML(_ node: Node, fileName: String) throws -> ConfigNode {
        switch node {
        case .scalar(let scalar):
            switch Resolver.default.resolveTag(of: node) {
            case .null: return .null
            case .bool: return node.bool.map(ConfigNode.bool) ?? .string(scalar.string)
            case .int: return node.int.map(ConfigNode.int) ?? .string(scalar.string)
            case .float:
                // As in JSON, where `10.0` and `1e1` read as integers: a whole number is one whatever its spelling.
                guard let value = node.float else { return .string(scalar.string) }
                return value.rounded() == value && value.magnitude < 0x1p63 ? .int(Int(value)) : .double(value)
            default: return .string(scalar.string)
            }
        case .sequence(let sequence):
            return .array(try sequence.map { try fromYAML($0, fileName: fileName) })
        case .mapping(let mapping):
            var pairs: [(key: String, value: ConfigNode)] = []
            for (key, value) in mapping {
                guard let keyString = key.string else {
                    throw ConfigSyntaxError(file: fileName, message: "mapping keys must be strings")
                }
                pairs.append((keyString, try fromYAML(value, fileName: fileName)))
            }
            return .object(pairs)
        case .alias:
            throw ConfigSyntaxError(file: fileName, message: "YAML aliases are not supported")
        }
    }
}

/// JSON decoded through `JSONDecoder`, which tells booleans, integers and other numbers apart on every platform.
private enum JSONTree: Decodable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONTree])
    case object([String: JSONTree])

    init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        // Containers first: a failed attempt costs an error carrying the whole coding path, so trying the scalars
        // first at every level of a deeply nested file took time quadratic in its depth.
        if container.decodeNil() {
            self = .null
        } else if let value = try? container.decode([String: JSONTree].self) {
            self = .object(value)
        } else if let value = try? container.decode([JSONTree].self) {
            self = .array(value)
        } else if let value = try? container.decode(Bool.self) {
            self = .bool(value)
        } else if let value = try? container.decode(Int.self) {
            self = .int(value)
        } else if let value = try? container.decode(Double.self) {
            self = .double(value)
        } else {
            self = .string(try container.decode(String.self))
        }
    }

    func node(keyOrder: [String] = []) -> ConfigNode {
        switch self {
        case .null: return .null
        case .bool(let value): return .bool(value)
        case .int(let value): return .int(value)
        case .double(let value): return .double(value)
        case .string(let value): return .string(value)
        case .array(let values): return .array(values.map { $0.node() })
        case .object(let dictionary):
            let ordered = keyOrder.filter { dictionary[$0] != nil }
            let rest = dictionary.keys.filter { !ordered.contains($0) }.sorted()
            return .object((ordered + rest).map { ($0, dictionary[$0]!.node()) })
        }
    }
}
