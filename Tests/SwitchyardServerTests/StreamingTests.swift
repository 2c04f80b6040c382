import AsyncHTTPClient
import Foundation
import NIOCore
import Testing

@Suite("Streaming")
struct StreamingTests {
    @Test func streamHasSSEHeadersAndRelaysEventsByteExact() async throws {
        // Odd but legal framing: CRLF line ends, a comment, no space after "data:".
        let events = [
            ": keep-alive\r\n\r\n",
            "data:" + Reply.roleChunk().dropFirst(6).dropLast(2) + "\r\n\r\n",
            Reply.chunk("Hello"),
            Reply.chunk(" world"),
            Reply.chunk("", finish: "stop"),
            Reply.done,
        ]
        let upstream = FakeUpstream { _ in Reply.sse(events) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.status == 200)
            #expect(reply.header("content-type") == "text/event-stream")
            #expect(reply.header("cache-control") == "no-cache")
            #expect(reply.header("x-accel-buffering") == "no")
            #expect(reply.body == events.joined())
        }
    }

    @Test func firstChunkReachesTheClientBeforeTheUpstreamFinishes() async throws {
        let gate = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["first", " second"], usage: nil)) { index in
                if index == 2 { await gate.wait() }  // hold everything after the first content chunk
            }
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            defer { gate.open() }  // the fake upstream can always finish and shut down
            let response = try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true))
            #expect(response.status.code == 200)
            var reader = StreamReader(response)
            try await reader.read(until: "first")
            #expect(reader.received.contains("\"first\""))
            #expect(!gate.isOpen, "the first chunk arrived while the upstream was still holding the rest")
            #expect(!reader.received.contains("second"))
            gate.open()
            try await reader.readToEnd()
            #expect(reader.received.contains("second"))
            #expect(reader.received.hasSuffix("data: [DONE]\n\n"))
        }
    }

    @Test func anUpstreamCutMidStreamEndsWithOneErrorEventAndNoDone() async throws {
        let relayed = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["partial", " answer", " never"]), cutAfter: 3, beforeCut: { await relayed.wait() })
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            defer { relayed.open() }  // the fake upstream can always finish and shut down
            var reader = StreamReader(try await client.send(.POST, "/v1/chat/completions", body: chatBody(stream: true)))
            try await reader.read(until: "answer")
            relayed.open()
            try await reader.readToEnd()
            let reply = GatewayClient.Reply(status: 200, headers: [:], body: reader.received)
            #expect(reply.streamedContent == "partial answer")
            let last = try #require(reply.eventObjects.last)
            let error = try #require(last["error"] as? [String: Any])
            #expect(error["code"] as? String == "upstream_stream_error")
            #expect(error["type"] as? String == "api_error")
            #expect(!reply.events.contains("[DONE]"))
            #expect(reply.events.filter { $0.contains("\"error\"") }.count == 1)
            #expect(reply.body.hasSuffix("\n\n"), "the error event is a complete event")
        }
    }

    @Test func anUpstreamThatGoesSilentMidStreamIsCutWithAnErrorEvent() async throws {
        let release = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(Reply.streamEvents(["partial", " rest"])) { index in
                if index == 2 { await release.wait() }  // silent until the test is over
            }
        }
        // The timeout also bounds the wait for headers, which under a full test run on a slow machine took over 2 s.
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), timeout: 5)])
        } _: { client in
            defer { release.open() }  // lets the fake upstream finish so it can shut down
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.streamedContent == "partial", "\(reply.status) \(reply.body)")
            let error = try #require(reply.eventObjects.last?["error"] as? [String: Any])
            #expect((error["message"] as? String)?.contains("no data from the upstream for 5") == true)
            #expect(!reply.events.contains("[DONE]"))
        }
    }

    @Test func aStreamThatEndsWithoutFinishingIsNotAQuietSuccess() async throws {
        let upstream = FakeUpstream { _ in Reply.sse([Reply.roleChunk(), Reply.chunk("half")]) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.streamedContent == "half")
            #expect(reply.eventObjects.last?["error"] != nil)
            #expect(!reply.events.contains("[DONE]"))
        }
    }

    @Test func aClientThatDisconnectsCancelsTheUpstreamRequest() async throws {
        let upstreamNoticed = Gate()
        let upstream = FakeUpstream { _ in
            Reply.sse(
                [Reply.roleChunk(), Reply.chunk("one")] + Array(repeating: Reply.chunk(" more"), count: 200),
                beforeEvent: { index in if index >= 2 { try? await Task.sleep(for: .milliseconds(50)) } },
                onWriteFailure: { upstreamNoticed.open() }
            )
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let http = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup)
            var request = HTTPClientRequest(url: client.baseURL + "/v1/chat/completions")
            request.method = .POST
            request.body = .bytes(ByteBuffer(string: chatBody(stream: true)))
            // Read the first chunk, then drop the response and close the connection.
            let response = try await http.execute(request, timeout: .seconds(30))
            for try await chunk in response.body where String(buffer: chunk).contains("one") {
                break
            }
            try await http.shutdown()
            #expect(await upstreamNoticed.wait(upTo: 10), "the upstream stream was cut once the client left")
        }
    }

    @Test func theUsageChunkSwitchyardAskedForIsHiddenFromClientsThatDidNot() async throws {
        let upstream = FakeUpstream { request in
            // A real OpenAI upstream with include_usage: usage null on every chunk, then a usage chunk.
            let events = [
                #"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"u","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}],"usage":null}"# + "\n\n",
                #"data: {"id":"x","object":"chat.completion.chunk","created":1,"model":"u","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}"# + "\n\n",
                Reply.usageChunk(prompt: 2, completion: 1),
                Reply.done,
            ]
            return Reply.sse(events)
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))])
        } _: { client in
            let plain = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(plain.streamedContent == "hi")
            #expect(!plain.body.contains("usage"))
            #expect(plain.events.last == "[DONE]")
            let sent = try #require(upstream.requests.first)
            #expect((sent.json["stream_options"] as? [String: Any])?["include_usage"] as? Bool == true)

            let asked = try await client.post(
                "/v1/chat/completions", chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#)
            )
            let usage = try #require(asked.eventObjects.compactMap { $0["usage"] as? [String: Any] }.first)
            #expect(usage["total_tokens"] as? Int == 3)
        }
    }
}

