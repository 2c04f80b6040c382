import Foundation

/// The filters of `GET /admin/events?limit=&model=&provider=&action=&since=`; every one is optional and they
/// combine.
public struct EventQuery: Sendable, Equatable {
    public var limit: Int
    public var model: String?
    public var provider: String?
    public var action: GatewayEvent.Action?
    /// Only events at or after this time.
    public var since: Date?

    public static let defaultLimit = 100

    public init(
        limit: Int = Self.defaultLimit, model: String? = nil, provider: String? = nil, action: GatewayEvent.Action? = nil,
        since: Date? = nil
    ) {
        self.limit = limit
        self.model = model
        self.provider = provider
        self.action = action
        self.since = since
    }

    /// Reads the query parameters: `limit` from 1 to `maximumLimit`, `action` one of the action names (any case),
    /// `since` an ISO 8601 time or Unix seconds.
    public init(parameters: [String: String], maximumLimit: Int) throws(GatewayError) {
        self.init(model: parameters["model"], provider: parameters["provider"])
        if let text = parameters["limit"] {
            guard let value = Int(text), (1...maximumLimit).contains(value) else {
                throw .invalidRequest("limit must be an integer from 1 to \(maximumLimit).", param: "limit")
            }
            limit = value
        }
        if let text = parameters["action"] {
            guard let action = GatewayEvent.Action(rawValue: text.uppercased()) else {
                let names = GatewayEvent.Action.allCases.map(\.rawValue).joined(separator: ", ")
                throw .invalidRequest("action must be one of \(names).", param: "action")
            }
            self.action = action
        }
        if let text = parameters["since"] {
            guard let date = Self.time(text) else {
                throw .invalidRequest(
                    "since must be an ISO 8601 time (2026-12-04T10:00:00Z) or Unix seconds.", param: "since"
                )
            }
            since = date
        }
    }

    public func matches(_ event: GatewayEvent) -> Bool {
        if let model, event.model != model { return false }
        if let provider, event.provider != provider { return false }
        if let action, event.action != action { return false }
        if let since, event.time < since { return false }
        return true
    }

    private static func time(_ text: String) -> Date? {
        // Unix seconds up to the year 9999.
        if let seconds = Double(text), seconds.isFinite, (0...253_402_300_799).contains(seconds) {
            return Date(timeIntervalSince1970: seconds)
        }
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime, .withFractionalSeconds], [.withInternetDateTime]] {
            let formatter = ISO8601DateFormatter()
            formatter.formatOptions = options
            if let date = formatter.date(from: text) { return date }
        }
        return nil
    }
}
