import Foundation
import HTTPTypes
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import SwitchyardCore

/// One client-API request, served on its client connection's event loop from the parsed request to the last
/// byte of the answer, without a task: it carries out its `AttemptSequence`'s actions (reserve quota, send, back
/// off, fail over), receives each upstream answer part by part as the pool's connection reads it, and writes the
/// client's answer through its `DataPlaneHandler`.
///
/// Failover happens before the first byte reaches the client; a committed stream that breaks ends with one error
/// event in the client's dialect. A client that leaves cancels the upstream request at once; shutdown ends the
/// request when the grace period in force then is over. Confined to the event loop.
final class ProxyCall: UpstreamExchangeReceiver {
    private enum Phase {
        /// Between actions of the sequence.
        case deciding
        /// Waiting for an access token (GigaChat) or the upstream's head.
        case sending
        /// An upstream error answer, kept (up to a limit) for passing through.
        case readingError(status: Int, headers: HTTPHeaders)
        /// A whole non-stream answer.
        case collecting(status: Int, headers: HTTPHeaders)
        /// An upstream stream read to its end for a non-stream client.
        case aggregating
        /// An upstream stream before its first part of the answer: still an attempt that can fail unseen.
        case opening
        /// The client has the stream's head; events are relayed as they come.
        case relaying
        case backingOff
        case finished
    }

    /// One try against one provider.
    private struct Attempt {
        var slot: ProviderSlot
        var translation: AttemptTranslation
        var upstreamStream: Bool
        var startedAt: ContinuousClock.Instant
        var credential = ""
        /// Whether a refused access token was replaced already (once per attempt).
        var refreshed = false
        /// The key of the provider's pool this attempt uses (nil: the provider's one key).
        var poolKey: UpstreamKey?
        /// The client's own key (`allow_client_key`), used instead of the provider's.
        var clientKey: String?
        /// The provider as it serves this request (`{model}` filled in).
        var provider: ProviderConfig { translation.provider }
    }

    private let engine: ProxyEngine
    private let client: DataPlaneHandler
    private let eventLoop: any EventLoop
    private let request: ProxyEngine.Request
    private let route: ModelRoute
    private let global: GlobalSettings
    private let clientHeaders: [HeaderField]
    private let clientKeys: ClientKeyOverride
    private let requestID: String
    private let logger: Logger
    private let trace: RequestTrace
    /// The request's body is large: it is put into each provider's API off the loop.
    private let readsOffTheLoop: Bool
    private var sequence: AttemptSequence
    private var phase = Phase.deciding
    private var lease: UsageLease?
    /// The provider being tried, when it holds its circuit breaker's one probe.
    private var probing: ProviderSlot?
    /// Keys of the current provider's pool this request saw refused (by index), and the key its last attempt
    /// used: a retry after the provider's own failure keeps its key.
    private var refusedKeys: Set<Int> = []
    private var poolKeyIndex: Int?
    private var poolOf: String?
    /// The upstream's answer to the last failed attempt, for passing through.
    private var upstreamAnswer: ClientAnswer?

    private var attempt: Attempt?
    private var exchange: UpstreamExchange?
    /// The body of the current answer as far as it is kept.
    private var body = ByteBuffer()
    private var bodyTooLarge = false
    /// Bytes of an aggregated stream so far, for its size limit.
    private var receivedBytes = 0
    private var framer: SSEEventFramer
    private var aggregation: StreamAggregation?
    private var translator: (any StreamTranslator)?
    /// Client events translated before the stream is committed.
    private var outgoing: [ByteBuffer] = []
    /// The silence bound of the current answer (from its head on) or the backoff's wait.
    private var timer: Scheduled<Void>?
    private var timerGeneration = 0
    private var silenceLimit = TimeAmount.zero
    private var lastActivity = NIODeadline.uptimeNanoseconds(0)
    /// When the silence bound first found a committed stream's client not taking more (reading from the
    /// upstream paused for it): from then on the silence is the client's.
    private var clientStalledSince: NIODeadline?
    /// A committed stream's reservation, settled when the stream ends.
    private var streamLease: UsageLease?
    private var shutdownTimer: Scheduled<Void>?
    private var shutdownPassed = false
    private var firstWriteAt: ContinuousClock.Instant?

    private var inbound: InboundRequest { request.inbound }

    init(
        engine: ProxyEngine, client: DataPlaneHandler, eventLoop: any EventLoop, request: ProxyEngine.Request,
        route: ModelRoute, global: GlobalSettings, clientHeaders: [HeaderField], requestID: String, logger: Logger,
        trace: RequestTrace, readsOffTheLoop: Bool
    ) {
        self.engine = engine
        self.client = client
        self.eventLoop = eventLoop
        self.request = request
        self.route = route
        self.global = global
        (self.clientHeaders, clientKeys) = ClientKeyOverride.split(clientHeaders, names: route.clientKeyHeaders)
        self.requestID = requestID
        self.logger = logger
        self.trace = trace
        self.readsOffTheLoop = readsOffTheLoop
        framer = SSEEventFramer(maximumEventBytes: global.maxStreamEventBytes)
        let state = engine.state
        let (clock, timeZone, inbound, contextTokens) = (state.clock, state.timeZone, request.inbound, request.contextTokens)
        sequence = AttemptSequence(
            route: route, global: global,
            preferring: request.session.flatMap { state.sessions.provider(session: $0, model: route.name) },
            untranslatable: inbound.untranslatable, startedAt: clock.now()
        ) { slot in
            guard slot.config.kind.canServe(inbound, provider: slot.config) else {
                return .cannotServe(api: inbound.api.displayName + (inbound.untranslatable.map { " (\($0.message))" } ?? ""))
            }
            if let limit = slot.config.maxContextLength, let needed = contextTokens, needed > limit {
                return .contextTooSmall(needed: needed, limit: limit)
            }
            let availability = slot.availability(now: clock.now(), timeZone: timeZone)
            if case .overQuota = availability {
                Self.reportExhaustedQuota(of: slot, model: route.name, state: state, requestID: requestID)
            }
            return availability
        }
    }