extension StreamingTests {
    static let smallEvents = #"{"retry_backoff_ms":1,"max_stream_event_mb":0.001}"#  // about 1 KB

    @Test func anEventOverTheLimitBeforeTheFirstByteFailsOver() async throws {
        let huge = "data: {\"pad\":\"" + String(repeating: "x", count: 4096)  // never ends
        let upstream = FakeUpstream { request in
            request.provider == "endless" ? Reply.sse([huge, huge]) : Reply.sse(Reply.streamEvents(["fine"]))
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([
                providerJSON("endless", endpoint: upstream.endpoint("endless")),
                providerJSON("backup", endpoint: upstream.endpoint("backup"), priority: 2),
            ], global: Self.smallEvents)
        } _: { client in
            let streamed = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(streamed.header("x-switchyard-provider") == "backup")
            #expect(streamed.streamedContent == "fine")
            // A client that wants JSON gets the same protection when the stream is aggregated.
            let aggregated = try await client.post("/v1/chat/completions", chatBody())
            #expect(aggregated.status == 200)
            #expect(aggregated.header("x-switchyard-provider") == "backup")
        }
    }

    @Test func anEventOverTheLimitAfterTheFirstByteEndsTheStreamWithAnErrorEvent() async throws {
        let huge = "data: {\"pad\":\"" + String(repeating: "x", count: 4096) + "\"}\n\n"
        let upstream = FakeUpstream { _ in Reply.sse([Reply.roleChunk(), Reply.chunk("start"), huge, Reply.done]) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"))], global: Self.smallEvents)
        } _: { client in
            let reply = try await client.post("/v1/chat/completions", chatBody(stream: true))
            #expect(reply.streamedContent == "start")
            #expect(!reply.body.contains("xxxx"))
            let error = try #require(reply.eventObjects.last?["error"] as? [String: Any])
            #expect(error["code"] as? String == "upstream_stream_error")
            #expect((error["message"] as? String)?.contains("larger than") == true)
            #expect(!reply.body.contains("[DONE]"))
        }
    }

    @Test func aProviderThatTakesNoStreamOptionsGetsNoneAndIsCountedByEstimate() async throws {
        let upstream = FakeUpstream { _ in Reply.sse(Reply.streamEvents(["counted", " anyway"], usage: nil)) }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("strict", endpoint: upstream.endpoint("strict"), extra: #","send_stream_options":false"#)])
        } _: { client in
            let reply = try await client.post(
                "/v1/chat/completions", chatBody(stream: true, extra: #","stream_options":{"include_usage":true}"#)
            )
            #expect(reply.streamedContent == "counted anyway")
            #expect(upstream.requests.first?.json["stream_options"] == nil, "the field is never sent")
            let stats = try await client.get("/admin/stats").json
            let tokens = (stats["m"] as? [String: Any])?["strict"] as? [String: Any]
            #expect((tokens?["estimated_tokens"] as? Int ?? 0) > 0, "\(stats)")
        }
    }

    @Test func usageCountsNearIntMaxAreNotBelievedAndNeverTrap() async throws {
        let huge = #"{"prompt_tokens":9223372036854775807,"completion_tokens":9223372036854775807,"total_tokens":9223372036854775807}"#
        let upstream = FakeUpstream { request in
            if request.json["stream"] as? Bool == true {
                return Reply.sse([Reply.roleChunk(), Reply.chunk("big"), Reply.chunk("", finish: "stop"),
                    #"data: {"id":"s","object":"chat.completion.chunk","choices":[],"usage":\#(huge)}"# + "\n\n", Reply.done])
            }
            return Reply.json(#"{"id":"c","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"big"},"finish_reason":"stop"}],"usage":\#(huge)}"#)
        }
        try await GatewayHarness.run(upstream: upstream) {
            modelConfig([providerJSON("p", endpoint: upstream.endpoint("p"), extra: #","rate_limit":{"tokens_per_period":1000000}"#)])
        } _: { client in
            for _ in 0..<3 {
                let plain = try await client.post("/v1/chat/completions", chatBody())
                #expect(plain.content == "big")
                let streamed = try await client.post("/v1/chat/completions", chatBody(stream: true))
                #expect(streamed.streamedContent == "big")
            }
            #expect(await client.getStatus("/admin/stats") == 200)
            #expect(await client.postStatus("/v1/chat/completions", chatBody()) == 200, "the token quota was not blown by a lie")
        }
    }
}
