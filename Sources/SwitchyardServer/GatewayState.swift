import Foundation
import Logging
import NIOConcurrencyHelpers
import SwitchyardCore

/// The live state shared by all requests: the current routing snapshot, which a reload replaces as a whole, and the
/// per-provider state that outlives snapshots (usage counters, cooldowns).
final class GatewayState: Sendable {
    let configFile: String
    let files: UsageFiles
    let timeZone: TimeZone
    let clock: any GatewayClock
    let logger: Logger
    let metrics: GatewayMetrics
    /// The address the server listens on, for the warning about open access.
    let listenHost: String
    let states = ProviderStates()
    /// Kept `/v1/responses` answers.
    let responses: ResponseStore
    /// Which provider each session is on.
    let sessions: SessionAffinity
    /// The activity log.
    let events: EventLog
    private let current: NIOLockedValueBox<RoutingTable>
    /// Serialises reloads (SIGHUP and POST /admin/reload may race).
    private let reloading = NIOLockedValueBox(())

    /// Builds the first snapshot, loads persisted counters and applies resets missed while the gateway was down.
    /// - Parameter responsesDirectory: where kept responses are written (nil: memory only).
    init(
        config: GatewayConfig, configFile: String, files: UsageFiles, responsesDirectory: String? = nil,
        clock: any GatewayClock, logger: Logger, metrics: GatewayMetrics, listenHost: String,
        events: EventLog = EventLog(sink: nil)
    ) {
        self.events = events
        self.configFile = configFile
        self.files = files
        self.timeZone = files.timeZone
        self.clock = clock
        self.logger = logger
        self.metrics = metrics
        self.listenHost = listenHost
        responses = ResponseStore(
            directory: responsesDirectory, limits: Self.responseLimits(config.global), clock: clock,
            reportProblem: { logger.error("ERROR kept responses: \($0)") }
        )
        sessions = SessionAffinity(timeToLive: config.global.sessionTTLSeconds, clock: clock)
        files.removeLeftovers()
        current = NIOLockedValueBox(RoutingTable(config: config))
        install(config)
    }

    /// The snapshot a request should use from start to finish.
    var table: RoutingTable {
        current.withLockedValue { $0 }
    }

    struct ReloadSummary: Sendable {
        var models: [String]
        var providers: Int
        var warnings: [String]
        var summary: [String]
    }

    /// Reads and validates the config file and, only if it is valid, swaps it in. In-flight requests finish on the
    /// snapshot they started with; counters of providers that still exist carry over.
    /// - Parameter trigger: what asked for it, for the activity log (`SIGHUP`, `POST /admin/reload`, …).
    func reload(trigger: String) throws -> ReloadSummary {
        try reloading.withLockedValue { _ in
            let loaded: LoadedConfig
            do {
                loaded = try ConfigLoader.load(file: configFile)
            } catch {
                let problems = (error as? ConfigValidationError)?.problems.map(\.description) ?? ["\(error)"]
                event(.configRejected, detail: "\(trigger): \(problems.joined(separator: "; "))")
                throw error
            }
            install(loaded.config)
            let models = loaded.config.models
            let providers = models.reduce(0) { $0 + $1.providers.count }
            event(.configReloaded, detail: "\(trigger): \(models.count) model(s), \(providers) provider(s)")
            logger.info("Reloaded \(configFile): \(models.count) model(s)")
            for warning in loaded.warnings {
                logger.warning("\(configFile): \(warning)")
            }
            return ReloadSummary(
                models: models.map(\.name),
                providers: providers,
                warnings: loaded.warnings.map(\.description),
                summary: models.map(ConfigSummary.line(for:))
            )
        }
    }

