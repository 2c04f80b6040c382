import NIOCore
import NIOHTTP1

/// What hears an exchange's answer as it arrives, on the exchange's event loop: the proxy's data plane.
protocol UpstreamExchangeReceiver: AnyObject {
    func exchangeReceivedHead(_ head: HTTPResponseHead)
    func exchangeReceivedBody(_ chunk: ByteBuffer)
    /// The answer is complete (success) or lost; called once, and nothing follows.
    func exchangeEnded(_ result: Result<Void, any Error>)
    /// Whether it can take more of the body now (its client keeps up); when it cannot, the connection stops
    /// reading from the upstream until `UpstreamExchange.resumeReading()`.
    var wantsMoreData: Bool { get }
}

/// One upstream request and its answer as it arrives: the pool's connection feeds it on its event loop, either to
/// its `receiver` as each part comes (the data plane, on the same loop) or into a buffer that a task reads with
/// `responseHead()` and `next()` (token fetches and other calls off the data plane).
///
/// All state is confined to `eventLoop`; the public methods hop there when called from elsewhere, hence the
/// unchecked `Sendable`. The body is buffered up to `highWatermark` bytes: beyond that the connection stops reading
/// from the socket until the reader catches up, so a slow client slows the upstream instead of filling memory.
final class UpstreamExchange: @unchecked Sendable {
    static let highWatermark = 64 * 1024

    let eventLoop: any EventLoop
    let origin: UpstreamOrigin
    let requestHead: HTTPRequestHead
    let requestBody: ByteBuffer
    /// Stale keep-alive connections this request may still move away from (see `UpstreamConnection`).
    var staleRetriesLeft = 2

    private var head: Result<HTTPResponseHead, any Error>?
    private var headWaiter: CheckedContinuation<HTTPResponseHead, any Error>?
    private var chunks = CircularBuffer<ByteBuffer>()
    private var bufferedBytes = 0
    /// How the body ended: nil while it continues.
    private var end: Result<Void, any Error>?
    private var bodyWaiter: CheckedContinuation<ByteBuffer?, any Error>?
    private var deadline: Scheduled<Void>?
    /// The connection carrying the request, once it has one.
    private var connection: UpstreamConnection?
    /// Set before `send`, on the loop; cleared by whoever abandons the exchange, before `cancel()`.
    weak var receiver: (any UpstreamExchangeReceiver)?

    init(eventLoop: any EventLoop, origin: UpstreamOrigin, head: HTTPRequestHead, body: ByteBuffer) {
        self.eventLoop = eventLoop
        self.origin = origin
        requestHead = head
        requestBody = body
    }

    /// Whether the answer is complete or failed (a queued exchange that finished is skipped).
    var isFinished: Bool { end != nil }

    /// The body buffered so far is small enough to read more (or the receiver keeps up).
    var wantsMoreData: Bool {
        if let receiver { return receiver.wantsMoreData }
        return bufferedBytes < Self.highWatermark
    }

    /// The receiver can take more again.
    func resumeReading() {
        connection?.resumeReading()
    }

    // MARK: The connection's side (on the event loop)

    /// Hands the request to `pool` (on the loop, from any task); it fails with `responseTimeout` if no head has
    /// arrived by `headDeadline`.
    func send(through pool: UpstreamConnectionPool, headDeadline: NIODeadline) {
        onLoop {
            self.deadline = self.eventLoop.assumeIsolatedUnsafeUnchecked().scheduleTask(deadline: headDeadline) {
                if self.head == nil { self.fail(UpstreamTransportError.responseTimeout) }
            }
            pool.execute(self)
        }
    }

    /// The connection now carrying the request, or nil when it lost it (and will not close on `fail`).
    func attach(_ connection: UpstreamConnection?) {
        self.connection = connection
    }

    func receivedHead(_ responseHead: HTTPResponseHead) {
        guard head == nil else { return }
        deadline?.cancel()
        head = .success(responseHead)
        if let receiver {
            receiver.exchangeReceivedHead(responseHead)
        } else {
            headWaiter.take()?.resume(returning: responseHead)
        }
    }

    func receivedBody(_ chunk: ByteBuffer) {
        guard end == nil else { return }
        if let receiver {
            receiver.exchangeReceivedBody(chunk)
        } else if let waiter = bodyWaiter.take() {
            waiter.resume(returning: chunk)
        } else {
            bufferedBytes += chunk.readableBytes
            chunks.append(chunk)
        }
    }

    func receivedEnd() {
        guard end == nil else { return }
        end = .success(())
        connection = nil
        if let receiver {
            receiver.exchangeEnded(.success(()))
        } else {
            bodyWaiter.take()?.resume(returning: nil)
        }
    }

    /// Ends the exchange with `error` (a no-op once it has ended); the connection, if it still carries the request,
    /// is closed. Body chunks that arrived before the failure are still read first, as a socket's are before its
    /// reset: an upstream that sends events and then drops the connection has sent those events.
    func fail(_ error: any Error) {
        guard end == nil else { return }
        end = .failure(error)
        deadline?.cancel()
        let connection = connection.take()
        if let receiver {
            receiver.exchangeEnded(.failure(error))
            connection?.abandon(self)
            return
        }
        if head == nil {
            head = .failure(error)
            headWaiter.take()?.resume(throwing: error)
        }
        bodyWaiter.take()?.resume(throwing: error)
        connection?.abandon(self)
    }

    // MARK: The reader's side (any task)

    /// The answer's status and headers.
    func responseHead() async throws -> HTTPResponseHead {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                onLoop {
                    switch self.head {
                    case .success(let head): continuation.resume(returning: head)
                    case .failure(let error): continuation.resume(throwing: error)
                    case nil: self.headWaiter = continuation
                    }
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The next chunk of the body, or nil at its end.
    func next() async throws -> ByteBuffer? {
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { continuation in
                onLoop {
                    if let chunk = self.chunks.popFirst() {
                        let wasFull = !self.wantsMoreData
                        self.bufferedBytes -= chunk.readableBytes
                        continuation.resume(returning: chunk)
                        if wasFull, self.wantsMoreData { self.connection?.resumeReading() }
                        return
                    }
                    switch self.end {
                    case .success: continuation.resume(returning: nil)
                    case .failure(let error): continuation.resume(throwing: error)
                    case nil:
                        self.bodyWaiter = continuation
                        self.connection?.resumeReading()
                    }
                }
            }
        } onCancel: {
            cancel()
        }
    }

    /// The reader gave up (it was cancelled or dropped the body): the request stops and its connection is closed,
    /// unless the answer had already ended.
    func cancel() {
        onLoop {
            self.fail(CancellationError())
            self.chunks.removeAll()
            self.bufferedBytes = 0
        }
    }

    private func onLoop(_ body: @escaping @Sendable () -> Void) {
        if eventLoop.inEventLoop {
            body()
        } else {
            eventLoop.execute { body() }
        }
    }
}

extension Optional {
    /// The value, leaving nil behind.
    fileprivate mutating func take() -> Wrapped? {
        defer { self = nil }
        return self
    }
}
