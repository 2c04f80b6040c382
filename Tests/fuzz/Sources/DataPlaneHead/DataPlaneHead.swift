// Fuzzes a client connection as the server builds it (`GatewayHTTP1Channel.addHandlers`: head guard, NIOHTTP1's
// decoder, the HTTP type conversion, the head watcher, Hummingbird's connection-state handler and the data plane)
// with raw bytes, split into reads as the input's first byte chooses. The gateway serves the built-in echo
// provider, so whole requests go through routing, the key check, quotas, translation and streaming without a
// socket; what the data plane passes on is answered by a stand-in for Hummingbird's router.
//
// Invariants:
// - the bytes written back are a run of complete HTTP/1.1 responses and nothing else (framing never desyncs);
// - every request the data plane read whole is answered once, in order, while the connection stays open (one may be
//   answered before its body is read, never twice); after it closes, at most one more answer (the head guard's
//   400/408/431) follows the last request;
// - each data-plane answer is JSON or a stream of SSE events; each error is in its route's dialect (OpenAI,
//   Anthropic or Gemini error shape), and the head guard's in OpenAI's;
// - no answer carries the provider's key;
// - once the connection has closed, no request is in flight and no stream open (the gauges are back to 0).
import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOEmbedded
import NIOHTTPTypes
import NIOPosix
@testable import SwitchyardCore
@testable import SwitchyardServer

let providerKey = "sk-upstream-secret-4f1c"
let gatewayKey = "sk-fuzz-gateway"

/// What every input is served with; a fresh gateway state per input keeps runs reproducible (quotas start empty).
let config: GatewayConfig = {
    let text = """
        {
          "_global": {"api_key": "\(gatewayKey)", "max_request_body_mb": 0.03, "max_request_head_kb": 4,
                      "responses_max_count": 0, "request_head_timeout_seconds": 5, "keep_alive_timeout_seconds": 60},
          "demo": {"providers": [{"name": "echo", "type": "echo", "model": "demo-echo", "api_key": "\(providerKey)"}]},
          "limited": {"providers": [{"name": "echo", "type": "echo", "model": "e", "api_key": "\(providerKey)",
                                     "rate_limit": {"requests_per_period": 1, "period_cron": "0 0 * * *"}}]}
        }
        """
    let node = try! ConfigNode.parse(contents: text, fileName: "fuzz.json")
    return try! ConfigLoader.validate(node, file: "fuzz.json", environment: [:]).config
}()

let dataDirectory: String = {
    let path = NSTemporaryDirectory() + "switchyard-fuzz-\(getpid())"
    try? FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    return path
}()

let logger = Logger(label: "fuzz") { _ in SwiftLogNoOpLogHandler() }

func makeEngine() -> ProxyEngine {
    let metrics = GatewayMetrics()
    let state = GatewayState(
        config: config, configFile: "fuzz.json",
        files: UsageFiles(dataDirectory: dataDirectory, timeZone: TimeZone(identifier: "UTC")!), clock: SystemClock(),
        logger: logger, metrics: metrics, listenHost: "127.0.0.1"
    )
    let proxies = OutboundProxies(clock: SystemClock(), cooldown: { 1 })
    let pools = UpstreamPools(group: MultiThreadedEventLoopGroup.singleton, proxies: proxies) {
        UpstreamConnectionPool.Settings(config.global)
    }
    let transport = UpstreamTransport(pools: pools)
    return ProxyEngine(
        state: state, transport: transport, metrics: metrics,
        recorder: RequestRecorder(metrics: metrics, requestLog: LogSink(path: nil, toStandardError: false), state: state),
        credentials: Credentials(transport: transport, clock: SystemClock())
    )
}

/// Records, in order, the targets of the request heads that reach the data plane, and how many requests it read
/// whole.
final class RequestProbe: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPRequestPart
    typealias InboundOut = HTTPRequestPart
    var targets: [String] = []
    var ended = 0

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head): targets.append(head.path ?? "")
        case .body: break
        case .end: ended += 1
        }
        context.fireChannelRead(data)
    }
}