    func start() {
        run(sequence.next())
    }

    // MARK: The sequence's actions

    private func run(_ action: AttemptAction) {
        var action = action
        while true {
            guard !shutdownPassed else { return end(with: ClientAnswer(.shuttingDown, dialect: inbound.api.dialect)) }
            switch action {
            case .reserve(let slot, let bypassing):
                let (admission, transition) = slot.state.admit(
                    now: engine.state.clock.now(), bypassing: bypassing, config: slot.config.circuitBreaker
                )
                report(transition, of: slot)
                if case .refused(let until) = admission {
                    action = sequence.circuitRefused(until: until)
                    continue
                }
                if bypassing { logger.warning("Every provider of model \(route.name) is out; trying \(slot.name) despite its open circuit") }
                probing = admission == .probe ? slot : nil
                lease = slot.state.usage.reserve(slot.config.rateLimit)
                if lease == nil {
                    record(.abandoned, of: slot)
                    Self.reportExhaustedQuota(of: slot, model: route.name, state: engine.state, requestID: requestID)
                    action = sequence.refused(until: slot.nextReset(in: engine.state.timeZone))
                } else {
                    action = sequence.reserved()
                }

            case .send(let slot, let retry):
                let provider = slot.config.serving(model: inbound.model)
                var poolKey: UpstreamKey?
                let clientKey = clientKeys.key(for: provider)
                if clientKey == nil, !provider.keyPool.isEmpty {
                    if poolOf != provider.name { (refusedKeys, poolKeyIndex, poolOf) = ([], nil, provider.name) }
                    let now = engine.state.clock.now()
                    let affinity = provider.keyStrategy == .roundRobin ? keyAffinity : nil
                    let kept = poolKeyIndex.flatMap { index in
                        retry > 0 && slot.state.keys.isUsable(provider.keyPool[index].key, now: now) ? index : nil
                    }
                    guard let index = kept ?? selectKey(of: slot, provider: provider, affinity: affinity, now: now)
                    else {
                        // Every key went out between the check and now (other requests' failures).
                        lease?.release()
                        lease = nil
                        if let probing { record(.abandoned, of: probing) }
                        event(.keyExhausted, slot: slot, detail: "every key is disabled or cooling down")
                        action = sequence.passOver(because: .keysExhausted(until: nil))
                        continue
                    }
                    poolKeyIndex = index
                    poolKey = provider.keyPool[index]
                    if kept == nil, !refusedKeys.isEmpty {
                        event(.keySelected, slot: slot, key: provider.keyPool[index], detail: "after \(refusedKeys.count) refused key(s)")
                    }
                }
                let keyNote = clientKey != nil ? " with the client's key" : poolKey.map { " key \(KeyLabel.of($0))" } ?? ""
                logger.info(
                    "Selected provider \(provider.name)\(keyNote) for model \(route.name)\(retry > 0 ? " (retry \(retry) of \(provider.retry))" : "")"
                )
                attempt = Attempt(
                    slot: slot, translation: AttemptTranslation(request: inbound, provider: provider),
                    upstreamStream: ProxyEngine.upstreamStreams(client: inbound, provider: provider),
                    startedAt: .now, poolKey: poolKey, clientKey: clientKey
                )
                phase = .sending
                obtainCredential()
                return

            case .backOff(let slot, let failure, let delay, let retry):
                logger.warning("Provider \(slot.name) failed: \(failure); retrying (\(retry) of \(slot.config.retry))")
                phase = .backingOff
                let generation = timerGeneration
                timer = eventLoop.assumeIsolated().scheduleTask(in: TimeAmount(delay)) { [self] in
                    guard generation == timerGeneration, case .backingOff = phase else { return }
                    timer = nil
                    phase = .deciding
                    run(sequence.waited())
                }
                return

            case .leave(let slot, let failure, let coolDown):
                lease?.release()
                lease = nil
                if let coolDown, slot.state.coolDown(until: coolDown.until, status: coolDown.status, now: engine.state.clock.now()) {
                    event(
                        .providerCooldown, slot: slot, status: coolDown.status,
                        detail: "skipped until \(engine.state.files.format(coolDown.until))"
                    )
                }
                logger.warning("Switching provider: \(slot.name) failed for model \(route.name): \(failure)")
                engine.metrics.failover(model: route.name, provider: slot.name, reason: failure.kind)
                action = sequence.next()

            case .returnUpstreamAnswer(let slot, let failure):
                lease?.release()
                lease = nil
                guard let upstreamAnswer else {
                    preconditionFailure("returnUpstreamAnswer is only decided for a failure with an upstream answer")
                }
                logger.info("Provider \(slot.name) rejected the request with \(failure); returning it to the client")
                return end(with: upstreamAnswer)

            case .fail(let error):
                if !sequence.attempts.isEmpty {
                    let attempts = sequence.attempts.map { "\($0.provider) (\($0.failure))" }.joined(separator: "; ")
                    logger.error("ERROR all providers for model \(route.name) failed: \(attempts)")
                } else if error != inbound.untranslatable {
                    logger.error("ERROR no provider available for model \(route.name): \(error.message)")
                }
                return end(with: ClientAnswer(error, dialect: inbound.api.dialect))
            }
        }
    }

