import AsyncAlgorithms
import ServiceLifecycle

/// Writes buffered log lines out every 100 ms, and a last time at shutdown.
struct LogFlushService: Service {
    let sinks: [LogSink]

    func run() async throws {
        for await _ in AsyncTimerSequence(interval: .milliseconds(100), clock: .continuous).cancelOnGracefulShutdown() {
            sinks.forEach { $0.flush() }
        }
        sinks.forEach { $0.flush() }
    }
}
