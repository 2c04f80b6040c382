import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import SwitchyardCore

/// Serves one request of any client API: picks providers in route order, retries and fails over by the failover policy, and
/// converts between streaming and non-streaming answers where a provider cannot serve the client's mode.
struct ProxyEngine: Sendable {
    let state: GatewayState
    let transport: UpstreamTransport
    let metrics: GatewayMetrics
    let recorder: RequestRecorder
    let credentials: Credentials
    let connectionWatch = ClientConnectionWatch()

    /// Largest non-streamed upstream answer accepted (embeddings of big batches can be tens of MB).
    static let maximumUpstreamBodyBytes = 256 * 1024 * 1024
    /// Largest upstream error body kept for passing through.
    static let maximumErrorBodyBytes = 1024 * 1024

    /// Serves an OpenAI request.
    func handle(_ endpoint: APIEndpoint, request: Request, context: GatewayRequestContext) async throws -> Response {
        let body = try await collectBody(of: request)
        return try await serve(InboundRequest(openAI: ClientRequest(endpoint: endpoint, body: body)), request: request, context: context)
    }

    /// The request body, up to `max_request_body_mb`.
    func collectBody(of request: Request) async throws -> ByteBuffer {
        let limit = state.table.config.global.maxRequestBodyBytes
        do {
            return try await request.body.collect(upTo: limit)
        } catch is NIOTooManyBytesError {
            throw GatewayError.payloadTooLarge(limit: limit)
        }
    }

    /// Serves a request of any client API by its model's route.
    /// - Parameters:
    ///   - session: the session it belongs to (default: its `X-Session-Id`); a session stays on the provider that
    ///     served its previous request while that one is available.
    ///   - keeping: for answers the gateway keeps (`/v1/responses` with `store`), what is kept with them.
    func serve(
        _ inbound: InboundRequest, request: Request, context: GatewayRequestContext, session: String? = nil,
        keeping: ResponseKeeping? = nil
    ) async throws -> Response {
        let table = state.table
        let global = table.config.global
        context.trace?.request(model: inbound.model, stream: inbound.stream)
        guard let route = table.route(for: inbound.model) else {
            throw GatewayError.modelNotFound(inbound.model)
        }
        let clientHeaders = request.headers.map { HeaderField($0.name.rawName, $0.value) }
        let session = session ?? Self.sessionID(in: request.headers)
        let deadline = ShutdownDeadline()
        return try await withGracefulShutdownHandler {
            try await serve(
                inbound, route: route, global: global, clientHeaders: clientHeaders, session: session, keeping: keeping,
                deadline: deadline, context: context
            )
        } onGracefulShutdown: { [state] in
            context.eventLoop.scheduleTask(in: .fromSeconds(state.table.config.global.shutdownGraceSeconds)) {
                deadline.expire()
            }
        }
    }

    /// Runs one step of a request (an attempt, or the backoff before one) under its own guard. Until the answer is
    /// handed over, the client may leave at any moment (while an upstream thinks, between retries): its connection
    /// closing stops the step, which cancels the upstream request, and the request ends as 499. Shutdown stops it
    /// once the grace period is over. A silence longer than the bound the step sets throws `StreamStop.idleTimeout`.
    private func guarded<Value: Sendable>(
        _ deadline: ShutdownDeadline, context: GatewayRequestContext,
        _ step: @escaping @Sendable (StreamGuard) async throws -> Value
    ) async throws -> Value {
        let stepGuard = StreamGuard(idleTimeout: nil, eventLoop: context.eventLoop)
        let connection = context.channel
        try deadline.begin(stepGuard)
        connectionWatch.watch(connection, stopping: stepGuard)
        defer {
            connectionWatch.end(connection, stopping: stepGuard)
            deadline.end(stepGuard)
        }
        do {
            return try await stepGuard.run(step)
        } catch StreamStop.clientDisconnected {
            context.logger.info("Client disconnected before its answer; upstream request cancelled")
            throw GatewayError.clientClosedRequest
        } catch StreamStop.shuttingDown {
            throw GatewayError.shuttingDown
        }
    }