    /// The provider's key, or (GigaChat) an access token, which may take a round trip off the loop.
    private func obtainCredential(replacing refused: String? = nil) {
        guard let attempt else { return }
        let provider = attempt.provider
        guard provider.kind.tokenExchange != nil else { return send(credential: attempt.clientKey ?? attempt.poolKey?.key ?? provider.apiKey) }
        let engine = engine
        eventLoop.makeFutureWithTask {
            try await engine.credential(for: provider, kind: provider.kind, replacing: refused)
        }.assumeIsolated().whenComplete { [self] result in
            guard case .sending = phase else { return }
            switch result {
            case .success(let credential): send(credential: credential)
            case .failure(let failure as CredentialFailure): attemptFailed(failure.attemptFailure)
            case .failure(let error): attemptFailed(ProxyEngine.classify(error))
            }
        }
    }

    /// What an attempt sends: the request in the provider's API, prepared for the transport.
    private enum Outgoing: Sendable {
        case ready(UpstreamTransport.Prepared)
        /// The request could not be put into the provider's API (a client mistake only that API rejects).
        case untranslatable(GatewayError)
        case failed(AttemptFailure)
    }

    private func send(credential: String) {
        guard var attempt else { return }
        attempt.credential = credential
        self.attempt = attempt
        let (engine, translation, clientHeaders, requestID, eventLoop) =
            (engine, attempt.translation, clientHeaders, requestID, eventLoop)
        let upstreamStream = attempt.upstreamStream
        guard readsOffTheLoop else {
            return send(
                Self.outgoing(
                    translation, credential: credential, upstreamStream: upstreamStream, clientHeaders: clientHeaders,
                    requestID: requestID, engine: engine, eventLoop: eventLoop
                )
            )
        }
        // A large body is put into the provider's API on the blocking-work pool, as it was read there.
        let generation = timerGeneration
        NIOThreadPool.singleton.runIfActive(eventLoop: eventLoop) {
            Self.outgoing(
                translation, credential: credential, upstreamStream: upstreamStream, clientHeaders: clientHeaders,
                requestID: requestID, engine: engine, eventLoop: eventLoop
            )
        }.assumeIsolated().whenComplete { [self] result in
            // Still the same attempt (anything that ended it moved the generation on).
            guard generation == timerGeneration, case .sending = phase else { return }
            switch result {
            case .success(let outgoing): send(outgoing)
            case .failure(let error): attemptFailed(ProxyEngine.classify(error))
            }
        }
    }

    private static func outgoing(
        _ translation: AttemptTranslation, credential: String, upstreamStream: Bool, clientHeaders: [HeaderField],
        requestID: String, engine: ProxyEngine, eventLoop: any EventLoop
    ) -> Outgoing {
        var upstreamRequest: UpstreamRequest
        do throws(GatewayError) {
            upstreamRequest = try translation.kind.makeRequest(
                translation.request, provider: translation.provider, credential: credential,
                upstreamStream: upstreamStream, clientHeaders: clientHeaders
            )
        } catch {
            return .untranslatable(error)
        }
        upstreamRequest.headers.append(HeaderField("x-request-id", requestID))
        do {
            return .ready(
                try engine.transport.prepare(upstreamRequest, provider: translation.provider, kind: translation.kind, on: eventLoop)
            )
        } catch {
            return .failed(ProxyEngine.classify(error))
        }
    }

    private func send(_ outgoing: Outgoing) {
        guard let attempt else { return }
        switch outgoing {
        case .untranslatable(let error):
            attemptFailed(
                .status(error.statusCode, retryAfter: nil), upstreamAnswer: ClientAnswer(error, dialect: inbound.api.dialect)
            )
        case .failed(let failure):
            attemptFailed(failure)
        case .ready(.exchange(let exchange)):
            self.exchange = exchange
            exchange.receiver = self
            engine.transport.start(exchange, provider: attempt.provider)
        case .ready(.local(let local)):
            exchangeReceivedHead(
                HTTPResponseHead(
                    version: .http1_1, status: .init(statusCode: local.status), headers: ["content-type": local.contentType]
                )
            )
            for chunk in local.chunks where isReading { exchangeReceivedBody(chunk) }
            if isReading { exchangeEnded(.success(())) }
        }
    }

    /// Whether an answer is being received.
    private var isReading: Bool {
        switch phase {
        case .readingError, .collecting, .aggregating, .opening, .relaying: true
        case .deciding, .sending, .backingOff, .finished: false
        }
    }

    // MARK: The upstream's answer

