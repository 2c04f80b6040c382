import AsyncAlgorithms
import ServiceLifecycle

/// Writes buffered log lines out every 100 ms, whenever a buffer fills, and a last time at shutdown.
struct LogFlushService: Service {
    let sinks: [LogSink]

    func run() async throws {
        let (fullBuffers, flusher) = AsyncStream.makeStream(of: Void.self, bufferingPolicy: .bufferingNewest(1))
        sinks.forEach { $0.flushRequests(to: flusher) }
        let ticks = AsyncTimerSequence(interval: .milliseconds(100), clock: .continuous).map { _ in () }
        for await _ in merge(ticks, fullBuffers).cancelOnGracefulShutdown() {
            sinks.forEach { $0.flush() }
        }
        // Lines logged from here on are written by their writers once a buffer fills.
        sinks.forEach { $0.flushRequests(to: nil) }
        flusher.finish()
        sinks.forEach { $0.flush() }
    }
}
