import Synchronization
import SwitchyardCore

/// Ends one request's work once the shutdown grace period is over: the step running then (an attempt, or a
/// backoff) is stopped, and no new step starts.
final class ShutdownDeadline: Sendable {
    private struct State {
        var passed = false
        var running: StreamGuard?
    }

    private let state = Mutex(State())

    /// `stepGuard`'s step starts; throws when the grace period is already over.
    func begin(_ stepGuard: StreamGuard) throws(GatewayError) {
        let passed = state.withLock { state -> Bool in
            if !state.passed { state.running = stepGuard }
            return state.passed
        }
        if passed { throw .shuttingDown }
    }

    func end(_ stepGuard: StreamGuard) {
        state.withLock { state in
            if state.running === stepGuard { state.running = nil }
        }
    }

    /// The grace period is over.
    func expire() {
        let running = state.withLock { state -> StreamGuard? in
            state.passed = true
            return state.running
        }
        running?.stop(.shuttingDown)
    }
}
