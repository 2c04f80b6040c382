/// One setting of a config object: its key, the values it takes, and how the loader applies it to what it builds.
/// The loader reads through these and `switchyard schema` prints them, so the two cannot disagree on a key, a type
/// or a range.
struct ConfigField<Target>: Sendable {
    let key: String
    let summary: String
    let value: ConfigValueType
    let apply: @Sendable (inout ConfigReader, ConfigNode, String, inout Target) -> Void

    init(
        _ key: String, _ value: ConfigValueType, _ summary: String,
        apply: @escaping @Sendable (inout ConfigReader, ConfigNode, String, inout Target) -> Void
    ) {
        self.key = key
        self.summary = summary
        self.value = value
        self.apply = apply
    }

    static func bool(_ key: String, _ summary: String, _ set: @escaping @Sendable (inout Target, Bool) -> Void) -> ConfigField {
        ConfigField(key, .boolean, summary) { reader, node, path, target in
            if let flag = reader.bool(node, path) { set(&target, flag) }
        }
    }

    static func number(_ key: String, _ range: SettingRange, _ summary: String, _ set: @escaping @Sendable (inout Target, Double) -> Void)
        -> ConfigField
    {
        ConfigField(key, .number(range), summary) { reader, node, path, target in
            if let value = reader.number(node, path, range) { set(&target, value) }
        }
    }

    static func integer(_ key: String, _ range: SettingRange, _ summary: String, _ set: @escaping @Sendable (inout Target, Int) -> Void)
        -> ConfigField
    {
        ConfigField(key, .integer(range), summary) { reader, node, path, target in
            if let value = reader.integer(node, path, range) { set(&target, value) }
        }
    }
}

/// The values a setting takes, as the loader reads them and as JSON Schema describes them.
indirect enum ConfigValueType: Sendable {
    case boolean
    case integer(SettingRange)
    case number(SettingRange)
    /// A string; `pattern` (ECMA-262) when the schema can say more.
    case string(pattern: String?)
    case stringList
    /// A string or a list of strings (gateway keys).
    case keyList
    /// An object described under `$defs`.
    case reference(String)
    case nullable(ConfigValueType)
    case either(ConfigValueType, ConfigValueType)
    /// Header names to values (strings, numbers or booleans).
    case headers
    case list(of: ConfigValueType, minimum: Int)

    /// Its JSON Schema. Numbers and booleans may also be `${VAR}` strings, expanded when the file is loaded.
    var schema: JSONObject {
        switch self {
        case .boolean:
            return ["anyOf": [["type": "boolean"], Self.environmentReference]]
        case .integer(let range):
            return ["anyOf": [Self.bounded("integer", range), Self.environmentReference]]
        case .number(let range):
            return ["anyOf": [Self.bounded("number", range), Self.environmentReference]]
        case .string(let pattern):
            return pattern.map { ["type": "string", "pattern": $0] } ?? ["type": "string"]
        case .stringList:
            return ["type": "array", "items": ["type": "string"]]
        case .keyList:
            return ["anyOf": [["type": "string"], ["type": "array", "items": ["type": "string", "minLength": 1]], ["type": "null"]]]
        case .reference(let name):
            return ["$ref": "#/$defs/\(name)"]
        case .nullable(let value):
            return ["anyOf": [value.schema, ["type": "null"]]]
        case .either(let first, let second):
            return ["anyOf": [first.schema, second.schema]]
        case .headers:
            return ["type": "object", "additionalProperties": ["type": ["string", "number", "boolean"]]]
        case .list(let item, let minimum):
            return ["type": "array", "items": item.schema, "minItems": minimum]
        }
    }

    static var environmentReference: JSONObject { ["type": "string", "pattern": #"\$\{[A-Za-z_][A-Za-z0-9_]*\}"#] }

    private static func bounded(_ type: String, _ range: SettingRange) -> JSONObject {
        var schema: JSONObject = ["type": type, "maximum": Self.number(range.maximum)]
        schema[range.excludesMinimum ? "exclusiveMinimum" : "minimum"] = Self.number(range.minimum)
        return schema
    }

    /// Whole numbers print without a fraction.
    private static func number(_ value: Double) -> Any {
        value == value.rounded() && abs(value) < 1e18 ? Int(value) : value
    }
}
