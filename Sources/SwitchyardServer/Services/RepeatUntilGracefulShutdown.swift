import ServiceLifecycle

/// Calls `tick` every `interval` until a graceful shutdown starts or the task is cancelled.
///
/// (Not `AsyncTimerSequence(…).cancelOnGracefulShutdown()`: that sequence is a swift-async-algorithms `merge`, whose
/// storage can release its lock on another thread than the one that took it, apple/swift-async-algorithms#430;
/// ThreadSanitizer reports it as a race.)
func repeatUntilGracefulShutdown(every interval: Duration, _ tick: @escaping @Sendable () -> Void) async {
    await cancelWhenGracefulShutdown {
        while (try? await Task.sleep(for: interval)) != nil {
            tick()
        }
    }
}
