/// How a relayed stream ended.
enum RelayOutcome: Sendable, Equatable {
    /// The upstream finished (`[DONE]`, or a clean end after a finish reason).
    case completed
    /// The upstream broke, went silent or ended early; the client got one error event and no `[DONE]`.
    case failed(reason: String)
    /// The client went away; the upstream request was cancelled.
    case clientGone
    /// The client took nothing of the stream for the provider's `timeout`: its connection was closed.
    case clientStalled

    /// For the request log.
    var label: String {
        switch self {
        case .completed: "completed"
        case .failed: "upstream_failed"
        case .clientGone: "client_disconnected"
        case .clientStalled: "client_stalled"
        }
    }
}
