import Foundation
import Logging
import ServiceLifecycle
import UnixSignals
import SwitchyardCore

/// Writes changed usage counters to disk about once a second, and a last time after everything else has stopped,
/// when it also waits for kept responses still being written.
struct UsageFlushService: Service {
    let state: GatewayState
    var interval: Duration = .seconds(1)

    func run() async throws {
        await repeatUntilGracefulShutdown(every: interval) { [state] in state.persistAll() }
        state.persistAll()
        state.responses.flush()
    }
}

/// Resets usage counters when their cron schedules come due. It sleeps on the gateway's clock until the earliest
/// upcoming reset, but never longer than `checkInterval`, so reloaded schedules and clock changes are picked up.
struct UsageResetService: Service {
    let state: GatewayState
    var checkInterval: TimeInterval = 1

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                while true {
                    let now = state.clock.now()
                    state.applyDueResets(now: now)
                    let next = UsageResets.nextDue(in: state.table, timeZone: state.timeZone) ?? .distantFuture
                    try await state.clock.sleep(until: min(next, now.addingTimeInterval(checkInterval)))
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }
}

/// Reloads the config file on SIGHUP.
struct ReloadOnHangupService: Service {
    let state: GatewayState

    func run() async throws {
        let hangups = await UnixSignalsSequence(trapping: .sighup)
        // A task group, not the sequence's `cancelOnGracefulShutdown()` (see `repeatUntilGracefulShutdown`).
        await cancelWhenGracefulShutdown { [state] in
            for await _ in hangups {
                state.logger.info("SIGHUP received: reloading \(state.configFile)")
                do {
                    _ = try state.reload(trigger: "SIGHUP")
                } catch {
                    state.logger.error("ERROR reload failed, keeping the running config: \(error)")
                }
            }
        }
    }
}
