import NIOPosix
import ServiceLifecycle

/// Writes buffered log lines out every 100 ms and a last time at shutdown; a buffer that fills in between is
/// written on the blocking-work pool (off the event loop that filled it).
struct LogFlushService: Service {
    let sinks: [LogSink]

    func run() async throws {
        for sink in sinks {
            sink.handFullBuffers { NIOThreadPool.singleton.submit { _ in sink.flush() } }
        }
        await repeatUntilGracefulShutdown(every: .milliseconds(100)) { [sinks] in sinks.forEach { $0.flush() } }
        // Lines logged from here on are written by their writers once a buffer fills.
        sinks.forEach { $0.handFullBuffers(to: nil) }
        sinks.forEach { $0.flush() }
    }
}
