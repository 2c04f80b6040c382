import NIOCore
import Synchronization

/// Why a guarded upstream read was stopped.
enum StreamStop: Error, Equatable {
    /// No bytes arrived from the upstream for the provider's timeout.
    case idleTimeout
    /// The client closed its connection.
    case clientDisconnected
    /// The gateway is shutting down and the grace period is over.
    case shuttingDown
}

/// Bounds the silence of one upstream body and lets a client disconnect stop it.
///
/// The operation runs in a child task; a second child waits on a continuation that is resumed by an event-loop
/// timer (when `touch()` has not been called for `idleTimeout`) or by `stop(_:)`. Whichever child finishes first
/// wins and the other is cancelled, which cancels the upstream request. Costs per stream: one suspended task and
/// one timer, and an atomic store per chunk.
final class StreamGuard: Sendable {
    private struct State {
        var stopped: StreamStop?
        var waiter: CheckedContinuation<StreamStop?, Never>?
        var timer: Scheduled<Void>?
        var finished = false
    }

    private let idleTimeout: TimeAmount
    private let eventLoop: any EventLoop
    private let lastActivity: Atomic<Int64>
    private let state = Mutex(State())

    init(idleTimeout: TimeAmount, eventLoop: any EventLoop) {
        self.idleTimeout = idleTimeout
        self.eventLoop = eventLoop
        self.lastActivity = Atomic(NIODeadline.now().uptimeNanoseconds.clampedToInt64)
    }

    /// Records that data arrived.
    func touch() {
        lastActivity.store(NIODeadline.now().uptimeNanoseconds.clampedToInt64, ordering: .relaxed)
    }

    /// Stops the guarded operation (e.g. because the client went away).
    func stop(_ reason: StreamStop) {
        let waiter = state.withLock { state -> CheckedContinuation<StreamStop?, Never>? in
            guard state.stopped == nil, !state.finished else { return nil }
            state.stopped = reason
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: reason)
    }

    /// Stops the guarded operation with `reason` once `delay` has passed.
    func stop(_ reason: StreamStop, after delay: TimeAmount) {
        eventLoop.scheduleTask(in: delay) { [self] in stop(reason) }
    }

    /// Runs `operation` under a new guard, throwing `StreamStop.idleTimeout` if it goes quiet for `idleTimeout`.
    static func run<Value: Sendable>(
        idleTimeout: TimeAmount, eventLoop: any EventLoop,
        _ operation: @escaping @Sendable (StreamGuard) async throws -> Value
    ) async throws -> Value {
        try await StreamGuard(idleTimeout: idleTimeout, eventLoop: eventLoop).run { try await operation($0) }
    }

    /// Runs `operation` (once per guard), throwing `StreamStop` if the guard trips first.
    func run<Value: Sendable>(_ operation: @escaping @Sendable (StreamGuard) async throws -> Value) async throws -> Value {
        touch()
        armTimer()
        defer { disarm() }
        return try await withThrowingTaskGroup(of: Value?.self) { group in
            group.addTask { try await operation(self) }
            group.addTask {
                if let reason = await self.waitForStop() { throw reason }
                return nil
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let value = result { return value }
            }
            throw CancellationError()
        }
    }

    private func waitForStop() async -> StreamStop? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<StreamStop?, Never>) in
                let immediate: StreamStop?? = state.withLock { state in
                    if let stopped = state.stopped { return .some(stopped) }
                    if state.finished { return .some(nil) }
                    state.waiter = continuation
                    return nil
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            let waiter = state.withLock { state -> CheckedContinuation<StreamStop?, Never>? in
                state.finished = true
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }

    private func armTimer() {
        let deadline = NIODeadline.uptimeNanoseconds(UInt64(lastActivity.load(ordering: .relaxed))) + idleTimeout
        let timer = eventLoop.scheduleTask(deadline: deadline) { [self] in
            let idleSince = NIODeadline.uptimeNanoseconds(UInt64(lastActivity.load(ordering: .relaxed)))
            if idleSince + idleTimeout <= .now() {
                stop(.idleTimeout)
            } else {
                armTimer()
            }
        }
        let stale = state.withLock { state -> Bool in
            if state.finished || state.stopped != nil { return true }
            state.timer = timer
            return false
        }
        if stale { timer.cancel() }
    }

    private func disarm() {
        let timer = state.withLock { state -> Scheduled<Void>? in
            state.finished = true
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
    }
}

extension UInt64 {
    fileprivate var clampedToInt64: Int64 { Int64(clamping: self) }
}
