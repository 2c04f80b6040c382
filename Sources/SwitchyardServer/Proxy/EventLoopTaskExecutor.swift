import NIOCore

/// Runs a task's jobs on a NIO event loop.
///
/// A stream's relay runs on its client connection's event loop, so each event is written to the client socket
/// from the loop it is sent on, and read from the upstream socket without a hop when that connection shares the
/// loop; on Swift's global executor every event crossed threads twice. (Running the whole request handler there
/// too cut hops further but delayed first bytes: new requests then queued behind the loop's stream traffic.)
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