    /// Tries providers in route order, retrying and failing over as the request's `AttemptSequence` decides.
    private func serve(
        _ inbound: InboundRequest, route: ModelRoute, global: GlobalSettings, clientHeaders: [HeaderField],
        session: String?, keeping: ResponseKeeping?, deadline: ShutdownDeadline, context: GatewayRequestContext
    ) async throws -> Response {
        let logger = context.logger
        let clock = state.clock
        let timeZone = state.timeZone
        var sequence = AttemptSequence(
            route: route, global: global, preferring: session.flatMap { state.sessions.provider(session: $0, model: route.name) },
            untranslatable: inbound.untranslatable, startedAt: clock.now()
        ) { slot in
            guard slot.config.kind.canServe(inbound, provider: slot.config) else {
                return .cannotServe(api: inbound.api.displayName + (inbound.untranslatable.map { " (\($0.message))" } ?? ""))
            }
            return slot.availability(now: clock.now(), timeZone: timeZone)
        }
        var lease: UsageLease?
        // The upstream's answer to the last failed attempt, for passing through.
        var upstreamAnswer: Response?
        var action = sequence.next()
        while true {
            switch action {
            case .reserve(let slot):
                lease = slot.state.usage.reserve(slot.config.rateLimit)
                action = lease == nil ? sequence.refused(until: slot.nextReset(in: timeZone)) : sequence.reserved()

            case .send(let slot, let retry):
                let provider = slot.config
                guard let lease else { preconditionFailure("an attempt without a reservation") }
                logger.info(
                    "Selected provider \(provider.name) for model \(route.name)\(retry > 0 ? " (retry \(retry) of \(provider.retry))" : "")"
                )
                let translation = AttemptTranslation(request: inbound, provider: provider)
                let upstreamStream = Self.upstreamStreams(client: inbound, provider: provider)
                let result: AttemptResult
                let attemptStarted = ContinuousClock.now
                do {
                    result = try await guarded(deadline, context: context) { attemptGuard in
                        try await attempt(
                            translation, upstreamStream: upstreamStream, clientHeaders: clientHeaders, lease: lease,
                            keeping: keeping, global: global, attemptGuard: attemptGuard, context: context
                        )
                    }
                } catch StreamStop.idleTimeout {
                    result = .failed(.timeout, upstreamAnswer: nil)
                } catch {
                    lease.release()
                    throw error
                }
                let latency = ContinuousClock.now - attemptStarted
                switch result {
                case .delivered(let response, let usage):
                    observe(provider, route: route, result: "ok", latency: latency, context: context)
                    context.trace?.served(by: provider.name, usage: usage)
                    keepSession(session, on: provider, route: route)
                    return response
                case .streaming(let response):
                    observe(provider, route: route, result: "ok", latency: latency, context: context)
                    keepSession(session, on: provider, route: route)
                    return response
                case .failed(let failure, let answer):
                    observe(provider, route: route, result: failure.kind, latency: latency, context: context)
                    upstreamAnswer = answer
                    action = sequence.failed(failure, upstreamAnswered: answer != nil, now: clock.now())
                }

            case .backOff(let slot, let failure, let delay, let retry):
                logger.warning("Provider \(slot.name) failed: \(failure); retrying (\(retry) of \(slot.config.retry))")
                do {
                    try await guarded(deadline, context: context) { _ in try await Task.sleep(for: delay) }
                } catch {
                    lease?.release()
                    throw error
                }
                action = sequence.waited()

            case .leave(let slot, let failure, let coolDown):
                lease?.release()
                lease = nil
                if let coolDown { slot.state.coolDown(until: coolDown.until, status: coolDown.status) }
                logger.warning("Switching provider: \(slot.name) failed for model \(route.name): \(failure)")
                metrics.failover(model: route.name, provider: slot.name, reason: failure.kind)
                action = sequence.next()

            case .returnUpstreamAnswer(let slot, let failure):
                lease?.release()
                guard let upstreamAnswer else {
                    preconditionFailure("returnUpstreamAnswer is only decided for a failure with an upstream answer")
                }
                logger.info("Provider \(slot.name) rejected the request with \(failure); returning it to the client")
                return upstreamAnswer

            case .fail(let error):
                if !sequence.attempts.isEmpty {
                    let attempts = sequence.attempts.map { "\($0.provider) (\($0.failure))" }.joined(separator: "; ")
                    logger.error("ERROR all providers for model \(route.name) failed: \(attempts)")
                } else if error != inbound.untranslatable {
                    logger.error("ERROR no provider available for model \(route.name): \(error.message)")
                }
                throw error
            }
        }
    }

