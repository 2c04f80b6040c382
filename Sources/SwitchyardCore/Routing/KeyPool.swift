import Foundation

/// The state of one provider's pool of keys (`api_keys`), as a pure state machine: which key an attempt uses, and
/// what a key's failure does to it. 401/403 disable a key (until reload, or `disabled_key_retry_seconds`), 429 cools
/// it down (its `Retry-After`, else `cooldown_seconds`); other failures are the provider's, not the key's. State is
/// kept by key value, so a reload keeps it for the keys that stay.
public struct KeyPool: Sendable {
    public struct KeyState: Sendable, Equatable {
        public var coolingUntil: Date?
        public var disabled: Disabled?
        /// Requests this key served.
        public var requests = 0
    }

    public struct Disabled: Sendable, Equatable {
        public var since: Date
        public var status: Int
        /// When it may be tried again (nil: not before a reload).
        public var until: Date?
    }

    /// What a key's failure did, for the log and the events.
    public enum Change: Sendable, Equatable {
        case disabled(until: Date?)
        case coolingDown(until: Date)
    }

    private var states: [String: KeyState] = [:]
    private var rotation = SmoothWeightedRoundRobin(weights: [1])
    /// The keys the rotation was made for; another list (a reload) makes a new one.
    private var rotationKeys: [String] = []

    public init() {}

    public func state(of key: String) -> KeyState {
        states[key] ?? KeyState()
    }

    /// Whether the key may be used at `now`.
    public func isUsable(_ key: String, now: Date) -> Bool {
        let state = state(of: key)
        if let until = state.coolingUntil, until > now { return false }
        if let disabled = state.disabled, disabled.until.map({ $0 > now }) ?? true { return false }
        return true
    }

    /// When the first key of `keys` becomes usable again, if none is now (nil: some key is usable, or every one is
    /// disabled until a reload).
    public func soonestUsable(_ keys: [UpstreamKey], now: Date) -> (usable: Bool, at: Date?) {
        var soonest: Date?
        for key in keys {
            if isUsable(key.key, now: now) { return (true, nil) }
            let state = state(of: key.key)
            if let disabled = state.disabled, disabled.until == nil { continue }  // not before a reload
            let returns = max(state.coolingUntil ?? now, state.disabled?.until ?? now)
            soonest = min(soonest ?? returns, returns)
        }
        return (false, soonest)
    }

    /// The key an attempt uses, as an index into `keys`, among the usable ones not in `tried`: with an
    /// `affinity` (a session's or a conversation's hash; given for `round_robin`) always the same key while it stays
    /// usable (rendezvous hashing: when it is out only its requests move); else the first one (`fill_first`) or the
    /// next of a weighted rotation (`round_robin`). Nil when none is left.
    public mutating func select(
        _ keys: [UpstreamKey], strategy: KeyStrategy, affinity: UInt64?, tried: Set<Int>, now: Date
    ) -> Int? {
        let candidates = keys.indices.filter { !tried.contains($0) && isUsable(keys[$0].key, now: now) }
        guard !candidates.isEmpty else { return nil }
        if let affinity, candidates.count > 1 {
            return candidates.max { Self.score(affinity, keys[$0].key) < Self.score(affinity, keys[$1].key) }
        }
        switch strategy {
        case .fillFirst:
            return candidates.first
        case .roundRobin:
            let values = keys.map(\.key)
            if values != rotationKeys {
                rotationKeys = values
                rotation = SmoothWeightedRoundRobin(weights: keys.map(\.weight))
            }
            return rotation.next { candidates.contains($0) }
        }
    }

    /// A key's attempt failed with `status`: 401/403 disable it, 429 cools it down. Nil for other statuses.
    public mutating func failed(
        _ key: String, status: Int, retryAfter: Double?, now: Date, cooldownSeconds: Double, disabledRetrySeconds: Double?
    ) -> Change? {
        switch status {
        case 401, 403:
            let until = disabledRetrySeconds.map { now.addingTimeInterval($0) }
            states[key, default: KeyState()].disabled = Disabled(since: now, status: status, until: until)
            return .disabled(until: until)
        case 429:
            let until = now.addingTimeInterval(retryAfter ?? cooldownSeconds)
            states[key, default: KeyState()].coolingUntil = until
            return .coolingDown(until: until)
        default:
            return nil
        }
    }

    /// The key served a request: it is counted, and a disabled key that served (after its retry time) is active
    /// again.
    public mutating func served(_ key: String) {
        states[key, default: KeyState()].requests += 1
        states[key]?.disabled = nil
    }

    /// A stable score per (affinity, key): FNV-1a of the key mixed with the affinity.
    static func score(_ affinity: UInt64, _ key: String) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325 ^ affinity
        for byte in key.utf8 {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        // A final mix, so that affinities differing in a few bits spread over the keys.
        hash ^= hash >> 33
        hash &*= 0xff51_afd7_ed55_8ccd
        hash ^= hash >> 33
        return hash
    }

    /// The affinity of a text (a session id, or the opening of a conversation).
    public static func affinity<Bytes: Collection<UInt8>>(of bytes: Bytes) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        for byte in bytes {
            hash ^= UInt64(byte)
            hash &*= 0x100_0000_01b3
        }
        return hash
    }
}

/// How a provider's key pool picks a key when no session or conversation pins one.
public enum KeyStrategy: String, Sendable, Equatable, CaseIterable {
    /// Stay on the first usable key (the seed's "selected key"): prompt caches keep hitting.
    case fillFirst = "fill_first"
    /// Spread requests over the usable keys by weight.
    case roundRobin = "round_robin"
}

/// One key of a pool.
public struct UpstreamKey: Sendable, Equatable {
    public var key: String
    public var name: String?
    public var weight: Int
    /// The key's own quota, enforced besides the provider's (a key with one has a `name`).
    public var rateLimit: RateLimitConfig?

    /// Whose usage counter (and file) holds the key's quota.
    public func usageKey(model: String, provider: String) -> ProviderKey {
        ProviderKey(model: model, provider: "\(provider).key.\(name ?? "")")
    }

    public init(key: String, name: String? = nil, weight: Int = 1) {
        self.key = key
        self.name = name
        self.weight = weight
    }
}