    private func install(_ config: GatewayConfig) {
        let now = clock.now()
        // A key whose own quota the new config drops lets go of its counter: saved first.
        for state in states.all { state.keyCounters.forEach(persist) }
        let (states, removed) = self.states.adopt(config) { key in makeCounter(key, now: now) }
        for state in states.values {
            retryUnreadable(state.usage, now: now)
        }
        let table = RoutingTable(config: config, states: states)
        applyDueResets(in: table, now: now)
        current.withLockedValue { $0 = table }
        for state in removed {
            persist(state.usage)
            state.keyCounters.forEach(persist)
        }
        metrics.forget(Set(removed.map(\.key)))
        responses.apply(limits: Self.responseLimits(config.global))
        sessions.apply(timeToLive: config.global.sessionTTLSeconds)
        warnAboutOpenAccess(config.global)
    }

    static func responseLimits(_ global: GlobalSettings) -> ResponseStoreLimits {
        ResponseStoreLimits(
            maximumCount: global.responsesMaxCount, maximumBytes: global.responsesMaxBytes,
            timeToLive: global.responsesTTLSeconds
        )
    }

    /// Says so at start and on every reload when anyone who can reach the gateway can use it.
    private func warnAboutOpenAccess(_ global: GlobalSettings) {
        if global.apiKeys.isEmpty && !Self.isLoopbackHost(listenHost) {
            logger.warning(
                "WARNING /v1 has no api_key and the gateway listens on \(listenHost): anyone who can reach it can use its providers"
            )
        }
        if AdminAuthMiddleware.adminKeys(global).isEmpty {
            logger.warning("No admin_key or api_key is configured: admin endpoints answer loopback clients only")
        }
    }

    static func isLoopbackHost(_ host: String) -> Bool {
        let lowered = host.lowercased()
        return lowered == "localhost" || lowered == "::1" || lowered == "[::1]" || lowered.hasPrefix("127.")
    }

    private func makeCounter(_ key: ProviderKey, now: Date) -> UsageCounter {
        switch files.load(key, now: now) {
        case .missing:
            return UsageCounter(key: key, usage: UsageSnapshot(lastReset: now))
        case .usage(let usage):
            return UsageCounter(key: key, usage: usage)
        case .unreadable(let reason):
            logger.error("ERROR usage for \(key) cannot be loaded and will not be saved until fixed: \(reason)")
            return UsageCounter(key: key, usage: UsageSnapshot(lastReset: now), loadError: reason)
        }
    }

    /// A counter whose file was unreadable takes the file's counts once it has been fixed (or removed).
    private func retryUnreadable(_ counter: UsageCounter, now: Date) {
        guard counter.persistenceError != nil else { return }
        switch files.load(counter.key, now: now) {
        case .missing:
            counter.recover(counter.snapshot)
            logger.info("Usage file for \(counter.key) is gone; saving counts again")
        case .usage(let usage):
            counter.recover(usage)
            logger.info("Usage file for \(counter.key) is readable again")
        case .unreadable:
            break
        }
    }

    /// Resets every counter whose scheduled reset time has passed.
    func applyDueResets(in table: RoutingTable? = nil, now: Date) {
        for key in UsageResets.applyDue(in: table ?? self.table, now: now, timeZone: timeZone) {
            logger.info("Reset usage for \(key.model)/\(key.provider)")
            event(.quotaReset, model: key.model, provider: key.provider)
        }
    }

    /// Appends an event to the activity log, at the gateway clock's time.
    func event(
        _ action: GatewayEvent.Action, model: String? = nil, provider: String? = nil, key: String? = nil,
        status: Int? = nil, detail: String? = nil, requestID: String? = nil
    ) {
        events.record(
            GatewayEvent(
                time: clock.now(), action: action, model: model, provider: provider, key: key, status: status,
                detail: detail, requestID: requestID
            )
        )
    }

    /// Writes a counter's file if it changed.
    func persist(_ counter: UsageCounter) {
        guard let usage = counter.takeChanges() else { return }
        do {
            try files.save(usage, for: counter.key)
        } catch {
            counter.markChanged()
            logger.error("ERROR cannot save usage for \(counter.key): \(error)")
        }
    }

    /// Writes every changed counter, including those of removed providers that in-flight requests settled.
    func persistAll() {
        for state in states.all {
            persist(state.usage)
            state.keyCounters.forEach(persist)
        }
        states.releaseQuiescentRetired()
    }
}