/// Hummingbird's router in the fuzz pipeline: every request it is handed gets an empty 404.
final class RouterStandIn: ChannelInboundHandler {
    typealias InboundIn = HTTPRequestPart
    typealias OutboundOut = HTTPResponsePart

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard case .end = unwrapInboundIn(data) else { return }
        context.write(wrapOutboundOut(.head(HTTPResponse(status: .notFound, headerFields: [.contentLength: "0"]))), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }
}

/// One response read back from the connection's output.
struct WrittenResponse {
    var status: Int
    var headers: [(String, String)]
    var body: [UInt8]

    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name }?.1 }
}

/// Reads `bytes` as consecutive HTTP/1.1 responses, each framed by content-length or chunked encoding; nil when
/// they are not exactly that.
func responses(in bytes: [UInt8]) -> [WrittenResponse]? {
    var position = 0
    var read: [WrittenResponse] = []
    func line() -> String? {
        var end = position
        while end + 1 < bytes.count, !(bytes[end] == 0x0D && bytes[end + 1] == 0x0A) { end += 1 }
        guard end + 1 < bytes.count else { return nil }
        defer { position = end + 2 }
        return String(decoding: bytes[position..<end], as: UTF8.self)
    }
    while position < bytes.count {
        guard let status = line(), status.hasPrefix("HTTP/1.1 "), let code = Int(status.dropFirst(9).prefix(3)) else { return nil }
        var headers: [(String, String)] = []
        while true {
            guard let header = line() else { return nil }
            if header.isEmpty { break }
            guard let colon = header.firstIndex(of: ":") else { return nil }
            headers.append((String(header[..<colon]), header[header.index(after: colon)...].trimmingCharacters(in: .whitespaces)))
        }
        var response = WrittenResponse(status: code, headers: headers, body: [])
        if let length = response.header("content-length") {
            guard let count = Int(length), count >= 0, position + count <= bytes.count else { return nil }
            response.body = Array(bytes[position..<position + count])
            position += count
        } else if response.header("transfer-encoding")?.lowercased() == "chunked" {
            while true {
                guard let size = line(), let count = Int(size, radix: 16), count >= 0, position + count + 2 <= bytes.count
                else { return nil }
                response.body += bytes[position..<position + count]
                position += count
                guard bytes[position] == 0x0D, bytes[position + 1] == 0x0A else { return nil }
                position += 2
                if count == 0 { break }
            }
        } else {
            return nil
        }
        read.append(response)
    }
    return read
}

/// Checks an answer of the data plane: JSON (an error in the route's dialect) or an SSE stream.
func checkAnswer(_ response: WrittenResponse, dialect: Dialect, _ what: String) {
    let contentType = response.header("content-type") ?? ""
    if contentType.hasPrefix("text/event-stream") {
        check(response.status == 200, "\(what): a stream with status \(response.status)")
        var buffer = ByteBuffer(bytes: response.body)
        if buffer.readableBytes > 0 { checkSSEOutput(buffer, what) }
        buffer.clear()
        return
    }
    check(contentType.hasPrefix("application/json"), "\(what): content-type \(contentType)")
    let parsed = try? JSONSerialization.jsonObject(with: Data(response.body))
    check(parsed != nil, "\(what): a body that is not JSON: \(preview(response.body))")
    guard response.status >= 400 else { return }
    let object = parsed as? [String: Any]
    let error = object?["error"] as? [String: Any]
    let shaped: Bool
    switch dialect {
    case .openAI: shaped = error?["message"] is String && error?["type"] is String
    case .anthropic: shaped = object?["type"] as? String == "error" && error?["type"] is String && error?["message"] is String
    case .gemini: shaped = error?["code"] is Int && error?["message"] is String && error?["status"] is String
    }
    check(shaped, "\(what): a \(response.status) not in \(dialect)'s error shape: \(preview(response.body))")
}