    func exchangeReceivedHead(_ head: HTTPResponseHead) {
        guard case .sending = phase, var attempt else { return }
        let status = Int(head.status.code)
        let provider = attempt.provider
        if status == 401, attempt.translation.kind.tokenExchange != nil, !attempt.refreshed {
            logger.info("Provider \(provider.name) refused its access token; fetching a new one")
            abandonExchange()
            attempt.refreshed = true
            self.attempt = attempt
            return obtainCredential(replacing: attempt.credential)
        }
        // From here on the body must be whole (or, in a stream, its next event complete) within the provider's timeout.
        boundSilence(by: .fromSeconds(provider.timeout))
        body.clear()
        bodyTooLarge = false
        receivedBytes = 0
        guard (200..<300).contains(status) else {
            phase = .readingError(status: status, headers: head.headers)
            return
        }
        let isEventStream = head.headers.first(name: "content-type")?.lowercased().hasPrefix("text/event-stream") ?? false
        guard isEventStream else {
            phase = .collecting(status: status, headers: head.headers)
            return
        }
        framer = SSEEventFramer(maximumEventBytes: global.maxStreamEventBytes)
        if inbound.stream {
            translator = attempt.translation.streamTranslator()
            outgoing.removeAll()
            phase = .opening
        } else if provider.streamSupport {
            aggregation = attempt.translation.streamAggregation()
            phase = .aggregating
        } else {
            abandonExchange()
            attemptFailed(.invalidResponse("an event stream from a provider configured not to stream"))
        }
    }

    func exchangeReceivedBody(_ chunk: ByteBuffer) {
        switch phase {
        // A whole answer is one event: its silence bound runs from its head, so that an upstream dripping bytes
        // cannot hold the request for longer than `timeout` (a stream's runs from its last complete event).
        case .readingError:
            append(chunk, limit: ProxyEngine.maximumErrorBodyBytes)
        case .collecting:
            append(chunk, limit: ProxyEngine.maximumUpstreamBodyBytes)
            if bodyTooLarge {
                abandonExchange()
                attemptFailed(.invalidResponse("the answer is larger than \(ProxyEngine.maximumUpstreamBodyBytes) bytes"))
            }
        case .aggregating:
            aggregate(chunk)
        case .opening:
            open(chunk)
        case .relaying:
            relay(chunk)
        case .deciding, .sending, .backingOff, .finished:
            break
        }
    }

    func exchangeEnded(_ result: Result<Void, any Error>) {
        exchange = nil
        switch (phase, result) {
        case (.relaying, .success):
            relayEnded()
        case (.relaying, .failure(let error)):
            streamFailed(
                UpstreamStreamError(
                    reason: "the connection to the upstream broke", detail: String(String(describing: error).prefix(300))
                )
            )
        case (.readingError(let status, let headers), .success):
            errorAnswerEnded(status: status, headers: headers)
        case (.readingError(let status, let headers), .failure):
            // What arrived of an error answer is enough to decide on; an unreadable one passes through empty.
            body.clear()
            errorAnswerEnded(status: status, headers: headers)
        case (.collecting(let status, let headers), .success):
            answerEnded(status: status, headers: headers)
        case (.aggregating, .success):
            aggregationEnded()
        case (.opening, .success):
            openingEnded()
        case (.sending, .failure(let error)), (.collecting, .failure(let error)), (.aggregating, .failure(let error)),
            (.opening, .failure(let error)):
            attemptFailed(ProxyEngine.classify(error))
        case (.sending, .success), (.deciding, _), (.backingOff, _), (.finished, _):
            break
        }
    }

    var wantsMoreData: Bool {
        if case .relaying = phase { return client.isWritable }
        return true
    }

    private func append(_ chunk: ByteBuffer, limit: Int) {
        guard !bodyTooLarge else { return }
        guard body.readableBytes + chunk.readableBytes <= limit else {
            bodyTooLarge = true
            body.clear()
            return
        }
        if body.readableBytes == 0 {
            body = chunk
        } else {
            body.writeImmutableBuffer(chunk)
        }
    }

    private func errorAnswerEnded(status: Int, headers: HTTPHeaders) {
        guard let attempt else { return }
        let retryAfter = FailoverPolicy.retryAfter(
            seconds: headers.first(name: "retry-after"), milliseconds: headers.first(name: "retry-after-ms"),
            now: engine.state.clock.now()
        )
        let translated = attempt.translation.clientError(status: status, body: body)
        var answerHeaders: HTTPFields = [
            .contentType: translated?.contentType ?? headers.first(name: "content-type") ?? "application/json"
        ]
        answerHeaders.append(providerHeader(attempt))
        let answer = ClientAnswer(status: status, headers: answerHeaders, body: translated?.body ?? body)
        body = ByteBuffer()
        attemptFailed(.status(status, retryAfter: retryAfter), upstreamAnswer: answer)
    }

