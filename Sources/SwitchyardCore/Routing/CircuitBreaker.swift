import Foundation

/// One provider's circuit breaker as a pure state machine: closed (requests flow) → open after too many failures
/// (requests skip the provider at no cost) → half-open when the open period ends (exactly one request at a time
/// probes it) → closed again on the probe's success, or open again, for twice as long, on its failure.
///
/// The caller asks `admit` before an attempt and reports the attempt's `Outcome` with `record`, which returns the
/// transition it caused, if any, for the log and the metrics. Time is passed in; the configuration too, so a
/// reload applies to a breaker that keeps its state.
public struct CircuitBreaker: Sendable {
    public enum State: Sendable, Equatable {
        case closed
        case open(until: Date)
        /// The open period is over; `probing` while one request is trying the provider.
        case halfOpen(probing: Bool)
    }

    public enum Admission: Sendable, Equatable {
        /// Closed, or let through despite an open circuit (every provider of the model was open).
        case admitted
        /// Half-open: this attempt is the one probe; its outcome closes or re-opens the circuit.
        case probe
        /// Open until the given time, or (nil) half-open with a probe already running.
        case refused(until: Date?)
    }

    public enum Outcome: Sendable, Equatable {
        /// The provider answered (a 4xx client error counts: the provider is up).
        case success
        /// A 5xx, a timeout, a broken connection or an unusable answer.
        case failure(timeout: Bool)
        /// The attempt ended without telling anything (the client left, the gateway shut down): a probe's turn is
        /// given back.
        case abandoned
    }

    public enum Transition: Sendable, Equatable {
        case opened(until: Date, reason: String)
        case halfOpened
        case closed
    }

    public private(set) var state = State.closed
    public private(set) var consecutiveFailures = 0
    private var consecutiveTimeouts = 0
    /// Times it opened since it was last closed: each open period is twice the one before, up to the cap.
    public private(set) var openings = 0
    private var window = OutcomeWindow()

    public init() {}

    /// Whether `admit` would refuse now, without changing anything (routing asks this of every candidate).
    public func refusal(now: Date, config: CircuitBreakerConfig) -> Admission? {
        guard config.enabled else { return nil }
        switch state {
        case .closed, .halfOpen(probing: false): return nil
        case .open(let until): return until > now ? .refused(until: until) : nil
        case .halfOpen(probing: true): return .refused(until: nil)
        }
    }

    /// Lets an attempt through or refuses it; `bypassing` lets it through an open circuit all the same.
    public mutating func admit(now: Date, bypassing: Bool, config: CircuitBreakerConfig) -> (Admission, Transition?) {
        guard config.enabled else {
            let wasClosed = state == .closed
            reset()
            return (.admitted, wasClosed ? nil : .closed)
        }
        switch state {
        case .closed:
            return (.admitted, nil)
        case .open(let until) where until > now:
            return (bypassing ? .admitted : .refused(until: until), nil)
        case .open:
            state = .halfOpen(probing: true)
            return (.probe, .halfOpened)
        case .halfOpen(probing: false):
            state = .halfOpen(probing: true)
            return (.probe, nil)
        case .halfOpen(probing: true):
            return (bypassing ? .admitted : .refused(until: nil), nil)
        }
    }

    /// Takes an attempt's outcome; `probe` says whether it was admitted as the probe.
    public mutating func record(_ outcome: Outcome, probe: Bool, now: Date, config: CircuitBreakerConfig) -> Transition? {
        guard config.enabled else { return nil }
        switch outcome {
        case .abandoned:
            if probe, case .halfOpen(probing: true) = state { state = .halfOpen(probing: false) }
            return nil
        case .success:
            consecutiveFailures = 0
            consecutiveTimeouts = 0
            guard state == .closed else {
                reset()
                return .closed
            }
            if config.errorRate != nil { window.add(failed: false, now: now, width: config.windowSeconds) }
            return nil
        case .failure(let timeout):
            consecutiveFailures += 1
            consecutiveTimeouts = timeout ? consecutiveTimeouts + 1 : 0
            switch state {
            case .closed:
                if config.errorRate != nil { window.add(failed: true, now: now, width: config.windowSeconds) }
                guard let reason = tripReason(config: config, timeout: timeout, now: now) else { return nil }
                return open(now: now, reason: reason, config: config)
            case .halfOpen(probing: true) where probe:
                return open(now: now, reason: "the probe failed", config: config)
            case .open, .halfOpen:
                return nil  // an attempt let through an open circuit failed: it stays as it is
            }
        }
    }