/// Prometheus text's value of an unlabelled gauge.
func gauge(_ name: String, in text: String) -> Double? {
    for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
        return Double(line.dropFirst(name.count + 1))
    }
    return nil
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ start: UnsafePointer<UInt8>, _ count: Int) -> CInt {
    var input = FuzzInput(start, count)
    let splitting = input.byte()
    let bytes = input.rest()
    let engine = makeEngine()
    let channel = EmbeddedChannel()
    let probe = RequestProbe()
    do {
        let pipeline = channel.pipeline.syncOperations
        try GatewayHTTP1Channel.addHandlers(
            to: pipeline, limits: ClientConnectionLimits(config.global), engine: engine, logger: logger
        )
        try pipeline.addHandler(probe, position: .before(try pipeline.handler(type: DataPlaneHandler.self)))
        try pipeline.addHandler(RouterStandIn())
        try channel.connect(to: SocketAddress(ipAddress: "127.0.0.1", port: 1)).wait()
    } catch {
        check(false, "the pipeline was not built: \(error)")
    }

    // Reads of 1 to 256 bytes (splitting 0: all at once); the server closes a connection whose pipeline fails.
    var generator = SplitMix(state: UInt64(splitting))
    var offset = 0
    while offset < bytes.count, channel.isActive {
        let size = splitting == 0 ? bytes.count : Int.random(in: 1...256, using: &generator)
        let end = min(bytes.count, offset + size)
        do {
            try channel.writeInbound(ByteBuffer(bytes: bytes[offset..<end]))
        } catch {
            channel.close(promise: nil)
        }
        channel.embeddedEventLoop.run()
        offset = end
    }
    // Whatever waits on a timer (a head that never ends, a keep-alive timeout) comes due.
    channel.embeddedEventLoop.advanceTime(by: .seconds(10))
    let openAfterward = channel.isActive

    var output: [UInt8] = []
    while let buffer = try? channel.readOutbound(as: ByteBuffer.self) { output += buffer.readableBytesView }
    _ = try? channel.finish(acceptAlreadyClosed: true)
    channel.embeddedEventLoop.run()

    guard let answers = responses(in: output) else {
        check(false, "the output is not a run of HTTP/1.1 responses: \(preview(output))")
        return 0
    }
    // A request may be answered before it is read whole (a body over the limit gets its 413 at once).
    let heads = probe.targets.count
    if openAfterward {
        check(
            probe.ended <= answers.count && answers.count <= heads,
            "\(heads) request heads, \(probe.ended) read whole, \(answers.count) answers, the connection open"
        )
    } else {
        check(answers.count <= heads + 1, "\(heads) request heads, \(answers.count) answers")
    }
    check(!output.contains(providerKey.utf8), "an answer carries the provider's key: \(preview(output))")
    for (index, answer) in answers.enumerated() {
        guard index < heads else {
            check([400, 408, 431].contains(answer.status), "the head guard's answer is a \(answer.status)")
            checkAnswer(answer, dialect: .openAI, "the head guard's answer")
            continue
        }
        let target = probe.targets[index]
        // The decoder hands on only heads it parsed, so their method was a valid one; the data plane serves POSTs.
        let route = DataPlaneRoute(method: .post, target: target)
        if answer.status == 404, answer.body.isEmpty, answer.header("content-length") == "0" { continue }  // the stand-in
        guard let route else {
            check(false, "request \(index) (\(target.debugDescription)) is no data-plane route but got a \(answer.status)")
            continue
        }
        checkAnswer(answer, dialect: route.dialect, "the answer to request \(index) (\(target.debugDescription))")
    }
    let metrics = String(decoding: engine.metrics.scrape(state: engine.state), as: UTF8.self)
    check(gauge("switchyard_in_flight_requests", in: metrics) ?? 0 == 0, "requests in flight after the connection closed")
    check(gauge("switchyard_open_streams", in: metrics) ?? 0 == 0, "streams open after the connection closed")
    return 0
}
