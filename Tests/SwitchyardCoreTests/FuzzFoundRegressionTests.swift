import Foundation
import NIOCore
import Testing
@testable import SwitchyardCore

/// Defects the libFuzzer targets in Tests/fuzz found, each with the input it was found with.
@Suite struct FuzzFoundRegressionTests {
    /// The data field of every event of `stream` framed with cuts after the given byte counts.
    func dataFields(_ stream: String, cuts: [Int]) throws -> [String] {
        let bytes = Array(stream.utf8)
        var framer = SSEEventFramer()
        var events: [ByteBuffer] = []
        var start = 0
        for cut in cuts + [bytes.count] {
            events += try framer.append(ByteBuffer(bytes: bytes[start..<cut]))
            start = cut
        }
        #expect(framer.pendingByteCount == 0)
        #expect(events.flatMap { Array($0.readableBytesView) } == bytes, "byte-exact")
        return events.compactMap { SSEEvent.data(of: $0).map { String(buffer: $0) } }
    }

    @Test("a CRLF blank line split at its CR, in a stream that used a bare CR before, keeps the next event's data")
    func crlfSplitAfterBareCRKeepsTheNextEvent() throws {
        // SSEFramer: the LF of the split CRLF used to start the next event, whose data was then read as none.
        let stream = "data: a\rb\n\r\ndata: x\r\n\r\n"
        let whole = try dataFields(stream, cuts: [])
        #expect(whole == ["a", "x"])
        for cut in 1..<stream.utf8.count {
            #expect(try dataFields(stream, cuts: [cut]) == whole, "split at byte \(cut)")
        }
    }

    @Test("an OpenAI /v1/responses answer with a trailing comma is refused as invalid, not relayed or kept")
    func responsesAnswerWithTrailingCommaIsRefused() throws {
        // TranslateAnswer: JSONSerialization read the body, so it was relayed and kept for previous_response_id.
        let request = InboundRequest(
            responses: ResponsesCall(
                request: try ResponsesRequest(body: ByteBuffer(string: #"{"model":"m","input":"hi"}"#)),
                responseID: "resp_1", createdAt: Date(timeIntervalSince1970: 1_700_000_000)
            )
        )
        var provider = ProviderConfig(name: "up")
        provider.endpoint = "https://upstream.example/v1"
        provider.apiKey = "sk-upstream"
        provider.responses = true
        let translation = AttemptTranslation(request: request, provider: provider.serving(model: "m"))
        #expect(translation.passesThrough)
        let body = ByteBuffer(string: #"{"id":[{"typ":"reing",}],"usage":{"ienses":1}}"#)
        #expect(throws: GatewayError.invalidUpstreamAnswer) { try translation.answer(body) }
        #expect(throws: GatewayError.invalidUpstreamAnswer) { try translation.synthesizedStream(body) }
    }

    @Test("a JSON config nested 300 levels deep with a raw control character inside is refused as nested too deeply")
    func deeplyNestedJSONConfigIsRefusedByTheStrictScan() throws {
        // ConfigJSON: JSONDecoder, reaching the bad key 277 levels down, took seconds and 600 MB to fail.
        let levels = (0..<299).map { $0 == 277 ? "{\"a\u{0}\":" : "{\"a\":" }
        let text = #"{"m":"# + levels.joined() + "0" + String(repeating: "}", count: 300)
        let error = try #require(throws: ConfigSyntaxError.self) { try ConfigNode.parse(contents: text, fileName: "c.json") }
        #expect(error.message.hasPrefix("invalid JSON: JSON nested too deeply at byte"), "\(error.message)")
    }
}
