import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import NIOConcurrencyHelpers
import SwitchyardCore
import SwitchyardServer
import Testing

/// Runs the real gateway (and optionally a fake upstream) on 127.0.0.1 port 0 for one test.
enum GatewayHarness {
    static var logger: Logger {
        if ProcessInfo.processInfo.environment["SWITCHYARD_TEST_LOGS"] != nil {
            var logger = Logger(label: "switchyard-test")
            logger.logLevel = .debug
            return logger
        }
        return Logger(label: "switchyard-test", factory: { _ in SwiftLogNoOpLogHandler() })
    }

    /// The gateways' event loops: apart from the fake upstreams' and clients' (the shared singleton), as separate
    /// processes would be, so that a gateway serving on its loops is not slowed by the test's own traffic there.
    static let gatewayLoops = MultiThreadedEventLoopGroup(numberOfThreads: System.coreCount)

    /// Starts `upstream` (if any), then the gateway on the config `config` builds (it can use the upstream's
    /// endpoints; it is written to `client.configFile`, which `/admin/reload` reads), runs `body`, and shuts both
    /// down. `dataDirectory` lets a test prepare or inspect usage files; `clock` drives quota resets.
    static func run(
        upstream: FakeUpstream? = nil,
        environment: [String: String] = [:],
        clock: any GatewayClock = SystemClock(),
        timeZone: TimeZone = TimeZone(identifier: "UTC")!,
        dataDirectory: URL? = nil,
        config: () -> String,
        _ body: (GatewayClient) async throws -> Void
    ) async throws {
        try await withServices(upstream.map { upstream in { ready in upstream.makeApplication { ready.open() } } }) {
            let directory = FileManager.default.temporaryDirectory.appendingPathComponent("switchyard-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: directory) }
            let configFile = directory.appendingPathComponent("provider.json")
            try config().write(to: configFile, atomically: true, encoding: .utf8)
            let loaded = try ConfigLoader.load(file: configFile.path, environment: environment)
            let data = dataDirectory ?? directory.appendingPathComponent("data")
            let options = GatewayOptions(
                host: "127.0.0.1", port: 0, configFile: configFile.path, dataDirectory: data.path,
                logDirectory: directory.appendingPathComponent("logs").path, timeZone: timeZone, clock: clock,
                eventLoopGroup: gatewayLoops
            )
            let port = NIOLockedValueBox<Int>(0)
            try await withServices({ ready in
                Gateway.makeApplication(config: loaded, options: options, logger: logger) { bound in
                    port.withLockedValue { $0 = bound }
                    ready.open()
                }
            }) {
                let client = GatewayClient(port: port.withLockedValue { $0 }, configFile: configFile, dataDirectory: data)
                let result: Result<Void, any Error>
                do { result = .success(try await body(client)) } catch { result = .failure(error) }
                try await client.http.shutdown()
                try result.get()
            }
        }
    }

    /// Runs the service `make` builds (it opens the gate once it accepts connections) around `body`, then shuts
    /// it down gracefully, also when `body` throws.
    static func withServices<Value>(
        _ make: ((Gate) -> any Service)?, _ body: () async throws -> Value
    ) async throws -> Value {
        guard let make else { return try await body() }
        let ready = Gate()
        let serviceGroup = ServiceGroup(configuration: .init(services: [make(ready)], logger: logger))
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await serviceGroup.run() }
            let result: Result<Value, any Error>
            if await ready.wait(upTo: 30) {
                do { result = .success(try await body()) } catch { result = .failure(error) }
            } else {
                result = .failure(ServiceDidNotStart())
            }
            await serviceGroup.triggerGracefulShutdown()
            try await group.waitForAll()
            return try result.get()
        }
    }

    struct ServiceDidNotStart: Error {}
}