    /// Whether the upstream is asked to stream: the client's choice when the provider supports it, else the
    /// provider's only mode (the answer is then converted).
    static func upstreamStreams(client: InboundRequest, provider: ProviderConfig) -> Bool {
        if case .openAI(let endpoint) = client.api, !endpoint.supportsStreaming { return false }
        // Native Anthropic and Gemini APIs serve both modes; their answers are relayed as they come.
        if client.api.dialect != .openAI && provider.kind.passesThrough(client, provider: provider) { return client.stream }
        return client.stream ? provider.streamSupport : !provider.nonStreamSupport
    }

    private func observe(
        _ provider: ProviderConfig, route: ModelRoute, result: String, latency: Duration, context: GatewayRequestContext
    ) {
        context.trace?.attempt(provider: provider.name, result: result, latency: latency)
        metrics.attempt(model: route.name, provider: provider.name, outcome: result, latency: latency)
    }

    enum AttemptResult: Sendable {
        /// A complete answer, with the tokens it used.
        case delivered(Response, usage: TokenUsage)
        /// A committed stream; its relay accounts for it when it ends.
        case streaming(Response)
        /// The attempt failed; `upstreamAnswer` is the upstream's own error response, for passing through.
        case failed(AttemptFailure, upstreamAnswer: Response?)
    }

