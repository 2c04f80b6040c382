import SwitchyardCore

/// How a pool key is shown in `/admin`, logs and metric labels: its `name`, else its fingerprint, never the key.
enum KeyLabel {
    static func of(_ key: UpstreamKey) -> String {
        key.name ?? RequestTrace.fingerprint(key.key)
    }
}
