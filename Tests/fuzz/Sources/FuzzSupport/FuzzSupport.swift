// Helpers compiled into every fuzz target: the invariant check that stops a run, a reader for the control bytes
// that lead an input, and the JSON and SSE well-formedness checks several targets share. Nothing here is a target.
import Foundation
import NIOCore
@testable import SwitchyardCore

/// Stops the run when an invariant does not hold; libFuzzer then keeps the input as a crash file.
func check(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String) {
    if !condition() {
        fputs("invariant violated: \(message())\n", stderr)
        abort()
    }
}

/// An input read front to back: a few control bytes first (missing ones read as 0), the rest as the payload.
struct FuzzInput {
    let bytes: [UInt8]
    private(set) var position = 0

    init(_ start: UnsafePointer<UInt8>, _ count: Int) {
        bytes = Array(UnsafeBufferPointer(start: start, count: count))
    }

    mutating func byte() -> UInt8 {
        guard position < bytes.count else { return 0 }
        defer { position += 1 }
        return bytes[position]
    }

    mutating func rest() -> [UInt8] {
        defer { position = bytes.count }
        return Array(bytes[min(position, bytes.count)...])
    }
}

/// A deterministic generator (SplitMix64), so that chunkings derived from an input are reproducible.
struct SplitMix: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Foundation's reading of `bytes` as one JSON object: an independent parser to hold the gateway's output against.
func foundationObject(_ bytes: some Collection<UInt8>) -> [String: Any]? {
    (try? JSONSerialization.jsonObject(with: Data(bytes))) as? [String: Any]
}

/// Checks that `bytes` is one JSON object by the gateway's strict scanner and, unless it holds a client's bytes
/// relayed as sent (which may use what RFC 8259 allows and Foundation refuses: lone surrogates, numbers beyond
/// Double), by Foundation.
func checkJSONObject(_ bytes: some Collection<UInt8>, _ what: String, relayed: Bool = false) {
    let array = Array(bytes)
    check((try? JSONObjectScan(array)) != nil, "\(what) does not scan as a JSON object: \(preview(array))")
    if !relayed { check(foundationObject(array) != nil, "\(what) is not a JSON object for Foundation: \(preview(array))") }
}

/// The first bytes of `bytes` as text, for failure messages.
func preview(_ bytes: some Collection<UInt8>) -> String {
    String(decoding: bytes.prefix(600), as: UTF8.self).debugDescription
}

/// The lines of an SSE event (CRLF, LF or CR each end one line), without their terminators, as the SSE
/// specification reads them; a last line without a terminator is included.
func sseLines(_ event: [UInt8]) -> [ArraySlice<UInt8>] {
    var lines: [ArraySlice<UInt8>] = []
    var start = 0
    var index = 0
    while index < event.count {
        let byte = event[index]
        guard byte == 0x0A || byte == 0x0D else {
            index += 1
            continue
        }
        lines.append(event[start..<index])
        index += byte == 0x0D && index + 1 < event.count && event[index + 1] == 0x0A ? 2 : 1
        start = index
    }
    if start < event.count { lines.append(event[start...]) }
    return lines
}

/// Checks that one buffer of gateway output is a run of complete SSE events (each ending with a blank line, LF or
/// CRLF as the client's API writes them) whose `data` fields, where there are any, are JSON values or `[DONE]`.
func checkSSEOutput(_ buffer: ByteBuffer, _ what: String) {
    let bytes = Array(buffer.readableBytesView)
    let lines = sseLines(bytes)
    check(bytes.last.map { $0 == 0x0A || $0 == 0x0D } == true && lines.last?.isEmpty == true,
          "\(what) does not end with a blank line: \(preview(bytes))")
    var data: [UInt8]?
    for line in lines {
        if line.isEmpty {
            if let data, data != Array("[DONE]".utf8) {
                let parsed = try? JSONSerialization.jsonObject(with: Data(data), options: [.fragmentsAllowed])
                check(parsed != nil, "\(what) carries data that is not JSON: \(preview(data))")
            }
            data = nil
        } else if line.starts(with: "data:".utf8) {
            let value = line.dropFirst(5).drop { $0 == UInt8(ascii: " ") }
            data = data.map { $0 + [0x0A] + value } ?? Array(value)
        }
    }
}

// MARK: Configuration

