// TranslateAnswer fuzzes the answer direction of every translator: a provider's whole (non-streamed) answer made
// into the client's answer, into a synthesized stream for a streaming client, and an error answer into the client's
// error shape. The first byte picks the client API, the second the provider options; the rest is the upstream body.
// Invariants: a translated answer is a JSON object (Gemini's one-array form: an array of objects); a synthesized
// stream is complete SSE events (maybe none) whose data is JSON; a refused answer is an error with a status and a message; a
// translated error is a JSON object; token counts are never negative.
import Foundation
import NIOCore
@testable import SwitchyardCore

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzTranslateAnswer(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let client = input.byte()
    let flags = input.byte()
    let body = ByteBuffer(bytes: input.rest())
    for stream in [false, true] {
        let request = fixedRequest(client: client, stream: stream)
        for kind in ProviderKinds.all {
            let provider = fuzzProvider(kind, flags: flags, serving: request)
            guard kind.canServe(request, provider: provider) else { continue }
            let translation = AttemptTranslation(request: request, provider: provider)
            let what = "\(kind.name) to \(request.api.displayName)"
            do throws(GatewayError) {
                let answer = stream ? try translation.synthesizedStream(body) : try translation.answer(body)
                if stream {
                    // An answer without choices makes a Gemini stream of no events at all.
                    if answer.body.readableBytes > 0 { checkSSEOutput(answer.body, "the synthesized stream of \(what)") }
                } else if !translation.passesThrough {  // a relayed answer is the provider's own
                    if case .gemini(let call) = request.native, call.wantsArray {
                        let array = try? JSONSerialization.jsonObject(with: Data(answer.body.readableBytesView)) as? [Any]
                        check(array?.allSatisfy { $0 is [String: Any] } ?? false, "the answer of \(what) is not an array of objects")
                    } else {
                        checkJSONObject(answer.body.readableBytesView, "the answer of \(what)")
                    }
                }
                checkUsage(answer.usage, what)
                check(answer.generatedCharacters >= 0, "negative generated characters")
                if let kept = answer.keptAnswer { checkJSONObject(kept, "the kept answer of \(what)") }
            } catch {
                check(error.statusCode >= 400 && !error.message.isEmpty, "a refused answer of \(what) without a status and message")
            }
            if let translated = translation.clientError(status: 400 + Int(flags % 200), body: body) {
                checkJSONObject(translated.body.readableBytesView, "the error answer of \(what)")
            }
        }
    }
    return 0
}
