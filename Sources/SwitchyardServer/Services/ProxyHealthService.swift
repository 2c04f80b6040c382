import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import ServiceLifecycle
import SwitchyardCore

/// Checks every outbound proxy that has `proxy_health`, in the background: once at start, then every
/// `interval_seconds` on the gateway's clock. A failing check takes the proxy out, a passing one brings it back.
struct ProxyHealthService: Service, Sendable {
    let state: GatewayState
    let pools: UpstreamPools

    func run() async throws {
        await cancelWhenGracefulShutdown {
            await withDiscardingTaskGroup { group in
                var due: [OutboundProxy: Date] = [:]
                let running = RunningChecks<OutboundProxy>()
                while !Task.isCancelled {
                    let now = state.clock.now()
                    var next = now.addingTimeInterval(1)  // picks up reloaded checks
                    let checks = Self.checks(in: state.table.config)
                    pools.proxies.checking(Set(checks.keys))
                    for (proxy, check) in checks {
                        if due[proxy, default: now] <= now {
                            due[proxy] = now.addingTimeInterval(check.intervalSeconds)
                            if running.start(proxy) {
                                group.addTask {
                                    pools.proxies.checked(proxy, failure: await self.check(proxy, check))
                                    running.end(proxy)
                                }
                            }
                        }
                        next = min(next, due[proxy] ?? next)
                    }
                    do { try await state.clock.sleep(until: next) } catch { break }  // cancelled: shutting down
                }
                group.cancelAll()
            }
        }
    }

    /// Every proxy with checks in `config` (a proxy several providers share is checked once).
    static func checks(in config: GatewayConfig) -> [OutboundProxy: ProxyHealthConfig] {
        var checks: [OutboundProxy: ProxyHealthConfig] = [:]
        for settings in [config.global.proxy] + config.models.flatMap({ $0.providers.map(\.proxy) }) {
            guard let health = settings.health else { continue }
            for proxy in settings.proxies where checks[proxy] == nil { checks[proxy] = health }
        }
        return checks
    }

    /// nil when the proxy passed, else what went wrong.
    private func check(_ proxy: OutboundProxy, _ check: ProxyHealthConfig) async -> String? {
        let eventLoop = pools.group.any()
        let timeout = TimeAmount.fromSeconds(check.timeoutSeconds)
        guard let checkURL = check.checkURL, var url = UpstreamURL(checkURL) else {
            // Without a check URL, a proxy that accepts a connection passes.
            do {
                let channel = try await ClientBootstrap(group: eventLoop).connectTimeout(timeout)
                    .connect(host: proxy.host, port: proxy.port).get()
                try? await channel.close()
                return nil
            } catch {
                return UpstreamTransportError.from(error).description
            }
        }
        var headers = HTTPHeaders([("host", url.origin.hostHeader), ("content-length", "0")])
        UpstreamTransport.route(&url, headers: &headers, through: proxy)
        let exchange = UpstreamExchange(
            eventLoop: eventLoop, origin: url.origin, head: HTTPRequestHead(version: .http1_1, method: .GET, uri: url.target, headers: headers),
            body: ByteBuffer()
        )
        defer { exchange.cancel() }
        exchange.send(through: pools.pool(for: eventLoop), headDeadline: .now() + timeout)
        do {
            let head = try await exchange.responseHead()
            return head.status.code < 500 ? nil : "\(checkURL) answered \(head.status.code) through it"
        } catch {
            return UpstreamTransportError.from(error).description
        }
    }
}