    /// A background health check's result: a failure opens the circuit (unless it is open already), a pass
    /// closes it.
    public mutating func recordCheck(passed: Bool, now: Date, config: CircuitBreakerConfig) -> Transition? {
        guard config.enabled else { return nil }
        if passed {
            guard state != .closed else { return nil }
            reset()
            return .closed
        }
        if case .open(let until) = state, until > now { return nil }
        return open(now: now, reason: "a health check failed", config: config)
    }

    private func tripReason(config: CircuitBreakerConfig, timeout: Bool, now: Date) -> String? {
        if timeout, config.timeoutThreshold > 0, consecutiveTimeouts >= config.timeoutThreshold {
            return consecutiveTimeouts == 1 ? "a timeout" : "\(consecutiveTimeouts) consecutive timeouts"
        }
        if config.failureThreshold > 0, consecutiveFailures >= config.failureThreshold {
            return "\(consecutiveFailures) consecutive failures"
        }
        if let rate = config.errorRate {
            let (requests, failures) = window.counts(now: now, width: config.windowSeconds)
            if requests >= config.minRequests, Double(failures) >= rate * Double(requests) {
                let percent = Int((Double(failures) * 100 / Double(requests)).rounded())
                return "\(percent)% of \(requests) requests failed in \(Self.text(config.windowSeconds)) s"
            }
        }
        return nil
    }

    private mutating func open(now: Date, reason: String, config: CircuitBreakerConfig) -> Transition {
        openings += 1
        let doubled = config.openSeconds * Double(1 << min(openings - 1, 20))
        let until = now.addingTimeInterval(min(doubled, max(config.maxOpenSeconds, config.openSeconds)))
        state = .open(until: until)
        window = OutcomeWindow()
        return .opened(until: until, reason: reason)
    }

    private mutating func reset() {
        state = .closed
        consecutiveFailures = 0
        consecutiveTimeouts = 0
        openings = 0
        window = OutcomeWindow()
    }

    private static func text(_ seconds: Double) -> String {
        seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
    }
}

/// Outcomes over a sliding window, in ten buckets of a tenth of the window each, so memory stays fixed however
/// many requests pass.
struct OutcomeWindow: Sendable {
    private struct Bucket: Sendable {
        var index: Int
        var requests = 0
        var failures = 0
    }

    private static let bucketCount = 10
    private var buckets: [Bucket] = []

    mutating func add(failed: Bool, now: Date, width: Double) {
        let index = Self.bucketIndex(now, width: width)
        buckets.removeAll { $0.index <= index - Self.bucketCount || $0.index > index }
        if buckets.last?.index != index { buckets.append(Bucket(index: index)) }
        buckets[buckets.count - 1].requests += 1
        if failed { buckets[buckets.count - 1].failures += 1 }
    }

    func counts(now: Date, width: Double) -> (requests: Int, failures: Int) {
        let index = Self.bucketIndex(now, width: width)
        var requests = 0
        var failures = 0
        for bucket in buckets where bucket.index > index - Self.bucketCount && bucket.index <= index {
            requests += bucket.requests
            failures += bucket.failures
        }
        return (requests, failures)
    }

    private static func bucketIndex(_ now: Date, width: Double) -> Int {
        let bucketSeconds = max(width / Double(bucketCount), 0.001)
        return Int((now.timeIntervalSince1970 / bucketSeconds).rounded(.down))
    }
}
