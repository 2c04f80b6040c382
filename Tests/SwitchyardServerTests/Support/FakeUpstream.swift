import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import NIOConcurrencyHelpers

/// A scriptable upstream on 127.0.0.1, serving any number of named providers: OpenAI-compatible provider `p1` lives
/// at `http://127.0.0.1:<port>/p1/v1` (Anthropic's `messages` there too), Gemini's at `…/p1/v1beta`, GigaChat's at
/// `…/p1/api/v1` with its OAuth at `…/p1/oauth`, Azure's at `…/p1/openai`. Every request is recorded, with its
/// path after the provider's base (`chat/completions`, `messages`, `models/m:generateContent`, `oauth`, …).
final class FakeUpstream: Sendable {
    struct Received: Sendable {
        var provider: String
        var path: String
        var query: String = ""
        var headers: HTTPFields
        var body: ByteBuffer

        var bodyString: String { String(buffer: body) }

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.readableBytesView))) as? [String: Any] ?? [:]
        }

        func header(_ name: String) -> String? {
            HTTPField.Name(name).flatMap { headers[$0] }
        }
    }

    typealias Handler = @Sendable (Received) async throws -> Response

    private let handler: Handler
    private let noticesAbandonment: Bool
    private let received = NIOLockedValueBox<[Received]>([])
    private let abandonedRequests = NIOLockedValueBox<[Received]>([])
    private let portBox = NIOLockedValueBox<Int?>(nil)

    /// - Parameter noticesAbandonment: a handler still running when the gateway closes the connection is
    ///   cancelled, and the request is recorded in `abandoned`.
    init(noticesAbandonment: Bool = false, _ handler: @escaping Handler) {
        self.handler = handler
        self.noticesAbandonment = noticesAbandonment
    }

    /// Requests the gateway gave up on (closed their connection) before they were answered, or while their
    /// stream was being written (see `abandon(_:)`).
    var abandoned: [Received] { abandonedRequests.withLockedValue { $0 } }

    /// Records that the gateway went away while `request`'s answer was being written.
    func abandon(_ request: Received) {
        abandonedRequests.withLockedValue { $0.append(request) }
    }

    /// The base URL to put in a provider's `endpoint`; `base` is the API's version path (`v1`, `v1beta`,
    /// `api/v1`, `openai`).
    func endpoint(_ provider: String, base: String = "v1") -> String {
        "http://127.0.0.1:\(port)/\(provider)/\(base)"
    }

    /// The paths the fake answers, after `/{provider}/`, and the prefix the recorded path drops.
    private static let routes: [(pattern: String, base: String)] = [
        ("v1/chat/completions", "v1/"), ("v1/completions", "v1/"), ("v1/embeddings", "v1/"), ("v1/messages", "v1/"), ("v1/responses", "v1/"),
        ("v1/messages/count_tokens", "v1/"), ("v1beta/models/{call}", "v1beta/"), ("api/v1/chat/completions", "api/v1/"),
        ("oauth", ""), ("openai/deployments/{deployment}/chat/completions", "openai/"),
    ]

    var port: Int { portBox.withLockedValue { $0! } }

    var requests: [Received] { received.withLockedValue { $0 } }

    func requests(to provider: String) -> [Received] {
        requests.filter { $0.provider == provider }
    }

    func count(_ provider: String) -> Int {
        requests(to: provider).count
    }

    func makeApplication(onRunning: @escaping @Sendable () -> Void) -> some ApplicationProtocol {
        let router = Router()
        for route in Self.routes {
            router.post(RouterPath("{provider}/\(route.pattern)")) { [self] request, context in
                let provider = context.parameters.get("provider") ?? ""
                let full = request.uri.path.dropFirst(provider.count + 2)
                let path = String(full.dropFirst(route.base.count))
                let query = request.uri.query ?? ""
                guard noticesAbandonment else {
                    let body = try await request.body.collect(upTo: 64 * 1024 * 1024)
                    let record = Received(provider: provider, path: path, query: query, headers: request.headers, body: body)
                    received.withLockedValue { $0.append(record) }
                    return try await handler(record)
                }
                let recorded = NIOLockedValueBox<Received?>(nil)
                do {
                    var response = try await request.body.consumeWithCancellationOnInboundClose { body in
                        let bytes = try await body.collect(upTo: 64 * 1024 * 1024)
                        let record = Received(provider: provider, path: path, query: query, headers: request.headers, body: bytes)
                        recorded.withLockedValue { $0 = record }
                        received.withLockedValue { $0.append(record) }
                        return try await handler(record)
                    }
                    // Hummingbird closes such a connection after the response; saying so keeps it out of the
                    // gateway's keep-alive pool.
                    response.headers[.connection] = "close"
                    return response
                } catch is CancellationError {
                    if let record = recorded.withLockedValue({ $0 }) { abandon(record) }
                    throw CancellationError()
                }
            }
        }
        // The one GET route, `models`, which health checks may ask for.
        router.get(RouterPath("{provider}/v1/models")) { [self] request, context in
            let record = Received(provider: context.parameters.get("provider") ?? "", path: "models", headers: request.headers, body: ByteBuffer())
            received.withLockedValue { $0.append(record) }
            return try await handler(record)
        }
        return Application(
            router: router,
            configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { [self] channel in
                portBox.withLockedValue { $0 = channel.localAddress?.port }
                onRunning()
            },
            logger: Logger(label: "fake-upstream", factory: { _ in SwiftLogNoOpLogHandler() })
        )
    }
}

