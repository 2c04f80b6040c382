import Foundation
import Logging
import NIOCore
import ServiceLifecycle
import NIOConcurrencyHelpers
import SwitchyardCore

/// Checks every provider that has a `health_check`, in the background: once at start, then every
/// `interval_seconds` on the gateway's clock. A failing check opens the provider's circuit (requests skip it until
/// a check or a probe succeeds), a passing one closes it.
struct HealthCheckService: Service, Sendable {
    let state: GatewayState
    let proxy: ProxyEngine
    let eventLoopGroup: any EventLoopGroup

    /// The largest answer to a check that is read (the rest is not waited for).
    static let maximumAnswerBytes = 1 << 20

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                var due: [ProviderKey: Date] = [:]
                let running = RunningChecks<ProviderKey>()
                while !Task.isCancelled {
                    let now = state.clock.now()
                    var next = now.addingTimeInterval(1)  // picks up reloaded checks
                    for route in state.table.routes {
                        for slot in route.providers where slot.config.enabled && slot.config.kind.callsUpstream {
                            guard let check = slot.config.healthCheck else { continue }
                            let key = slot.state.key
                            if due[key, default: now] <= now {
                                due[key] = now.addingTimeInterval(check.intervalSeconds)
                                let name = route.name
                                if running.start(key) {
                                    group.addTask {
                                        await self.check(slot, route: name, check)
                                        running.end(key)
                                    }
                                }
                            }
                            next = min(next, due[key] ?? next)
                        }
                    }
                    do { try await state.clock.sleep(until: next) } catch { break }  // cancelled: shutting down
                }
                group.cancelAll()
            }
        }
    }

    private func check(_ slot: ProviderSlot, route: String, _ check: HealthCheckConfig) async {
        let provider = { var provider = slot.config; provider.timeout = check.timeoutSeconds; return provider }()
        let failure: String?
        do {
            failure = try await withThrowingTaskGroup(of: String?.self) { group in
                group.addTask { try await probe(provider, check) }
                group.addTask {
                    try await Task.sleep(for: .milliseconds(Int(check.timeoutSeconds * 1000)))
                    return "no complete answer within \(check.timeoutSeconds) s"
                }
                defer { group.cancelAll() }
                return try await group.next() ?? nil
            }
        } catch {
            failure = ProxyEngine.classify(error).description
        }
        let transition = slot.state.recordCheck(passed: failure == nil, now: state.clock.now(), config: provider.circuitBreaker)
        switch transition {
        case .opened(let until, _):
            state.logger.warning(
                "Health check of provider \(provider.name) for model \(route) failed (\(failure ?? "")): circuit open until \(state.files.format(until))"
            )
            state.event(
                .circuitOpened, model: route, provider: provider.name,
                detail: "health check failed (\(failure ?? "")); open until \(state.files.format(until))"
            )
        case .closed:
            state.logger.info("Health check of provider \(provider.name) for model \(route) passed: circuit closed")
            state.event(.circuitClosed, model: route, provider: provider.name, detail: "health check passed")
        case .halfOpened, nil:
            if let failure { state.logger.debug("Health check of provider \(provider.name) for model \(route) failed: \(failure)") }
        }
    }

    /// Sends the check; nil when the provider answered 2xx, else what went wrong.
    private func probe(_ provider: ProviderConfig, _ check: HealthCheckConfig) async throws -> String? {
        let kind = provider.kind
        let credential = try await proxy.credential(for: provider, kind: kind)
        let ping = try ClientRequest(
            endpoint: .chatCompletions,
            body: ByteBuffer(bytes: JSONValue.encode(["model": provider.model, "messages": [["role": "user", "content": "ping"]], "max_tokens": 1] as JSONObject))
        )
        var request = try kind.makeRequest(
            InboundRequest(openAI: ping), provider: provider, credential: credential, upstreamStream: false, clientHeaders: []
        )
        if let path = check.path {
            // The chat request's credentials, sent with a GET of the path.
            request = UpstreamRequest(
                url: provider.endpoint + path, headers: request.headers.filter { $0.name.lowercased() != "content-type" },
                body: ByteBuffer(), endpoint: .chatCompletions, stream: false
            )
            request.method = "GET"
        }
        request.headers.append(HeaderField("x-switchyard-health-check", "1"))
        let response = try await proxy.transport.send(request, provider: provider, kind: kind, on: eventLoopGroup.next())
        _ = try? await response.body.collect(upTo: Self.maximumAnswerBytes)
        return (200..<300).contains(response.status) ? nil : "HTTP \(response.status)"
    }
}
