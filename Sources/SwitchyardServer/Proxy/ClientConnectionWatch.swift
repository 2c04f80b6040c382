import NIOCore
import Synchronization

/// Stops a relay as soon as its client connection closes, even while the upstream is silent.
///
/// A keep-alive client may run thousands of streams on one connection, one after another, so a close callback per
/// stream would pile up until the connection closes. Each connection gets one callback instead, which stops
/// whichever stream is running on it. (Hummingbird's inbound-close helper cannot be used here: it expects a request
/// body that has not been read yet.)
final class ClientConnectionWatch: Sendable {
    /// Connections with a close callback, and the stream running on each, if any.
    private let connections = Mutex<[ObjectIdentifier: StreamGuard?]>([:])

    /// Stops `streamGuard` with `.clientDisconnected` if `connection` closes before `end(_:)`.
    func watch(_ connection: any Channel, stopping streamGuard: StreamGuard) {
        let key = ObjectIdentifier(connection)
        let isNew = connections.withLock { connections in
            defer { connections[key] = .some(streamGuard) }
            return connections.index(forKey: key) == nil
        }
        guard isNew else { return }
        connection.closeFuture.whenComplete { [self] _ in
            let running = connections.withLock { $0.removeValue(forKey: key) }
            running??.stop(.clientDisconnected)
        }
    }

    /// `streamGuard`'s stream on `connection` has ended; the connection stays watched for the next one (which may
    /// already have started: the client can send its next request as soon as this response ends).
    func end(_ connection: any Channel, stopping streamGuard: StreamGuard) {
        let key = ObjectIdentifier(connection)
        connections.withLock { connections in
            if let running = connections[key], running === streamGuard { connections[key] = .some(nil) }
        }
    }

    /// Connections being watched (for tests).
    var watchedCount: Int {
        connections.withLock { $0.count }
    }
}
