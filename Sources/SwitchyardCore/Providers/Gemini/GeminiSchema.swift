import Foundation

/// JSON Schemas (tool `parameters`, `response_format.json_schema.schema`) rewritten into the OpenAPI subset Gemini's
/// `Schema` accepts; Gemini answers 400 "Unknown name …" for any keyword outside it (providers.md §7 pitfall 5).
public enum GeminiSchema {
    /// A JSON Schema cleaned for Gemini's `parameters`: drops $schema, additionalProperties, strict, $id, $comment,
    /// propertyNames, patternProperties, const (→ enum of one), examples, default where unsupported; dereferences
    /// local $ref into $defs/definitions (cycles cut off); anyOf/oneOf with a null member → the other member +
    /// nullable: true; `type: ["string","null"]` → type string + nullable. Recursive through properties/items.
    ///
    /// Only keywords Gemini knows are kept (anything else is dropped rather than listed): `default` and `example`
    /// go too (annotations some API versions reject), as do non-string enums, formats Gemini does not support,
    /// `required` names with no property, and empty `properties`. `allOf` members are merged; an `array` without
    /// `items` gets string items (Gemini answers "items: missing field"); a missing `type` is inferred from
    /// `properties`, `items` or `enum`. Anything that is not an object schema becomes `{}`.
    public static func cleaned(_ schema: Any) -> Any {
        var cleaner = SchemaCleaner(root: schema as? JSONObject ?? [:])
        return cleaner.clean(schema, expanding: [], depth: 0)
    }
}

private struct SchemaCleaner {
    let root: JSONObject
    /// `$ref`s still allowed to be expanded: each expansion copies a subtree, so a schema whose references fan
    /// out (A uses B twice, B uses C twice, …) cannot make the gateway build an exponentially large one.
    var remainingExpansions = 256

    static let maximumDepth = 64
    static let numberKeywords = [
        "minimum", "maximum", "minItems", "maxItems", "minLength", "maxLength", "minProperties", "maxProperties",
    ]
    static let supportedFormats: Set<String> = ["date-time", "enum", "float", "double", "int32", "int64"]

