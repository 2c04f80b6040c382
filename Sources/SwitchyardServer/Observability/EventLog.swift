import Foundation
import NIOConcurrencyHelpers
import SwitchyardCore

/// The activity log: every key, routing and config event as one JSON line in `<log-dir>/events.log` (written off
/// the event loops by the log flush service, rotated like the other logs) and the newest `kept` in memory for
/// `GET /admin/events`.
final class EventLog: Sendable {
    static let kept = 2000
    private let ring = NIOLockedValueBox(EventRing(capacity: kept))
    /// nil: memory only.
    let sink: LogSink?

    init(sink: LogSink?) {
        self.sink = sink
    }

    func record(_ event: GatewayEvent) {
        ring.withLockedValue { $0.append(event) }
        guard let sink else { return }
        var line = Self.line(event)
        line.append(UInt8(ascii: "\n"))
        sink.write(line)
    }

    func newest(matching query: EventQuery) -> [GatewayEvent] {
        ring.withLockedValue { $0.newest(matching: query) }
    }

    /// `{time, action, model, provider, key, status, detail, request_id}`, absent values as null.
    static func line(_ event: GatewayEvent) -> [UInt8] {
        var line = JSONLine()
        line.field("time", time: event.time)
        line.field("action", string: event.action.rawValue)
        line.field("model", string: event.model)
        line.field("provider", string: event.provider)
        line.field("key", string: event.key)
        if let status = event.status {
            line.field("status", integer: status)
        } else {
            line.field("status", string: nil)
        }
        line.field("detail", string: event.detail)
        line.field("request_id", string: event.requestID)
        return line.bytes()
    }
}
