import Foundation

/// How one attempt against a provider failed.
public enum AttemptFailure: Sendable, Equatable, CustomStringConvertible {
    /// The upstream answered with a non-2xx status.
    case status(Int, retryAfter: Double?)
    /// No response headers within the provider's timeout, or a stream went silent for that long.
    case timeout
    /// The connection could not be made or broke (refused, reset, closed early, DNS).
    case connection(String)
    /// The upstream answered 2xx but the answer was unusable (e.g. a stream that ended before its first event).
    case invalidResponse(String)

    public var description: String {
        switch self {
        case .status(let code, _): String(code)
        case .timeout: "timeout"
        case .connection(let reason): "connection error (\(reason))"
        case .invalidResponse(let reason): "invalid response (\(reason))"
        }
    }

    /// What a client may be told: the kind of failure, without transport details (addresses, host names), which
    /// go to the gateway log only.
    public var clientDescription: String {
        switch self {
        case .status(let code, _): String(code)
        case .timeout: "timeout"
        case .connection: "connection error"
        case .invalidResponse: "invalid response"
        }
    }

    /// What the attempt tells the provider's circuit breaker: 5xx (and 408), timeouts, broken connections and
    /// unusable answers are failures; any other status means the provider is up.
    public var breakerOutcome: CircuitBreaker.Outcome {
        switch self {
        case .status(let code, _): (500...599).contains(code) || code == 408 ? .failure(timeout: false) : .success
        case .timeout: .failure(timeout: true)
        case .connection, .invalidResponse: .failure(timeout: false)
        }
    }

    /// A short, fixed label for logs and metrics.
    public var kind: String {
        switch self {
        case .status(let code, _): String(code)
        case .timeout: "timeout"
        case .connection: "connection"
        case .invalidResponse: "invalid_response"
        }
    }
}

/// What to do after a failed attempt.
public enum FailoverDecision: Sendable, Equatable {
    /// Try the same provider again (while its `retry` budget lasts), then move on.
    case retry
    /// Move to the next provider at once; skip this one for `cooldown` seconds on later requests when set.
    case switchProvider(cooldown: Double?)
    /// The request itself is at fault: give the upstream's answer to the client, no failover.
    case returnToClient
}

/// The failover contract: 5xx, 408, timeouts and broken connections are retried then switched; 401, 403 and 429
/// (and a 503 with `Retry-After`) switch at once and cool the provider down; any other 4xx is the client's problem
/// and is passed through.
public enum FailoverPolicy {
    public static func decide(_ failure: AttemptFailure, defaultCooldown: Double) -> FailoverDecision {
        switch failure {
        case .status(let code, let retryAfter):
            switch code {
            case 429: return .switchProvider(cooldown: retryAfter ?? defaultCooldown)
            case 401, 403: return .switchProvider(cooldown: defaultCooldown)
            case 503 where retryAfter != nil: return .switchProvider(cooldown: retryAfter)
            case 408, 500...599: return .retry
            case 400...499: return .returnToClient
            default: return .switchProvider(cooldown: nil)  // 1xx/3xx: redirects are not followed
            }
        case .timeout, .connection, .invalidResponse:
            return .retry
        }
    }

    /// Delay before retry number `retry` (1-based) on the same provider: exponential from `base`, capped at
    /// 5 s, with "equal jitter" (half fixed, half random) so retries of concurrent requests spread out.
    public static func backoff(retry: Int, baseMilliseconds: Int, random: Double = Double.random(in: 0..<1)) -> Duration {
        guard baseMilliseconds > 0 else { return .zero }
        let exponential = Double(baseMilliseconds) * Double(1 << min(retry - 1, 16))
        let capped = min(exponential, 5_000)
        return .milliseconds(Int(capped / 2 + capped / 2 * random))
    }

    /// The longest cooldown an upstream's `Retry-After` can impose (seconds); longer hints are capped.
    public static let maximumRetryAfter: Double = 86_400

    /// Parses `Retry-After` (seconds, or an HTTP date) and `retry-after-ms`, returning seconds in
    /// `0...maximumRetryAfter`. Hints that are not finite, negative or unparsable are ignored.
    public static func retryAfter(seconds: String?, milliseconds: String?, now: Date) -> Double? {
        if let milliseconds, let value = Double(milliseconds.trimmingCharacters(in: .whitespaces)) {
            if let seconds = clampedHint(value / 1000) { return seconds }
        }
        guard let seconds = seconds?.trimmingCharacters(in: .whitespaces), !seconds.isEmpty else { return nil }
        if let value = Double(seconds) { return clampedHint(value) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        if let date = formatter.date(from: seconds) { return clampedHint(max(0, date.timeIntervalSince(now))) }
        return nil
    }

    private static func clampedHint(_ seconds: Double) -> Double? {
        guard seconds.isFinite, seconds >= 0 else { return nil }
        return min(seconds, maximumRetryAfter)
    }
}