/// The environment `${NAME}` references are expanded from while fuzzing.
let fuzzEnvironment = ["FUZZ_KEY": "sk-fuzz", "EMPTY": "", "PORT": "8080"]

/// Loads a config text as `ConfigLoader.load` does after reading the file, and checks what any loadable text must
/// satisfy: only syntax or validation errors, each validation error with problems; a parsed tree that survives being
/// written as JSON and read back (same tree, up to the order of nested keys, which JSON does not keep), and whose
/// copy validates to the same config or the same problems. Returns the parsed tree.
@discardableResult
func checkConfigText(_ text: String, fileName: String) -> ConfigNode? {
    let node: ConfigNode
    do {
        node = try ConfigNode.parse(contents: text, fileName: fileName)
    } catch {
        check(error is ConfigSyntaxError, "parsing threw \(type(of: error)): \(error)")
        return nil
    }
    let outcome = validationOutcome(node, fileName)
    guard isPortableToJSON(node) else { return node }
    var json: [UInt8] = []
    writeJSON(node, to: &json)
    let copy: ConfigNode
    do {
        copy = try ConfigNode.parse(contents: String(decoding: json, as: UTF8.self), fileName: "copy.json")
    } catch {
        check(false, "the tree written as JSON does not parse: \(error)\n\(preview(json))")
        return node
    }
    check(sameTree(node, copy, topLevel: true), "the tree read back from JSON differs: \(preview(json))")
    check(validationOutcome(copy, fileName) == outcome, "the JSON copy validates differently:\n\(outcome)\n---\n\(validationOutcome(copy, fileName))")
    return node
}

/// The validated config's summary, or its sorted problems.
private func validationOutcome(_ node: ConfigNode, _ fileName: String) -> String {
    do {
        let loaded = try ConfigLoader.validate(node, file: fileName, environment: fuzzEnvironment)
        return "valid: \(loaded.config.models.map(\.name)) warnings: \(loaded.warnings.map(\.description).sorted())"
    } catch let error as ConfigValidationError {
        check(!error.problems.isEmpty, "a validation error without problems")
        return "invalid: \(error.problems.map(\.description).sorted())"
    } catch {
        check(false, "validation threw \(type(of: error)): \(error)")
        return ""
    }
}

/// JSON holds neither NaN nor infinities, and reads a duplicate key as one. A number read as a whole `Double` (its
/// text had a fraction too small for a `Double` to keep, `12345678901234567.9`) is written as a whole number, which
/// reads back as an integer, so such trees are not compared either.
private func isPortableToJSON(_ node: ConfigNode) -> Bool {
    switch node {
    case .double(let value): return value.isFinite && !(value.rounded() == value && abs(value) < 0x1p63)
    case .array(let items): return items.allSatisfy(isPortableToJSON)
    case .object(let pairs):
        return Set(pairs.map(\.key)).count == pairs.count && pairs.allSatisfy { isPortableToJSON($0.value) }
    default: return true
    }
}

private func writeJSON(_ node: ConfigNode, to output: inout [UInt8]) {
    switch node {
    case .null: output += Array("null".utf8)
    case .bool(let value): output += Array("\(value)".utf8)
    case .int(let value): output += Array("\(value)".utf8)
    case .double(let value): output += Array("\(value)".utf8)
    case .string(let value): JSONText.appendQuoted(value, to: &output)
    case .array(let items):
        output.append(UInt8(ascii: "["))
        for (index, item) in items.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            writeJSON(item, to: &output)
        }
        output.append(UInt8(ascii: "]"))
    case .object(let pairs):
        output.append(UInt8(ascii: "{"))
        for (index, pair) in pairs.enumerated() {
            if index > 0 { output.append(UInt8(ascii: ",")) }
            JSONText.appendQuoted(pair.key, to: &output)
            output.append(UInt8(ascii: ":"))
            writeJSON(pair.value, to: &output)
        }
        output.append(UInt8(ascii: "}"))
    }
}

/// Equal trees, numbers compared by value (JSON has one number type), nested objects by their sorted members.
private func sameTree(_ lhs: ConfigNode, _ rhs: ConfigNode, topLevel: Bool = false) -> Bool {
    switch (lhs, rhs) {
    case (.int(let a), .double(let b)), (.double(let b), .int(let a)): return Double(a) == b
    case (.array(let a), .array(let b)): return a.count == b.count && zip(a, b).allSatisfy { sameTree($0, $1) }
    case (.object(var a), .object(var b)):
        if !topLevel {
            a.sort { $0.key < $1.key }
            b.sort { $0.key < $1.key }
        }
        return a.count == b.count && zip(a, b).allSatisfy { $0.key == $1.key && sameTree($0.value, $1.value) }
    default: return lhs == rhs
    }
}