    /// One try against one provider. On success the lease is settled with the tokens used (or handed to the stream
    /// relay, which settles it when the stream ends); on failure the caller decides what happens to it.
    private func attempt(
        _ translation: AttemptTranslation, upstreamStream: Bool, clientHeaders: [HeaderField], lease: UsageLease,
        keeping: ResponseKeeping?, global: GlobalSettings, attemptGuard: StreamGuard, context: GatewayRequestContext
    ) async throws -> AttemptResult {
        let provider = translation.provider
        let inbound = translation.request
        let response: UpstreamResponse
        do {
            response = try await send(translation, upstreamStream: upstreamStream, clientHeaders: clientHeaders, context: context)
        } catch let error as GatewayError {
            // The request could not be put into the provider's API (a client mistake only that API rejects).
            return .failed(.status(error.statusCode, retryAfter: nil), upstreamAnswer: Self.errorResponse(error, api: inbound.api))
        } catch let failure as CredentialFailure {
            return .failed(failure.attemptFailure, upstreamAnswer: nil)
        } catch {
            return .failed(try Self.classify(error), upstreamAnswer: nil)
        }
        // The headers are in; from here on the body may be silent for at most the provider's timeout.
        attemptGuard.boundSilence(by: .fromSeconds(provider.timeout))
        let providerHeader = HTTPField(name: .switchyardProvider, value: provider.name)

        guard (200..<300).contains(response.status) else {
            let errorBody =
                (try? await response.body.collect(upTo: Self.maximumErrorBodyBytes, guard: attemptGuard)) ?? ByteBuffer()
            let retryAfter = FailoverPolicy.retryAfter(
                seconds: response.header("retry-after"), milliseconds: response.header("retry-after-ms"),
                now: state.clock.now()
            )
            let translated = translation.clientError(status: response.status, body: errorBody)
            var headers: HTTPFields = [.contentType: translated?.contentType ?? response.header("content-type") ?? "application/json"]
            headers.append(providerHeader)
            let answer = Response(
                status: .init(code: response.status), headers: headers,
                body: .init(byteBuffer: translated?.body ?? errorBody)
            )
            return .failed(.status(response.status, retryAfter: retryAfter), upstreamAnswer: answer)
        }

        do {
            if response.isEventStream {
                if inbound.stream {
                    return try await openRelay(
                        response, translation: translation, lease: lease, keeping: keeping, global: global,
                        attemptGuard: attemptGuard, context: context
                    )
                }
                guard provider.streamSupport else {
                    return .failed(.invalidResponse("an event stream from a provider configured not to stream"), upstreamAnswer: nil)
                }
                let answer = try await aggregate(response, translation: translation, global: global, attemptGuard: attemptGuard)
                let usage = Self.settle(lease, request: inbound, reported: answer.usage, generatedCharacters: answer.generatedCharacters)
                keep(answer.keptAnswer, keeping: keeping, provider: provider, model: inbound.model)
                var headers: HTTPFields = [.contentType: "application/json"]
                headers.append(providerHeader)
                return .delivered(Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body)), usage: usage)
            }
            let body = try await response.body.collect(upTo: Self.maximumUpstreamBodyBytes, guard: attemptGuard)
            // A 2xx that is not the provider's answer (an HTML page from a wrong path, a truncated body) is not one.
            let answer = try inbound.stream ? translation.synthesizedStream(body) : translation.answer(body)
            let usage = Self.settle(lease, request: inbound, reported: answer.usage, generatedCharacters: answer.generatedCharacters)
            keep(answer.keptAnswer, keeping: keeping, provider: provider, model: inbound.model)
            if inbound.stream {
                let headers = Self.eventStreamHeaders(providerHeader)
                return .delivered(Response(status: .ok, headers: headers, body: .init(byteBuffer: answer.body)), usage: usage)
            }
            let contentType = translation.passesThrough ? response.header("content-type") ?? "application/json" : "application/json"
            var headers: HTTPFields = [.contentType: contentType]
            headers.append(providerHeader)
            return .delivered(Response(status: .init(code: response.status), headers: headers, body: .init(byteBuffer: answer.body)), usage: usage)
        } catch let error as GatewayError {
            return .failed(.invalidResponse(error.message), upstreamAnswer: nil)
        } catch {
            return .failed(try Self.classify(error), upstreamAnswer: nil)
        }
    }

    /// Builds the attempt's request with its credential and sends it; a provider whose access token was refused
    /// gets one fresh token and one more try.
    private func send(
        _ translation: AttemptTranslation, upstreamStream: Bool, clientHeaders: [HeaderField],
        context: GatewayRequestContext
    ) async throws -> UpstreamResponse {
        let provider = translation.provider
        var credential = try await credential(for: provider, kind: translation.kind)
        var refreshed = false
        while true {
            var upstreamRequest = try translation.kind.makeRequest(
                translation.request, provider: provider, credential: credential, upstreamStream: upstreamStream,
                clientHeaders: clientHeaders
            )
            upstreamRequest.headers.append(HeaderField("x-request-id", context.requestID))
            let response = try await transport.send(
                upstreamRequest, provider: provider, kind: translation.kind, on: context.eventLoop
            )
            guard response.status == 401, translation.kind.tokenExchange != nil, !refreshed else { return response }
            context.logger.info("Provider \(provider.name) refused its access token; fetching a new one")
            refreshed = true
            credential = try await self.credential(for: provider, kind: translation.kind, replacing: credential)
        }
    }

    /// The provider's key, or for kinds that exchange it (GigaChat) an access token; only then is the token
    /// cache's actor entered.
    func credential(for provider: ProviderConfig, kind: any ProviderKind, replacing refused: String? = nil) async throws
        -> String
    {
        guard let exchange = kind.tokenExchange else { return provider.apiKey }
        return try await credentials.token(for: provider, exchange: exchange, replacing: refused)
    }

    /// Reads an upstream stream to its end and builds one non-stream answer from it, holding no more than a
    /// non-stream answer may be.
    private func aggregate(
        _ response: UpstreamResponse, translation: AttemptTranslation, global: GlobalSettings, attemptGuard: StreamGuard
    ) async throws -> TranslatedAnswer {
        let body = response.body
        var framer = SSEEventFramer(maximumEventBytes: global.maxStreamEventBytes)
        var aggregation = translation.streamAggregation()
        var received = 0
        while let chunk = try await body.next() {
            attemptGuard.touch()
            received += chunk.readableBytes
            guard received <= Self.maximumUpstreamBodyBytes else { throw UpstreamBodyTooLarge(limit: Self.maximumUpstreamBodyBytes) }
            for event in try framer.append(chunk) { try aggregation.add(event: event) }
        }
        return try aggregation.finish()
    }

    /// Waits until the upstream stream carries part of the answer (for OpenAI streams: its first data event), then
    /// commits: the client gets a 200 event stream that relays the rest. Until then (comments, keep-alives and
    /// openings do not count) a failure, an error event included, is still an ordinary failed attempt, and another
    /// provider can take over unseen.
    private func openRelay(
        _ response: UpstreamResponse, translation: AttemptTranslation, lease: UsageLease, keeping: ResponseKeeping?,
        global: GlobalSettings, attemptGuard: StreamGuard, context: GatewayRequestContext
    ) async throws -> AttemptResult {
        let provider = translation.provider
        let body = response.body
        var framer = SSEEventFramer(maximumEventBytes: global.maxStreamEventBytes)
        var translator = translation.streamTranslator()
        var firstEvents: [ByteBuffer] = []
        var upstreamEnded = true
        do {
            reading: while let chunk = try await body.next() {
                attemptGuard.touch()
                for event in try framer.append(chunk) {
                    try translator.translate(event, into: &firstEvents)
                }
                if translator.carriesAnswer {
                    upstreamEnded = false
                    break reading
                }
            }
            // A whole stream before the commit (a short answer): it must still have finished properly.
            if upstreamEnded {
                if framer.pendingByteCount > 0 {
                    return .failed(.invalidResponse("the stream ended in the middle of an event"), upstreamAnswer: nil)
                }
                try translator.finish(into: &firstEvents)
            }
        } catch let failure as UpstreamStreamError {
            context.logger.warning("Provider \(provider.name) failed its stream before it started: \(failure.reason)")
            return .failed(.invalidResponse("the stream began with an error: \(failure.reason)"), upstreamAnswer: nil)
        }
        guard firstEvents.contains(where: { SSEEvent.data(of: $0) != nil }) else {
            return .failed(.invalidResponse("the stream ended before its first data event"), upstreamAnswer: nil)
        }
        let inbound = translation.request
        let (metrics, recorder, trace, model, state) = (metrics, recorder, context.trace, inbound.model, state)
        trace?.streaming(from: provider.name)
        metrics.streamOpened()
        let settlement = RelaySettlement { [self] report in
            // A stream that broke or was abandoned still counts what it delivered.
            let usage = Self.settle(lease, request: inbound, reported: report.usage, generatedCharacters: report.generatedBytes)
            keep(report.completedAnswer, keeping: keeping, provider: provider, model: model)
            metrics.streamClosed()
            if case .failed = report.outcome {
                metrics.streamFailed(model: model, provider: provider.name)
            }
            if let trace {
                if let first = report.firstWriteAt { trace.firstByteSent(at: first) }
                trace.streamEnded(outcome: report.outcome.label, usage: usage)
                recorder.finish(trace, status: 200)
            }
        }
        let relay = StreamRelay(
            body: upstreamEnded ? nil : body, framer: framer, firstEvents: firstEvents,
            translator: RelayTranslator(translator), idleTimeout: .fromSeconds(provider.timeout),
            eventLoop: context.eventLoop, provider: provider.name, logger: context.logger,
            connectionWatch: connectionWatch,
            shutdownGrace: { .fromSeconds(state.table.config.global.shutdownGraceSeconds) }, settlement: settlement
        )
        let connection = context.channel
        let headers = Self.eventStreamHeaders(HTTPField(name: .switchyardProvider, value: provider.name))
        return .streaming(
            Response(status: .ok, headers: headers, body: ResponseBody { writer in
                try await withTaskExecutorPreference(EventLoopTaskExecutor(eventLoop: connection.eventLoop)) {
                    try await relay.run(writer: &writer, clientConnection: connection)
                }
            })
        )
    }

    /// Keeps a served `/v1/responses` answer for `previous_response_id` and `GET /v1/responses/{id}`. A response
    /// without a session starts one named for it, on the provider that served it (a given session is recorded by
    /// `keepSession`).
    private func keep(_ answer: [UInt8]?, keeping: ResponseKeeping?, provider: ProviderConfig, model: String) {
        guard let keeping, let answer, let id = JSONValue.object(answer)?["id"] as? String else { return }
        state.responses.put(
            StoredResponse(
                id: id, owner: keeping.owner, provider: provider.name, model: model, sessionID: keeping.session ?? id,
                createdAt: state.clock.now(), input: keeping.input, response: answer
            )
        )
        if keeping.session == nil { state.sessions.record(session: id, model: model, provider: provider.name) }
    }

    /// A served session stays on its provider.
    private func keepSession(_ session: String?, on provider: ProviderConfig, route: ModelRoute) {
        guard let session else { return }
        state.sessions.record(session: session, model: route.name, provider: provider.name)
    }

    /// The client's `X-Session-Id`, when it is one that can be kept.
    static func sessionID(in headers: HTTPFields) -> String? {
        guard let value = headers[.sessionID], !value.isEmpty, value.utf8.count <= SessionAffinity.maximumSessionIDBytes
        else { return nil }
        return value
    }

    /// Adds the tokens of a served request: the upstream's own count, or an estimate from characters.
    @discardableResult
    static func settle(
        _ lease: UsageLease, request: InboundRequest, reported: TokenUsage?, generatedCharacters: @autoclosure () -> Int
    ) -> TokenUsage {
        let usage =
            reported
            ?? UsageEstimate.usage(promptCharacters: request.promptCharacters, completionCharacters: generatedCharacters())
        lease.settle(usage)
        return usage
    }

    /// A gateway error as a response in the client's dialect.
    static func errorResponse(_ error: GatewayError, api: ClientAPI) -> Response {
        Response(
            status: .init(code: error.statusCode), headers: [.contentType: "application/json"],
            body: .init(byteBuffer: ByteBuffer(bytes: api.errorBody(error)))
        )
    }

    static func eventStreamHeaders(_ extra: HTTPField) -> HTTPFields {
        var headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-cache",
        ]
        headers.append(HTTPField(name: .accelBuffering, value: "no"))
        headers.append(extra)
        return headers
    }

    /// Maps a transport error to an attempt failure; cancellation is rethrown (the client went away).
    static func classify(_ error: any Error) throws -> AttemptFailure {
        if error is CancellationError || Task.isCancelled { throw CancellationError() }
        if let stop = error as? StreamStop {
            switch stop {
            case .idleTimeout: return .timeout
            case .clientDisconnected, .shuttingDown: throw CancellationError()
            }
        }
        if let transportError = error as? UpstreamTransportError {
            return transportError.isTimeout ? .timeout : .connection(transportError.description)
        }
        if error is UpstreamBodyTooLarge {
            return .invalidResponse("the answer is larger than \(maximumUpstreamBodyBytes) bytes")
        }
        if let tooLarge = error as? SSEEventTooLarge {
            return .invalidResponse("an event is larger than \(tooLarge.limit) bytes")
        }
        return .connection(String(String(describing: error).prefix(200)))
    }
}

extension HTTPField.Name {
    static let switchyardProvider = HTTPField.Name("X-Switchyard-Provider")!
    static let accelBuffering = HTTPField.Name("X-Accel-Buffering")!
    static let sessionID = HTTPField.Name("X-Session-Id")!
}