    private func answerEnded(status: Int, headers: HTTPHeaders) {
        guard let attempt else { return }
        // A 2xx that is not the provider's answer (an HTML page from a wrong path, a truncated body) is not one.
        let answer: TranslatedAnswer
        do {
            answer = try inbound.stream ? attempt.translation.synthesizedStream(body) : attempt.translation.answer(body)
        } catch {
            return attemptFailed(.invalidResponse(error.message))
        }
        body = ByteBuffer()
        if inbound.stream {
            return delivered(
                answer, status: 200, headers: ProxyEngine.eventStreamHeaders(providerHeader(attempt)), attempt: attempt
            )
        }
        let contentType =
            attempt.translation.passesThrough ? headers.first(name: "content-type") ?? "application/json" : "application/json"
        var answerHeaders: HTTPFields = [.contentType: contentType]
        answerHeaders.append(providerHeader(attempt))
        delivered(answer, status: status, headers: answerHeaders, attempt: attempt)
    }

    private func aggregate(_ chunk: ByteBuffer) {
        guard var aggregation else { return }
        self.aggregation = nil
        do {
            receivedBytes += chunk.readableBytes
            guard receivedBytes <= ProxyEngine.maximumUpstreamBodyBytes else {
                abandonExchange()
                return attemptFailed(
                    .invalidResponse("the answer is larger than \(ProxyEngine.maximumUpstreamBodyBytes) bytes")
                )
            }
            for event in try events(in: chunk) { try aggregation.add(event: event) }
            self.aggregation = aggregation
        } catch let tooLarge as SSEEventTooLarge {
            abandonExchange()
            attemptFailed(.invalidResponse("an event is larger than \(tooLarge.limit) bytes"))
        } catch let error as GatewayError {
            abandonExchange()
            attemptFailed(.invalidResponse(error.message))
        } catch {
            abandonExchange()
            attemptFailed(ProxyEngine.classify(error))
        }
    }

    private func aggregationEnded() {
        guard let attempt, var aggregation else { return }
        self.aggregation = nil
        let answer: TranslatedAnswer
        do {
            answer = try aggregation.finish()
        } catch {
            return attemptFailed(.invalidResponse(error.message))
        }
        var headers: HTTPFields = [.contentType: "application/json"]
        headers.append(providerHeader(attempt))
        delivered(answer, status: 200, headers: headers, attempt: attempt)
    }

    /// The events a chunk of an event stream completes. A stream's silence bound runs from its last complete event,
    /// not its last byte: an upstream that drips bytes without ever finishing an event is as stuck as a silent one.
    private func events(in chunk: ByteBuffer) throws(SSEEventTooLarge) -> [ByteBuffer] {
        let events = try framer.append(chunk)
        if !events.isEmpty { lastActivity = .now() }
        return events
    }

    /// A stream before its commit: translated into `outgoing` until it carries part of the answer (for OpenAI
    /// streams, its first data event); comments, keep-alives and openings do not count. Until then a failure, an
    /// error event included, is an ordinary failed attempt, and another provider can take over unseen.
    private func open(_ chunk: ByteBuffer) {
        guard var translator, let attempt else { return }
        self.translator = nil  // held once while it changes
        do {
            for event in try events(in: chunk) { try translator.translate(event, into: &outgoing) }
        } catch let tooLarge as SSEEventTooLarge {
            abandonExchange()
            return attemptFailed(.invalidResponse("an event is larger than \(tooLarge.limit) bytes"))
        } catch let failure as UpstreamStreamError {
            logger.warning("Provider \(attempt.provider.name) failed its stream before it started: \(failure.reason)")
            abandonExchange()
            return attemptFailed(.invalidResponse("the stream began with an error: \(failure.reason)"))
        } catch {
            abandonExchange()
            return attemptFailed(ProxyEngine.classify(error))
        }
        self.translator = translator
        if translator.carriesAnswer { commit(attempt, upstreamEnded: false) }
    }

    /// A whole stream before the commit (a short answer): it must still have finished properly.
    private func openingEnded() {
        guard var translator, let attempt else { return }
        self.translator = nil  // held once while it changes
        if framer.pendingByteCount > 0 {
            return attemptFailed(.invalidResponse("the stream ended in the middle of an event"))
        }
        do {
            try translator.finish(into: &outgoing)
        } catch {
            logger.warning("Provider \(attempt.provider.name) failed its stream before it started: \(error.reason)")
            return attemptFailed(.invalidResponse("the stream began with an error: \(error.reason)"))
        }
        self.translator = translator
        guard outgoing.contains(where: { SSEEvent.data(of: $0) != nil }) else {
            return attemptFailed(.invalidResponse("the stream ended before its first data event"))
        }
        commit(attempt, upstreamEnded: true)
    }

    private func providerHeader(_ attempt: Attempt) -> HTTPField {
        HTTPField(name: .switchyardProvider, value: attempt.provider.name)
    }

    // MARK: Attempt outcomes

    private func attemptFailed(_ failure: AttemptFailure, upstreamAnswer answer: ClientAnswer? = nil) {
        guard let attempt else { return }
        cancelTimer()
        observe(attempt, result: failure.kind)
        body = ByteBuffer()
        translator = nil
        aggregation = nil
        outgoing.removeAll()
        upstreamAnswer = answer
        phase = .deciding
        self.attempt = nil
        record(failure.breakerOutcome, of: attempt.slot)
        let now = engine.state.clock.now()
        let circuitOpen = attempt.slot.state.breaker.refusal(now: now, config: attempt.provider.circuitBreaker) != nil
        let keys = keyFailover(attempt, failure, now: now)
        run(sequence.failed(failure, upstreamAnswered: answer != nil, circuitOpen: circuitOpen, keys: keys, now: now))
    }

