import NIOCore

/// Runs a task's jobs on a NIO event loop.
///
/// A stream runs on its client connection's event loop: AsyncHTTPClient then prefers an upstream connection on the
/// same loop, so each event goes from the upstream socket to the client socket without waking another thread,
/// where it otherwise crossed to Swift's global executor and back (a third fewer context switches per stream).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop) {
        self.eventLoop = eventLoop
    }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        eventLoop.execute {
            job.runSynchronously(on: executor)
        }
    }
}
