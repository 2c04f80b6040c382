// TranslateRequest fuzzes the request direction of every translator: the client request parsers (chat completions,
// completions, embeddings, Responses, Anthropic Messages, Gemini) and every provider kind's request builder. The
// first byte picks the client API, the second the provider options and (0x80) an upstream stream; the rest is the
// body. Invariants: a refused request is a 4xx error with a message; an accepted one has a canonical form only as a
// chat-completions JSON object with the client's model; for every kind that can serve it, the upstream body is a JSON
// object valid in the target dialect (`model` set to the provider's; Anthropic `messages` and `max_tokens`, Gemini
// `contents`, GigaChat `messages`), a pass-through body differs from the client's only in `model`, `stream` and
// `stream_options` (Gemini: not at all), and the local echo provider answers with JSON or well-formed SSE.
import Foundation
import NIOCore
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranslateRequest(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let client = input.byte()
    let flags = input.byte()
    let body = ByteBuffer(bytes: input.rest())
    let request: InboundRequest
    do {
        request = try inboundRequest(client: client, body: body)
    } catch {
        check((400..<500).contains(error.statusCode) && !error.message.isEmpty, "a refusal that is not a client error: \(error)")
        return 0
    }
    check(request.promptCharacters >= 0 && request.contextTokensEstimate >= 0, "negative size estimates")
    if let canonical = request.canonical {
        checkJSONObject(canonical.body.readableBytesView, "the canonical request", relayed: request.native.isOpenAI)
        check(canonical.model == request.model, "the canonical request names model \(canonical.model), not \(request.model)")
    } else {
        check(request.untranslatable != nil, "no canonical form and no reason")
    }

    // As the data plane decides it: embeddings never stream.
    let upstreamStream = flags & 0x80 != 0 && request.api != .openAI(.embeddings)
    for kind in ProviderKinds.all {
        let provider = fuzzProvider(kind, flags: flags, serving: request)
        guard kind.canServe(request, provider: provider) else { continue }
        let upstream: UpstreamRequest
        do {
            upstream = try kind.makeRequest(
                request, provider: provider, credential: provider.apiKey, upstreamStream: upstreamStream,
                clientHeaders: [HeaderField("User-Agent", "fuzz"), HeaderField("Content-Length", "1")])
        } catch {
            check((400..<500).contains(error.statusCode) && !error.message.isEmpty, "\(kind.name) refused with \(error)")
            continue
        }
        let what = "the \(kind.name) request for \(request.api.displayName)"
        let bytes = Array(upstream.body.readableBytesView)
        let relayed = kind.passesThrough(request, provider: provider)
        checkJSONObject(bytes, what, relayed: relayed || request.native.isOpenAI)
        if relayed {
            checkPassThrough(request, upstream: bytes, what)
        } else {
            checkDialect(kind.name, provider: provider, upstream: bytes, what)
        }
        if let local = kind.respondLocally(to: upstream) {
            if upstream.stream && local.status == 200 {
                for chunk in local.chunks { checkSSEOutput(chunk, "the echo stream") }
            } else {
                checkJSONObject(local.chunks.flatMap { Array($0.readableBytesView) }, "the echo answer")
            }
        }
    }
    return 0
}

extension NativeRequest {
    /// An OpenAI client's body is its canonical form: every kind of the OpenAI dialect gets its bytes.
    var isOpenAI: Bool {
        if case .openAI = self { return true }
        return false
    }
}

/// A relayed body keeps every top-level member the client sent, byte for byte and in order, but the edited ones.
private func checkPassThrough(_ request: InboundRequest, upstream: [UInt8], _ what: String) {
    let native: ByteBuffer
    switch request.native {
    case .openAI: native = request.canonical!.body
    case .anthropic(let messages): native = messages.body
    case .responses(let call): native = call.request.body
    case .gemini(let call):
        check(Array(call.body.readableBytesView) == upstream, "\(what) is not the client's body")
        return
    }
    let edited: Set<String> = ["model", "stream", "stream_options"]
    let client = Array(native.readableBytesView)
    let kept = { (bytes: [UInt8]) -> [(String, ArraySlice<UInt8>)] in
        (try! JSONObjectScan(bytes)).members.filter { !edited.contains($0.key) }.map { ($0.key, bytes[$0.valueRange]) }
    }
    let before = kept(client)
    let after = kept(upstream)
    check(before.count == after.count && zip(before, after).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 },
          "\(what) changed members other than model and stream")
}

/// What the target API requires of a translated body.
private func checkDialect(_ kind: String, provider: ProviderConfig, upstream: [UInt8], _ what: String) {
    let body = foundationObject(upstream)!
    switch kind {
    case "gemini":
        check(body["contents"] is [Any], "\(what) has no contents list")
    case "anthropic", "gigachat":
        check(body["messages"] is [Any] && body["model"] as? String == provider.model, "\(what) lacks messages or the model")
        if kind == "anthropic" { check(JSONValue.count(body["max_tokens"]) != nil, "\(what) lacks max_tokens") }
    default:
        check(body["model"] as? String == provider.model, "\(what) does not name the provider's model")
    }
}