    /// A pool key's 401/403/429 takes that key out; the provider is tried again with another one if one is left.
    private func keyFailover(_ attempt: Attempt, _ failure: AttemptFailure, now: Date) -> KeyFailover {
        if attempt.clientKey != nil, case .status(let status, _) = failure, [401, 403, 429].contains(status) {
            return .clientKey
        }
        guard let key = attempt.poolKey, case .status(let status, let retryAfter) = failure else { return .notAPool }
        let provider = attempt.provider
        guard
            let change = attempt.slot.state.keyFailed(
                key.key, status: status, retryAfter: retryAfter, now: now, provider: provider,
                cooldownSeconds: global.cooldownSeconds
            )
        else { return .notAPool }
        let until: String
        switch change {
        case .disabled(let date): until = date.map { "disabled until \(engine.state.files.format($0))" } ?? "disabled until reload"
        case .coolingDown(let date): until = "cooling down until \(engine.state.files.format(date))"
        }
        if let index = poolKeyIndex { refusedKeys.insert(index) }
        poolKeyIndex = nil
        let keys = attempt.slot.state.keys
        let left = provider.keyPool.indices.contains { !refusedKeys.contains($0) && keys.isUsable(provider.keyPool[$0].key, now: now) }
        logger.warning(
            "Key \(KeyLabel.of(key)) of provider \(provider.name) for model \(route.name) refused with HTTP \(status): \(until)\(left ? "; trying another key" : "; no key left")"
        )
        event(.keyUnselected, slot: attempt.slot, key: key, status: status, detail: until)
        if !left { event(.keyExhausted, slot: attempt.slot, detail: "no usable key left after HTTP \(status)") }
        return left ? .anotherKey : .noKeyLeft
    }

    /// A usable key not yet refused in this request, within its own quota if it has one (its claim then joins the
    /// provider's reservation); nil when none is left.
    private func selectKey(of slot: ProviderSlot, provider: ProviderConfig, affinity: UInt64?, now: Date) -> Int? {
        var passedOver = refusedKeys
        while let index = slot.state.selectKey(for: provider, affinity: affinity, tried: passedOver, now: now) {
            let key = provider.keyPool[index]
            guard let limit = key.rateLimit, let counter = slot.state.keyCounter(for: key.key) else {
                lease?.attachKey(nil)
                return index
            }
            if let keyLease = counter.reserve(limit) {
                lease?.attachKey(keyLease)
                return index
            }
            passedOver.insert(index)
        }
        return nil
    }

    /// Pins a session's (or a conversation's) requests to one key of a `round_robin` pool while it stays usable,
    /// so provider-side prompt caches, which belong to a key, keep hitting (`fill_first` stays on one key anyway).
    private lazy var keyAffinity: UInt64? = {
        if let session = request.session { return KeyPool.affinity(of: session.utf8) }
        guard let canonical = inbound.canonical, let messages = canonical.scan.member("messages") else { return nil }
        let opening = messages.valueRange.prefix(2048)
        return canonical.body.withUnsafeReadableBytes { KeyPool.affinity(of: $0[opening]) }
    }()

    /// Counts the pool key that served; a provider that had cooled down is back.
    private func served(_ attempt: Attempt) {
        if attempt.slot.state.recovered() { event(.providerRecovered, slot: attempt.slot, detail: "served a request after its cooldown") }
        guard let key = attempt.poolKey else { return }
        attempt.slot.state.keyServed(key.key)
        engine.metrics.keyServed(model: route.name, provider: attempt.provider.name, key: KeyLabel.of(key))
    }

    /// Tells the provider's circuit breaker how an attempt went; a probe's turn ends with it.
    private func record(_ outcome: CircuitBreaker.Outcome, of slot: ProviderSlot) {
        let probe = probing != nil
        probing = nil
        report(slot.state.record(outcome, probe: probe, now: engine.state.clock.now(), config: slot.config.circuitBreaker), of: slot)
    }

    private func report(_ transition: CircuitBreaker.Transition?, of slot: ProviderSlot) {
        switch transition {
        case .opened(let until, let reason):
            logger.warning(
                "Circuit of provider \(slot.name) for model \(route.name) opened after \(reason); skipped until \(engine.state.files.format(until))"
            )
            event(.circuitOpened, slot: slot, detail: "after \(reason); skipped until \(engine.state.files.format(until))")
        case .halfOpened:
            logger.info("Circuit of provider \(slot.name) for model \(route.name) is half-open: this request probes it")
        case .closed:
            logger.info("Circuit of provider \(slot.name) for model \(route.name) closed")
            event(.circuitClosed, slot: slot, detail: "a probe succeeded")
        case nil:
            break
        }
    }

    /// The first request of a period that the provider's quota refuses is an event; the others are not.
    private static func reportExhaustedQuota(of slot: ProviderSlot, model: String, state: GatewayState, requestID: String) {
        guard slot.state.usage.claimExhaustionReport() else { return }
        let reset = slot.nextReset(in: state.timeZone).map { "; resets \(state.files.format($0))" } ?? ""
        state.event(.quotaExhausted, model: model, provider: slot.name, detail: slot.quotaUsed + reset, requestID: requestID)
    }