// MARK: Translation

/// The client APIs the translation targets call as, chosen by a selector byte.
let fuzzClientCount = 8

/// The client's request of API `selector % fuzzClientCount` with `body`, parsed as the data plane parses it.
func inboundRequest(client selector: UInt8, body: ByteBuffer) throws(GatewayError) -> InboundRequest {
    switch Int(selector) % fuzzClientCount {
    case 0: InboundRequest(openAI: try ClientRequest(endpoint: .chatCompletions, body: body))
    case 1: InboundRequest(openAI: try ClientRequest(endpoint: .completions, body: body))
    case 2: InboundRequest(openAI: try ClientRequest(endpoint: .embeddings, body: body))
    case 3:
        InboundRequest(responses: ResponsesCall(
            request: try ResponsesRequest(body: body), responseID: "resp_fuzz", createdAt: Date(timeIntervalSince1970: 1_700_000_000)))
    case 4: InboundRequest(anthropic: try AnthropicMessagesRequest(body: body))
    case 5: InboundRequest(gemini: try GeminiCall(modelAndMethod: "gemini-fuzz:generateContent", query: "", body: body))
    case 6: InboundRequest(gemini: try GeminiCall(modelAndMethod: "gemini-fuzz:streamGenerateContent", query: "alt=sse&key=k", body: body))
    default: InboundRequest(gemini: try GeminiCall(modelAndMethod: "gemini-fuzz:streamGenerateContent", query: "", body: body))
    }
}

/// A well-formed request of API `selector % fuzzClientCount` (with a tool, so tool calls can be translated), for the
/// targets that fuzz the answer side.
func fixedRequest(client selector: UInt8, stream: Bool) -> InboundRequest {
    let client = Int(selector) % fuzzClientCount
    let body = switch client {
    case 0:
        #"{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"stream":\#(stream),"stream_options":{"include_usage":true}}"#
    case 1: #"{"model":"m","prompt":"hi","stream":\#(stream)}"#
    case 2: #"{"model":"m","input":"hi"}"#
    case 3: #"{"model":"m","input":"hi","tools":[{"type":"function","name":"f","parameters":{"type":"object"}}],"stream":\#(stream)}"#
    case 4:
        #"{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}],"tools":[{"name":"f","input_schema":{"type":"object"}}],"stream":\#(stream)}"#
    default: #"{"contents":[{"role":"user","parts":[{"text":"hi"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object"}}]}]}"#
    }
    // Gemini's stream is chosen by the method, not the body: SSE for a stream; otherwise `generateContent`, or the
    // streaming method's one-array form for selector 7.
    let geminiSelector: UInt8 = stream ? 6 : client == 7 ? 7 : 5
    return try! inboundRequest(client: client >= 5 ? geminiSelector : selector, body: ByteBuffer(string: body))
}

/// A provider of `kind` serving `request`, its options from the bits of `flags`: 0x10 forwards the client's model,
/// 0x20 marks it `responses: true`, 0x40 turns `stream_options` off.
func fuzzProvider(_ kind: any ProviderKind, flags: UInt8, serving request: InboundRequest) -> ProviderConfig {
    var provider = ProviderConfig(name: "fuzz-\(kind.name)")
    provider.type = kind.name
    provider.endpoint = "https://upstream.example/v1"
    provider.model = flags & 0x10 != 0 ? "{model}-up" : "upstream-model"
    provider.apiKey = "sk-upstream"
    provider.responses = flags & 0x20 != 0
    provider.sendStreamOptions = flags & 0x40 == 0
    for setting in kind.settings { provider.settings[setting.name] = setting.defaultValue(provider) }
    return provider.serving(model: request.model)
}

/// Token counts must never be negative (they are billed and limited).
func checkUsage(_ usage: TokenUsage?, _ what: String) {
    guard let usage else { return }
    check(usage.promptTokens >= 0 && usage.completionTokens >= 0 && usage.totalTokens >= 0, "\(what) has negative usage \(usage)")
}
