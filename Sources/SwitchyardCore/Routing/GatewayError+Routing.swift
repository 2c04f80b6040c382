import Foundation

/// One failed attempt, for the final error message and the request log.
public struct AttemptRecord: Sendable, Equatable {
    public var provider: String
    public var failure: AttemptFailure

    public init(provider: String, failure: AttemptFailure) {
        self.provider = provider
        self.failure = failure
    }
}

extension GatewayError {
    /// Every candidate was tried and failed: 502, or 429 when every failure was an upstream 429.
    public static func allProvidersFailed(model: String, attempts: [AttemptRecord]) -> GatewayError {
        var groups: [(provider: String, failures: [String])] = []
        for attempt in attempts {
            if let index = groups.firstIndex(where: { $0.provider == attempt.provider }) {
                groups[index].failures.append(attempt.failure.clientDescription)
            } else {
                groups.append((attempt.provider, [attempt.failure.clientDescription]))
            }
        }
        let summary = groups.map { "\($0.provider) (\($0.failures.joined(separator: ", ")))" }.joined(separator: "; ")
        let message = "All providers for model '\(model)' failed: \(summary)."
        let retryAfters = attempts.compactMap { attempt -> Double? in
            if case .status(429, let retryAfter) = attempt.failure { return retryAfter ?? 0 }
            return nil
        }
        if !attempts.isEmpty && retryAfters.count == attempts.count {
            let seconds = wholeSeconds(retryAfters.min() ?? 0)
            return GatewayError(
                status: 429, type: "rate_limit_error", code: "rate_limit_exceeded", message: message,
                headers: [HeaderField("retry-after", String(max(seconds, 1)))]
            )
        }
        return GatewayError(
            status: 502, type: "api_error", code: "all_providers_failed", message: message,
            headers: [HeaderField("x-should-retry", "false")]
        )
    }

    /// No candidate could even be tried: all disabled, cooling down or over quota.
    public static func noAvailableProvider(
        model: String, skipped: [(provider: ProviderSlot, availability: ProviderAvailability)], now: Date
    ) -> GatewayError {
        guard !skipped.isEmpty else {
            return GatewayError(
                status: 503, type: "api_error", code: "no_available_provider",
                message: "Model '\(model)' has no enabled providers."
            )
        }
        var quotaResets: [Date] = []
        var cooldownEnds: [Date] = []
        let reasons = skipped.map { slot, availability -> String in
            let provider = slot.config
            switch availability {
            case .available:
                return "\(provider.name) (available)"
            case .coolingDown(let until):
                cooldownEnds.append(until)
                return "\(provider.name) (cooling down for \(Self.seconds(until, now))s)"
            case .overQuota(let until):
                if let until { quotaResets.append(until) }
                return "\(provider.name) (quota exhausted\(until.map { ", resets in \(Self.seconds($0, now))s" } ?? ""))"
            case .keysExhausted(let until):
                if let until { cooldownEnds.append(until) }
                return "\(provider.name) (every key refused or rate-limited\(until.map { ", one back in \(Self.seconds($0, now))s" } ?? ""))"
            case .circuitOpen(let until):
                if let until { cooldownEnds.append(until) }
                return "\(provider.name) (circuit open\(until.map { " for \(Self.seconds($0, now))s" } ?? ", being probed"))"
            case .cannotServe(let api):
                return "\(provider.name) (type \(provider.type) does not serve \(api))"
            case .contextTooSmall(let needed, let limit):
                return "\(provider.name) (context of \(limit) tokens is smaller than the request's estimated \(needed))"
            }
        }
        if skipped.allSatisfy({ if case .cannotServe = $0.availability { true } else { false } }) {
            return GatewayError(
                status: 400, type: "invalid_request_error", code: "unsupported_api",
                message: "Model '\(model)' has no provider that serves this API: \(reasons.joined(separator: "; "))."
            )
        }
        let requestFaults = skipped.filter {
            switch $0.availability {
            case .cannotServe, .contextTooSmall: true
            default: false
            }
        }
        if requestFaults.count == skipped.count {  // some context too small, the rest of another dialect
            return GatewayError(
                status: 400, type: "invalid_request_error", code: "context_length_exceeded", param: "messages",
                message: "No provider of model '\(model)' has a context large enough for this request: \(reasons.joined(separator: "; "))."
            )
        }
        let retryAfter = String(max(1, Self.seconds((quotaResets + cooldownEnds).min() ?? now, now)))
        if !quotaResets.isEmpty || skipped.contains(where: { if case .overQuota = $0.availability { true } else { false } }) {
            return GatewayError(
                status: 429, type: "rate_limit_error", code: "quota_exceeded",
                message: "Every provider of model '\(model)' is unavailable: \(reasons.joined(separator: "; ")).",
                headers: [HeaderField("retry-after", retryAfter)]
            )
        }
        return GatewayError(
            status: 503, type: "api_error", code: "no_available_provider",
            message: "Every provider of model '\(model)' is unavailable: \(reasons.joined(separator: "; ")).",
            headers: [HeaderField("retry-after", retryAfter)]
        )
    }

    private static func seconds(_ date: Date, _ now: Date) -> Int {
        wholeSeconds(date.timeIntervalSince(now))
    }

    /// Seconds rounded up for a `Retry-After` header or a message: never negative, and never a trapping
    /// conversion (capped at a year).
    static func wholeSeconds(_ interval: Double) -> Int {
        guard interval.isFinite, interval > 0 else { return 0 }
        return Int(min(interval, 31_536_000).rounded(.up))
    }
}
