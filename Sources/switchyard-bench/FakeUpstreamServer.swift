import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix

/// The benchmark's upstream: a bare SwiftNIO HTTP/1.1 server that is never the bottleneck. What it answers is
/// chosen by the path prefix, so one server can play every provider:
/// - `/json/v1/...`: a fixed ~300-byte `chat.completion`;
/// - `/sse/<chunks>/<gap-ms>/v1/...`: an SSE stream of that many chunks, that far apart, then `[DONE]`;
/// - `/fail/v1/...`: 503.
enum FakeUpstreamServer {
    static let completion = #"{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"bench-model","choices":[{"index":0,"message":{"role":"assistant","content":"The quick brown fox jumps over the lazy dog."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":10,"total_tokens":22}}"#

    static func chunk(_ index: Int) -> String {
        #"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{"content":"token\#(index) "},"logprobs":null,"finish_reason":null}]}"# + "\n\n"
    }

    static let finish = #"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]}"# + "\n\n"
    static let usage = #"data: {"id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"bench-model","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":20,"total_tokens":32}}"# + "\n\n"
    static let failure = #"{"error":{"message":"overloaded","type":"server_error","param":null,"code":null}}"#

    /// Serves until the process ends; prints `listening <port>` on stdout once ready.
    static func run(port: Int, threads: Int) throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: threads)
        let channel = try ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 4096)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                    try channel.pipeline.syncOperations.addHandler(Handler())
                }
            }
            .bind(host: "127.0.0.1", port: port).wait()
        FileHandle.standardOutput.write(Data("listening \(channel.localAddress!.port!)\n".utf8))
        try channel.closeFuture.wait()
    }

    final class Handler: ChannelInboundHandler {
        typealias InboundIn = HTTPServerRequestPart
        typealias OutboundOut = HTTPServerResponsePart

        private var path = ""
        private var wantsStream = false

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            switch unwrapInboundIn(data) {
            case .head(let head):
                path = head.uri
                wantsStream = false
            case .body(let body):
                // The member `"stream": true` (with or without spaces; `"stream"` may also be a value, e.g. a model
                // name): a byte check is enough for a benchmark.
                let bytes = Array(body.readableBytesView)
                var from = bytes.startIndex
                while let key = bytes[from...].firstRange(of: Array(#""stream""#.utf8)) {
                    let rest = bytes[key.upperBound...].drop { $0 == UInt8(ascii: " ") }
                    if rest.first == UInt8(ascii: ":") {
                        wantsStream = rest.dropFirst().drop { $0 == UInt8(ascii: " ") }.starts(with: "true".utf8)
                        break
                    }
                    from = key.upperBound
                }
            case .end:
                respond(context: context)
            }
        }

        private func respond(context: ChannelHandlerContext) {
            let parts = path.split(separator: "/")
            if parts.first == "fail" {
                send(context, status: .serviceUnavailable, contentType: "application/json", body: FakeUpstreamServer.failure)
            } else if parts.first == "sse", parts.count >= 3, let count = Int(parts[1]), let gap = Int(parts[2]) {
                if wantsStream {
                    stream(context, chunks: count, gap: .milliseconds(Int64(gap)))
                } else {
                    send(context, status: .ok, contentType: "application/json", body: FakeUpstreamServer.completion)
                }
            } else {
                send(context, status: .ok, contentType: "application/json", body: FakeUpstreamServer.completion)
            }
        }

        private func send(_ context: ChannelHandlerContext, status: HTTPResponseStatus, contentType: String, body: String) {
            var head = HTTPResponseHead(version: .http1_1, status: status)
            head.headers.add(name: "content-type", value: contentType)
            head.headers.add(name: "content-length", value: String(body.utf8.count))
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: body)))), promise: nil)
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        }

        private func stream(_ context: ChannelHandlerContext, chunks: Int, gap: TimeAmount) {
            var head = HTTPResponseHead(version: .http1_1, status: .ok)
            head.headers.add(name: "content-type", value: "text/event-stream")
            head.headers.add(name: "cache-control", value: "no-cache")
            context.write(wrapOutboundOut(.head(head)), promise: nil)
            emit(0, context: context, chunks: chunks, gap: gap)
        }

        private func emit(_ index: Int, context: ChannelHandlerContext, chunks: Int, gap: TimeAmount) {
                guard context.channel.isActive else { return }
                if index < chunks {
                    let text = FakeUpstreamServer.chunk(index)
                    context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: text)))), promise: nil)
                    context.eventLoop.assumeIsolated().scheduleTask(in: gap) {
                        self.emit(index + 1, context: context, chunks: chunks, gap: gap)
                    }
                } else {
                    let tail = FakeUpstreamServer.finish + FakeUpstreamServer.usage + "data: [DONE]\n\n"
                    context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(string: tail)))), promise: nil)
                    context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
                }
        }
    }
}