// MARK: Canned answers

enum Reply {
    static func json(_ body: String, status: HTTPResponse.Status = .ok, headers: HTTPFields = [:]) -> Response {
        var fields: HTTPFields = [.contentType: "application/json"]
        fields.append(contentsOf: headers)
        return Response(status: status, headers: fields, body: .init(byteBuffer: ByteBuffer(string: body)))
    }

    static func error(_ status: HTTPResponse.Status, message: String = "upstream error", headers: HTTPFields = [:]) -> Response {
        json(#"{"error":{"message":"\#(message)","type":"upstream","param":null,"code":null}}"#, status: status, headers: headers)
    }

    static func chatCompletion(content: String, model: String = "upstream-model", usage: (Int, Int) = (5, 7)) -> Response {
        json(
            #"{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"\#(model)","choices":[{"index":0,"message":{"role":"assistant","content":"\#(content)"},"finish_reason":"stop"}],"usage":{"prompt_tokens":\#(usage.0),"completion_tokens":\#(usage.1),"total_tokens":\#(usage.0 + usage.1)}}"#
        )
    }

    /// An SSE answer. `beforeEvent` runs before each event is written (to pause on a gate); when `cutAfter` is set
    /// the connection is dropped after that many events, without finishing the body, once `beforeCut` returns.
    /// Hummingbird closes the channel as soon as a body throws, so `beforeCut` must give the events written so far
    /// time to leave: by default a pause, or better a gate the test opens once it has read them.
    static func sse(
        _ events: [String], beforeEvent: @escaping @Sendable (Int) async -> Void = { _ in },
        cutAfter: Int? = nil, beforeCut: @escaping @Sendable () async -> Void = { try? await Task.sleep(for: .milliseconds(300)) },
        onWriteFailure: @escaping @Sendable () -> Void = {}
    ) -> Response {
        Response(
            status: .ok, headers: [.contentType: "text/event-stream"],
            body: ResponseBody { writer in
                func cut() async throws -> Never {
                    await beforeCut()
                    throw CutConnection()
                }
                for (index, event) in events.enumerated() {
                    if let cutAfter, index == cutAfter { try await cut() }
                    await beforeEvent(index)
                    do {
                        try await writer.write(ByteBuffer(string: event))
                    } catch {
                        onWriteFailure()
                        throw error
                    }
                }
                if let cutAfter, cutAfter >= events.count { try await cut() }
                try await writer.finish(nil)
            }
        )
    }

    struct CutConnection: Error {}

    static func chunk(_ content: String, id: String = "chatcmpl-s", finish: String? = nil) -> String {
        let finishJSON = finish.map { "\"\($0)\"" } ?? "null"
        let delta = finish == nil ? #"{"content":"\#(content)"}"# : "{}"
        return #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":\#(delta),"finish_reason":\#(finishJSON)}]}"# + "\n\n"
    }

    static func roleChunk(id: String = "chatcmpl-s") -> String {
        #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}"# + "\n\n"
    }

    static func usageChunk(prompt: Int, completion: Int, id: String = "chatcmpl-s") -> String {
        #"data: {"id":"\#(id)","object":"chat.completion.chunk","created":1700000000,"model":"upstream-model","choices":[],"usage":{"prompt_tokens":\#(prompt),"completion_tokens":\#(completion),"total_tokens":\#(prompt + completion)}}"# + "\n\n"
    }

    static let done = "data: [DONE]\n\n"

    /// A typical stream: role, the words of `text`, a finish chunk, a usage chunk and `[DONE]`.
    static func streamEvents(_ words: [String], usage: (Int, Int)? = (3, 4)) -> [String] {
        var events = [roleChunk()] + words.map { chunk($0) } + [chunk("", finish: "stop")]
        if let usage { events.append(usageChunk(prompt: usage.0, completion: usage.1)) }
        events.append(done)
        return events
    }
}

/// A one-shot signal one task can wait for.
final class Gate: Sendable {
    private let state = NIOLockedValueBox<(open: Bool, waiters: [CheckedContinuation<Void, Never>])>((false, []))

    func open() {
        let waiters = state.withLockedValue { state -> [CheckedContinuation<Void, Never>] in
            state.open = true
            defer { state.waiters = [] }
            return state.waiters
        }
        waiters.forEach { $0.resume() }
    }

    var isOpen: Bool { state.withLockedValue { $0.open } }

    func wait() async {
        await withCheckedContinuation { continuation in
            let openNow = state.withLockedValue { state -> Bool in
                if state.open { return true }
                state.waiters.append(continuation)
                return false
            }
            if openNow { continuation.resume() }
        }
    }

    /// Waits until open or until `seconds` pass; returns whether it opened.
    func wait(upTo seconds: Double) async -> Bool {
        let deadline = ContinuousClock.now + .milliseconds(Int(seconds * 1000))
        while !isOpen && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
        return isOpen
    }
}