    private func event(
        _ action: GatewayEvent.Action, slot: ProviderSlot, key: UpstreamKey? = nil, status: Int? = nil, detail: String
    ) {
        engine.state.event(
            action, model: route.name, provider: slot.name, key: key.map(KeyLabel.of), status: status, detail: detail,
            requestID: requestID
        )
    }

    private func delivered(_ answer: TranslatedAnswer, status: Int, headers: HTTPFields, attempt: Attempt) {
        guard let lease else { preconditionFailure("an attempt without a reservation") }
        let provider = attempt.provider
        let usage = ProxyEngine.settle(lease, request: inbound, reported: answer.usage, generatedCharacters: answer.generatedCharacters)
        self.lease = nil
        engine.keep(answer.keptAnswer, keeping: request.keeping, provider: provider, model: inbound.model)
        observe(attempt, result: "ok")
        record(.success, of: attempt.slot)
        served(attempt)
        trace.served(by: provider.name, usage: usage)
        engine.keepSession(request.session, on: provider, route: route)
        end(with: ClientAnswer(status: status, headers: headers, body: answer.body))
    }

    private func observe(_ attempt: Attempt, result: String) {
        let latency = ContinuousClock.now - attempt.startedAt
        trace.attempt(provider: attempt.provider.name, result: result, latency: latency)
        engine.metrics.attempt(model: route.name, provider: attempt.provider.name, outcome: result, latency: latency)
    }

    /// The request ends with a whole answer.
    private func end(with answer: ClientAnswer) {
        finish()
        engine.recorder.finish(trace, status: answer.status)
        client.respond(answer)
    }

    private func finish() {
        if let probing { record(.abandoned, of: probing) }
        phase = .finished
        cancelTimer()
        shutdownTimer?.cancel()
        shutdownTimer = nil
        lease?.release()
        lease = nil
    }

    // MARK: The relay

    /// The stream carries the answer: the client gets a 200 event stream with what was translated so far, and the
    /// rest is relayed as it comes.
    private func commit(_ attempt: Attempt, upstreamEnded: Bool) {
        let provider = attempt.provider
        observe(attempt, result: "ok")
        record(.success, of: attempt.slot)
        served(attempt)
        engine.keepSession(request.session, on: provider, route: route)
        trace.streaming(from: provider.name)
        engine.metrics.streamOpened()
        streamLease = lease
        lease = nil
        phase = .relaying
        client.startStream(headers: ProxyEngine.eventStreamHeaders(providerHeader(attempt)))
        write(outgoing)
        if upstreamEnded { relayFinished(.completed) }
    }

    private func relay(_ chunk: ByteBuffer) {
        let events: [ByteBuffer]
        do {
            events = try self.events(in: chunk)
        } catch {
            return streamFailed(UpstreamStreamError(reason: "the upstream sent an event larger than \(error.limit) bytes"))
        }
        relayStep { translator, output throws(UpstreamStreamError) in
            for event in events { try translator.translate(event, into: &output) }
        }
    }

    private func relayEnded() {
        if framer.pendingByteCount > 0 {
            return streamFailed(UpstreamStreamError(reason: "the stream ended in the middle of an event"))
        }
        if relayStep({ translator, output throws(UpstreamStreamError) in try translator.finish(into: &output) }) {
            relayFinished(.completed)
        }
    }

    /// Runs the translator over what came and writes what it made, also when it failed (what was translated
    /// before a failure still reaches the client); false when the stream failed.
    @discardableResult
    private func relayStep(
        _ step: (inout any StreamTranslator, inout [ByteBuffer]) throws(UpstreamStreamError) -> Void
    ) -> Bool {
        guard var translator else { return false }
        self.translator = nil  // held once while it changes, so its buffers are not copied
        var failure: UpstreamStreamError?
        do {
            try step(&translator, &outgoing)
        } catch {
            failure = error
        }
        self.translator = translator
        write(outgoing)
        guard let failure else { return true }
        streamFailed(failure)
        return false
    }

    private func write(_ buffers: [ByteBuffer]) {
        guard !buffers.isEmpty else { return }
        client.writeStream(buffers)
        if firstWriteAt == nil { firstWriteAt = .now }
        outgoing.removeAll(keepingCapacity: true)
    }

    /// The client can take more again: reading from the upstream resumes, and the upstream's silence bound
    /// starts afresh (it was not the upstream that kept still).
    func clientBecameWritable() {
        guard case .relaying = phase else { return }
        clientStalledSince = nil
        lastActivity = .now()
        exchange?.resumeReading()
    }

    /// The upstream broke, went silent or ended early after the commit: the client gets the upstream's own error
    /// events (when it speaks the upstream's dialect) or one of the gateway's, and no clean end.
    /// `outcome` is what the failure tells the provider's circuit breaker.
    private func streamFailed(_ failure: UpstreamStreamError, outcome: CircuitBreaker.Outcome = .failure(timeout: false)) {
        if let slot = attempt?.slot { record(outcome, of: slot) }
        abandonExchange()
        relayFinished(.failed(reason: failure.reason), detail: failure.detail, forwarded: failure.forwarded)
    }

