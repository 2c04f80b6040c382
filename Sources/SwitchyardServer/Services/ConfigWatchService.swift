import Foundation
import Logging
import ServiceLifecycle
import SwitchyardCore

/// Reloads the config file when it changes, as SIGHUP and `POST /admin/reload` do (unless
/// `_global.watch_config` is false): it looks at the file's size, modification time and inode every `interval`
/// and reloads once a change has settled (see `ConfigFileWatch`). An invalid file keeps the running config and
/// every problem is logged with its location.
struct ConfigWatchService: Service {
    let state: GatewayState
    var interval: Duration = .seconds(1)

    func run() async throws {
        let initial = Self.signature(of: state.configFile)
        do {
            try await cancelWhenGracefulShutdown {
                var watch = ConfigFileWatch(initial: initial)
                while true {
                    try await Task.sleep(for: interval)
                    guard state.table.config.global.watchConfig else { continue }
                    guard watch.observe(Self.signature(of: state.configFile)) else { continue }
                    state.logger.info("\(state.configFile) changed: reloading")
                    do {
                        _ = try state.reload(trigger: "config file changed")
                    } catch {
                        state.logger.error("ERROR reload after \(state.configFile) changed failed, keeping the running config: \(error)")
                    }
                }
            }
        } catch is CancellationError {
            // Graceful shutdown.
        }
    }

    static func signature(of path: String) -> ConfigFileWatch.Signature? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { return nil }
        let modified = (attributes[.modificationDate] as? Date)?.timeIntervalSince1970 ?? 0
        return ConfigFileWatch.Signature(
            modifiedNanoseconds: Int((modified * 1e9).rounded()), size: (attributes[.size] as? NSNumber)?.intValue ?? -1,
            device: (attributes[.systemNumber] as? NSNumber)?.uint64Value ?? 0,
            inode: (attributes[.systemFileNumber] as? NSNumber)?.uint64Value ?? 0
        )
    }
}
