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

/// Bounds the silence of one upstream body and lets a client disconnect (or shutdown) stop it.
///
/// The operation runs in a child task while the calling task waits on a continuation, which is resumed by
/// whichever comes first: the operation ending, an event-loop timer (when `touch()` has not been called for
/// `idleTimeout`, if set), or `stop(_:)`. When the guard trips, the operation's task is cancelled, which cancels the
/// upstream request. Costs per use: one child task, one timer when idle-bounded, and an atomic store per chunk.
final class StreamGuard: Sendable {
    private enum Outcome {
        case stopped(StreamStop)
        case operationEnded
    }

    private struct State {
        var outcome: Outcome?
        var waiter: CheckedContinuation<StreamStop?, Never>?
        var timer: Scheduled<Void>?
        var idleTimeout: TimeAmount?
    }

    private let eventLoop: any EventLoop
    private let lastActivity: Atomic<Int64>
    private let state: Mutex<State>

    /// - Parameter idleTimeout: the longest silence allowed, or nil for none until `boundSilence(by:)`.
    init(idleTimeout: TimeAmount?, eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
        self.lastActivity = Atomic(NIODeadline.now().uptimeNanoseconds.clampedToInt64)
        self.state = Mutex(State(idleTimeout: idleTimeout))
    }

    /// Records that data arrived.
    func touch() {
        lastActivity.store(NIODeadline.now().uptimeNanoseconds.clampedToInt64, ordering: .relaxed)
    }

    /// From now on, the operation may go quiet for at most `timeout` (once an upstream has sent its headers, say);
    /// ignored when the guard is bounded already.
    func boundSilence(by timeout: TimeAmount) {
        touch()
        let arm = state.withLock { state -> Bool in
            guard state.outcome == nil, state.idleTimeout == nil else { return false }
            state.idleTimeout = timeout
            return true
        }
        if arm { armTimer() }
    }

    /// Stops the guarded operation (e.g. because the client went away); ignored once it has ended.
    func stop(_ reason: StreamStop) {
        settle(.stopped(reason))
    }

    /// Stops the guarded operation with `reason` once `delay` has passed.
    func stop(_ reason: StreamStop, after delay: TimeAmount) {
        eventLoop.scheduleTask(in: delay) { [self] in stop(reason) }
    }

    /// Records the first outcome and wakes the waiting task.
    private func settle(_ outcome: Outcome) {
        let waiter = state.withLock { state -> CheckedContinuation<StreamStop?, Never>? in
            guard state.outcome == nil else { return nil }
            state.outcome = outcome
            defer { state.waiter = nil }
            return state.waiter
        }
        if case .stopped(let reason) = outcome {
            waiter?.resume(returning: reason)
        } else {
            waiter?.resume(returning: nil)
        }
    }

    /// Runs `operation` (once per guard), throwing `StreamStop` if the guard trips first.
    func run<Value: Sendable>(_ operation: @escaping @Sendable (StreamGuard) async throws -> Value) async throws -> Value {
        touch()
        armTimer()
        defer { disarm() }
        return try await withThrowingTaskGroup(of: Value.self) { group in
            group.addTask {
                defer { self.settle(.operationEnded) }
                return try await operation(self)
            }
            if let reason = await waitForStop() {
                group.cancelAll()
                _ = try? await group.next()
                throw reason
            }
            guard let value = try await group.next() else { throw CancellationError() }
            return value
        }
    }

    /// Waits for the first outcome: the stop reason, or nil when the operation ended (or this task was cancelled,
    /// in which case the operation, a child, is cancelled too and ends on its own).
    private func waitForStop() async -> StreamStop? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<StreamStop?, Never>) in
                let immediate: StreamStop?? = state.withLock { state in
                    switch state.outcome {
                    case .stopped(let reason): return .some(reason)
                    case .operationEnded: return .some(nil)
                    case nil:
                        state.waiter = continuation
                        return nil
                    }
                }
                if let immediate { continuation.resume(returning: immediate) }
            }
        } onCancel: {
            settle(.operationEnded)
        }
    }

    private func armTimer() {
        guard let idleTimeout = state.withLock({ $0.idleTimeout }) else { return }
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
            if state.outcome != nil { return true }
            state.timer = timer
            return false
        }
        if stale { timer.cancel() }
    }

    private func disarm() {
        let timer = state.withLock { state -> Scheduled<Void>? in
            if state.outcome == nil { state.outcome = .operationEnded }
            defer { state.timer = nil }
            return state.timer
        }
        timer?.cancel()
    }
}

extension UInt64 {
    fileprivate var clampedToInt64: Int64 { Int64(clamping: self) }
}
