/// The newest events, at most `capacity` of them: the in-memory side of the activity log.
public struct EventRing: Sendable {
    public let capacity: Int
    private var events: [GatewayEvent] = []
    /// Where the next event goes once the ring is full (the oldest event's place).
    private var next = 0

    public init(capacity: Int) {
        precondition(capacity > 0, "an event ring holds at least one event")
        self.capacity = capacity
        events.reserveCapacity(capacity)
    }

    public var count: Int { events.count }

    public mutating func append(_ event: GatewayEvent) {
        if events.count < capacity {
            events.append(event)
        } else {
            events[next] = event
            next = (next + 1) % capacity
        }
    }

    /// The events `query` matches, newest first, at most `query.limit`.
    public func newest(matching query: EventQuery) -> [GatewayEvent] {
        var found: [GatewayEvent] = []
        // Newest first: from the one before `next` backwards, wrapping.
        for offset in 0..<events.count {
            let index = (next - 1 - offset + 2 * events.count) % events.count
            let event = events[index]
            if query.matches(event) {
                found.append(event)
                if found.count == query.limit { break }
            }
        }
        return found
    }
}
