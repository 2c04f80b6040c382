import NIOCore
import NIOPosix
@testable import SwitchyardServer
import Testing

@Suite("Client connection watch")
struct ClientConnectionWatchTests {
    @Test func streamsOneAfterAnotherOnAConnectionKeepOneWatchAndItsCloseStopsTheRunningStream() async throws {
        let group = MultiThreadedEventLoopGroup.singleton
        let server = try await ServerBootstrap(group: group).bind(host: "127.0.0.1", port: 0).get()
        let connection = try await ClientBootstrap(group: group).connect(to: server.localAddress!).get()
        let watch = ClientConnectionWatch()

        for _ in 0..<1000 {
            let finished = StreamGuard(idleTimeout: .seconds(60), eventLoop: connection.eventLoop)
            watch.watch(connection, stopping: finished)
            watch.end(connection, stopping: finished)
        }
        #expect(watch.watchedCount == 1)

        // A stream that ends late does not unwatch the next one, already running on the same connection.
        let late = StreamGuard(idleTimeout: .seconds(60), eventLoop: connection.eventLoop)
        watch.watch(connection, stopping: late)

        let running = StreamGuard(idleTimeout: .seconds(60), eventLoop: connection.eventLoop)
        watch.watch(connection, stopping: running)
        watch.end(connection, stopping: late)
        async let outcome: Void = running.run { _ in try await Task.sleep(for: .seconds(60)) }
        try await connection.close()
        do {
            try await outcome
            Issue.record("the stream outlived its client connection")
        } catch {
            #expect(error as? StreamStop == .clientDisconnected)
        }
        #expect(watch.watchedCount == 0)
        try await server.close()
    }
}