    private func relayFinished(_ outcome: RelayOutcome, detail: String? = nil, forwarded: [ByteBuffer] = []) {
        guard case .relaying = phase, let attempt, let translator else { return }
        let provider = attempt.provider
        switch outcome {
        case .failed(let reason):
            logger.error(
                "ERROR stream from provider \(provider.name) failed after it started: \(reason)\(detail.map { " (\($0))" } ?? "")"
            )
            if forwarded.isEmpty {
                let error = GatewayError(
                    status: 502, type: "api_error", code: "upstream_stream_error",
                    message: "The upstream provider \(provider.name) failed during the stream: \(reason)."
                )
                client.writeStream([translator.errorEvent(error)])
            } else {
                client.writeStream(forwarded)
            }
            engine.metrics.streamFailed(model: route.name, provider: provider.name)
        case .clientGone:
            logger.info("Client disconnected from a stream of provider \(provider.name); upstream request cancelled")
        case .clientStalled:
            logger.warning(
                "Client took nothing of a stream of provider \(provider.name) for \(Double(silenceLimit.nanoseconds) / 1e9) s; connection closed, upstream request cancelled"
            )
        case .completed:
            break
        }
        let completedAnswer = outcome == .completed ? translator.completedAnswer.map(JSONValue.encode) : nil
        // A stream that broke or was abandoned still counts what it delivered.
        let usage = streamLease.map {
            ProxyEngine.settle($0, request: inbound, reported: translator.usage, generatedCharacters: translator.generatedBytes)
        }
        streamLease = nil
        finish()
        engine.keep(completedAnswer, keeping: request.keeping, provider: provider, model: inbound.model)
        engine.metrics.streamClosed()
        if let firstWriteAt { trace.firstByteSent(at: firstWriteAt) }
        trace.streamEnded(outcome: outcome.label, usage: usage)
        engine.recorder.finish(trace, status: 200)
        self.translator = nil
        self.attempt = nil
        switch outcome {
        case .completed, .failed: client.endStream()
        case .clientStalled: client.abort()
        case .clientGone: break
        }
    }

    // MARK: Silence, shutdown, a leaving client

    private func boundSilence(by limit: TimeAmount) {
        cancelTimer()
        silenceLimit = limit
        lastActivity = .now()
        armSilenceCheck(at: lastActivity + limit)
    }

    /// One timer per silence bound, re-armed for the rest when data came in between (not once per chunk).
    private func armSilenceCheck(at deadline: NIODeadline) {
        let generation = timerGeneration
        timer = eventLoop.assumeIsolated().scheduleTask(deadline: deadline) { [self] in
            guard generation == timerGeneration else { return }
            timer = nil
            let now = NIODeadline.now()
            if case .relaying = phase, !client.isWritable {
                // Reading is paused because the client takes nothing: the silence is not the upstream's, and a
                // client that takes nothing for as long as the upstream may be silent is let go.
                guard let since = clientStalledSince else {
                    clientStalledSince = now
                    return armSilenceCheck(at: now + silenceLimit)
                }
                guard since + silenceLimit <= now else { return armSilenceCheck(at: since + silenceLimit) }
                abandonExchange()
                return relayFinished(.clientStalled)
            }
            let due = lastActivity + silenceLimit
            guard due <= now else { return armSilenceCheck(at: due) }
            silenceTimedOut()
        }
    }

    private func silenceTimedOut() {
        switch phase {
        case .relaying:
            let seconds = Double(silenceLimit.nanoseconds) / 1e9
            let reason =
                framer.pendingByteCount > 0
                ? "no complete event from the upstream for \(seconds) s (\(framer.pendingByteCount) bytes of one came)"
                : "no data from the upstream for \(seconds) s"
            streamFailed(UpstreamStreamError(reason: reason), outcome: .failure(timeout: true))
        case .readingError, .collecting, .aggregating, .opening:
            abandonExchange()
            attemptFailed(.timeout)
        case .deciding, .sending, .backingOff, .finished:
            break
        }
    }

    /// A timer whose task already left the loop's queue when it was cancelled can still run: each checks that it
    /// is the current one.
    private func cancelTimer() {
        timerGeneration &+= 1
        timer?.cancel()
        timer = nil
    }

    /// Stops the upstream request, if one runs; its connection is closed.
    private func abandonExchange() {
        guard let exchange else { return }
        self.exchange = nil
        exchange.receiver = nil
        exchange.cancel()
    }

    /// The client's connection closed: the upstream request is cancelled at once.
    func clientLeft() {
        switch phase {
        case .finished:
            return
        case .relaying:
            abandonExchange()
            relayFinished(.clientGone)
        default:
            abandonExchange()
            logger.info("Client disconnected before its answer; upstream request cancelled")
            finish()
            engine.recorder.finish(trace, status: GatewayError.clientClosedRequest.statusCode)
        }
    }

    /// The gateway began shutting down: the request may go on for `grace`.
    func shutdownStarted(grace: TimeAmount) {
        guard shutdownTimer == nil, !shutdownPassed else { return }
        shutdownTimer = eventLoop.assumeIsolated().scheduleTask(in: grace) { [self] in
            guard shutdownTimer != nil else { return }  // cancelled: the request ended
            shutdownTimer = nil
            shutdownPassed = true
            switch phase {
            case .finished:
                return
            case .relaying:
                streamFailed(UpstreamStreamError(reason: "the gateway is shutting down"), outcome: .abandoned)
            default:
                abandonExchange()
                end(with: ClientAnswer(.shuttingDown, dialect: inbound.api.dialect))
            }
        }
    }
}