    mutating func clean(_ value: Any, expanding: Set<String>, depth: Int) -> JSONObject {
        guard var schema = value as? JSONObject else { return [:] }
        if depth > Self.maximumDepth { return cutOff(schema) }
        if let reference = schema.removeValue(forKey: "$ref") as? String {
            guard let target = resolve(reference) else { return clean(schema, expanding: expanding, depth: depth) }
            guard !expanding.contains(reference), remainingExpansions > 0 else { return cutOff(target) }
            remainingExpansions -= 1
            // Keywords beside the reference (a description, say) override the referenced schema's.
            let expanded = target.merging(schema) { _, sibling in sibling }
            return clean(expanded, expanding: expanding.union([reference]), depth: depth + 1)
        }
        if let members = schema.removeValue(forKey: "allOf") as? [Any] {
            for member in members {
                schema = merged(schema, clean(member, expanding: expanding, depth: depth + 1))
            }
        }

        var result: JSONObject = [:]
        var nullable = JSONValue.bool(schema["nullable"]) == true
        for key in ["title", "description", "pattern"] {
            if let text = schema[key] as? String { result[key] = text }
        }
        for key in Self.numberKeywords {
            if let number = JSONValue.number(schema[key]) { result[key] = number }
        }
        if let format = schema["format"] as? String, Self.supportedFormats.contains(format) { result["format"] = format }
        if let order = schema["propertyOrdering"] as? [String] { result["propertyOrdering"] = order }

        if let type = schema["type"] as? String {
            if type == "null" { nullable = true } else { result["type"] = type }
        } else if let types = schema["type"] as? [Any] {
            let names = types.compactMap { $0 as? String }
            if names.contains("null") { nullable = true }
            let others = names.filter { $0 != "null" }
            if others.count == 1 {
                result["type"] = others[0]
            } else if others.count > 1 {
                result["anyOf"] = others.map { ["type": $0] }
            }
        }

        var values = schema["enum"] as? [Any]
        if values == nil, let constant = schema["const"] { values = [constant] }
        if let values {
            if values.contains(where: { $0 is NSNull }) { nullable = true }
            let strings = values.filter { !($0 is NSNull) }.compactMap { $0 as? String }
            // Gemini's enum holds strings only; a schema listing other values keeps just its type.
            if !strings.isEmpty, strings.count == values.count(where: { !($0 is NSNull) }) { result["enum"] = strings }
        }

        if let properties = schema["properties"] as? JSONObject, !properties.isEmpty {
            var cleanedProperties: JSONObject = [:]
            for (name, property) in properties {
                cleanedProperties[name] = clean(property, expanding: expanding, depth: depth + 1)
            }
            result["properties"] = cleanedProperties
            let required = (schema["required"] as? [Any] ?? []).compactMap { $0 as? String }.filter { properties[$0] != nil }
            if !required.isEmpty { result["required"] = required }
        }
        if let items = schema["items"] as? JSONObject {
            result["items"] = clean(items, expanding: expanding, depth: depth + 1)
        }

        let alternatives = (schema["anyOf"] as? [Any] ?? []) + (schema["oneOf"] as? [Any] ?? [])
        if !alternatives.isEmpty {
            if alternatives.contains(where: isNullSchema) { nullable = true }
            let members = alternatives.filter { !isNullSchema($0) }.map { clean($0, expanding: expanding, depth: depth + 1) }
            if members.count == 1 {
                if JSONValue.bool(members[0]["nullable"]) == true { nullable = true }
                result = merged(result, members[0])
            } else if !members.isEmpty {
                result["anyOf"] = members
            }
        }

        if result["type"] == nil, result["anyOf"] == nil {
            if result["properties"] != nil {
                result["type"] = "object"
            } else if result["items"] != nil {
                result["type"] = "array"
            } else if result["enum"] != nil {
                result["type"] = "string"
            }
        }
        if result["type"] as? String == "array", result["items"] == nil { result["items"] = ["type": "string"] }
        if nullable { result["nullable"] = true }
        return result
    }

    /// `base` with `addition`'s keywords where `base` has none; properties and required names are united.
    private func merged(_ base: JSONObject, _ addition: JSONObject) -> JSONObject {
        var result = base.merging(addition) { own, _ in own }
        if let own = base["properties"] as? JSONObject, let added = addition["properties"] as? JSONObject {
            result["properties"] = own.merging(added) { own, _ in own }
        }
        if let own = base["required"] as? [Any], let added = addition["required"] as? [Any] {
            var seen: Set<String> = []
            result["required"] = (own + added).compactMap { $0 as? String }.filter { seen.insert($0).inserted }
        }
        return result
    }

    /// What stands in for a schema that is not expanded (a cycle, or too deep): just its type.
    private mutating func cutOff(_ schema: JSONObject) -> JSONObject {
        clean(["type": schema["type"] as? String ?? "object"], expanding: [], depth: 0)
    }

    private func isNullSchema(_ value: Any) -> Bool {
        guard let schema = value as? JSONObject else { return false }
        if schema["type"] as? String == "null" { return true }
        if let types = schema["type"] as? [Any], types.count == 1, types[0] as? String == "null" { return true }
        return schema["const"] is NSNull
    }

    /// A local reference (`#/$defs/Node`, `#/definitions/Node`, any JSON pointer into the root); nil for others.
    private func resolve(_ reference: String) -> JSONObject? {
        guard reference.hasPrefix("#") else { return nil }
        var node: Any = root
        for token in reference.dropFirst().split(separator: "/") {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            if let object = node as? JSONObject, let next = object[key] {
                node = next
            } else if let array = node as? [Any], let index = Int(key), array.indices.contains(index) {
                node = array[index]
            } else {
                return nil
            }
        }
        return node as? JSONObject
    }
}