/// The test's HTTP client towards the gateway.
struct GatewayClient: Sendable {
    let port: Int
    /// The config file the gateway was started from (rewrite it, then POST /admin/reload).
    var configFile = URL(fileURLWithPath: "/dev/null")
    var dataDirectory = URL(fileURLWithPath: "/dev/null")
    let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)

    var baseURL: String { "http://127.0.0.1:\(port)" }

    struct Reply: Sendable {
        var status: Int
        var headers: HTTPHeaders
        var body: String

        var json: [String: Any] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [String: Any] ?? [:]
        }

        /// A body that is a JSON list of objects (admin lists).
        var jsonArray: [[String: Any]] {
            (try? JSONSerialization.jsonObject(with: Data(body.utf8))) as? [[String: Any]] ?? []
        }

        /// `error.code`, `error.type`, … of an OpenAI-shaped error.
        var error: [String: Any] { json["error"] as? [String: Any] ?? [:] }

        func header(_ name: String) -> String? { headers.first(name: name) }

        /// The `data:` payloads of an SSE body (LF- or CRLF-framed), in order.
        var events: [String] {
            body.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n").compactMap { event in
                let lines = event.split(separator: "\n").filter { $0.hasPrefix("data:") }
                guard !lines.isEmpty else { return nil }
                return lines.map { $0.dropFirst(5).trimmingCharacters(in: .whitespaces) }.joined(separator: "\n")
            }
        }

        var eventObjects: [[String: Any]] {
            events.compactMap { (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any] }
        }

        /// The text of a streamed chat answer.
        var streamedContent: String {
            eventObjects.compactMap { object in
                ((object["choices"] as? [[String: Any]])?.first?["delta"] as? [String: Any])?["content"] as? String
            }.joined()
        }

        /// The content of a chat.completion answer.
        var content: String? {
            ((json["choices"] as? [[String: Any]])?.first?["message"] as? [String: Any])?["content"] as? String
        }
    }

    func request(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []
    ) async throws -> Reply {
        try await request(method, path, bytes: body.map { Array($0.utf8) }, headers: headers)
    }

    /// A request whose body need not be valid UTF-8.
    func request(_ method: HTTPMethod, _ path: String, bytes: [UInt8]?, headers: [(String, String)] = []) async throws
        -> Reply
    {
        let response = try await send(method, path, bytes: bytes, headers: headers)
        let collected = try await response.body.collect(upTo: 64 * 1024 * 1024)
        return Reply(status: Int(response.status.code), headers: response.headers, body: String(buffer: collected))
    }

    func post(_ path: String, _ body: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request(.POST, path, body: body, headers: headers)
    }

    func get(_ path: String, headers: [(String, String)] = []) async throws -> Reply {
        try await request(.GET, path, headers: headers)
    }

    /// The status of a POST, or 0 when the request failed in transport (for terse `#expect`s).
    func postStatus(_ path: String, _ body: String, headers: [(String, String)] = []) async -> Int {
        (try? await post(path, body, headers: headers).status) ?? 0
    }

    /// The status of a GET, or 0 when the request failed in transport.
    func getStatus(_ path: String, headers: [(String, String)] = []) async -> Int {
        (try? await get(path, headers: headers).status) ?? 0
    }

    /// Sends a request and returns as soon as the response head arrives (the body is read by the caller).
    func send(
        _ method: HTTPMethod, _ path: String, body: String? = nil, headers: [(String, String)] = []
    ) async throws -> HTTPClientResponse {
        try await send(method, path, bytes: body.map { Array($0.utf8) }, headers: headers)
    }

    func send(_ method: HTTPMethod, _ path: String, bytes: [UInt8]?, headers: [(String, String)] = []) async throws
        -> HTTPClientResponse
    {
        var request = HTTPClientRequest(url: baseURL + path)
        request.method = method
        if let bytes {
            request.body = .bytes(ByteBuffer(bytes: bytes))
            request.headers.add(name: "content-type", value: "application/json")
        }
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        return try await http.execute(request, timeout: .seconds(60))
    }
}

/// A chat request body.
func chatBody(model: String = "m", content: String = "hi", stream: Bool = false, extra: String = "") -> String {
    #"{"model":"\#(model)","messages":[{"role":"user","content":"\#(content)"}]\#(stream ? #","stream":true"# : "")\#(extra)}"#
}

/// A provider entry for a test config.
func providerJSON(
    _ name: String, endpoint: String, model: String = "upstream-model", priority: Int = 1, weight: Int = 10,
    retry: Int = 0, timeout: Double = 10, extra: String = ""
) -> String {
    #"{"name":"\#(name)","endpoint":"\#(endpoint)","api_key":"key-\#(name)","model":"\#(model)","priority":\#(priority),"weight":\#(weight),"retry":\#(retry),"timeout":\#(timeout)\#(extra)}"#
}

/// A config with one model `m` served by `providers`.
func modelConfig(_ providers: [String], global: String = #"{"retry_backoff_ms":1}"#) -> String {
    #"{"_global":\#(global),"m":{"providers":[\#(providers.joined(separator: ","))]}}"#
}

/// Reads a streamed response piece by piece, keeping everything received so far.
struct StreamReader {
    private var iterator: HTTPClientResponse.Body.AsyncIterator
    private(set) var received = ""

    init(_ response: HTTPClientResponse) {
        iterator = response.body.makeAsyncIterator()
    }

    /// Reads until `text` has arrived (or the body ends).
    mutating func read(until text: String) async throws {
        while !received.contains(text), let chunk = try await iterator.next() {
            received += String(buffer: chunk)
        }
    }

    /// Reads the rest of the body.
    mutating func readToEnd() async throws {
        while let chunk = try await iterator.next() {
            received += String(buffer: chunk)
        }
    }
}
