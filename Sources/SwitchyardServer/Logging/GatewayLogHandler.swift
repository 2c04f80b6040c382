import Foundation
import Logging

/// Log lines for people: `2026-11-22T03:12:00.123Z INFO switchyard: Selected provider a for model m
/// [request_id=…]`, written to stderr and to `<log-dir>/gateway.log` through a `LogSink`.
public struct GatewayLogHandler: LogHandler {
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: LogSink

    public init(label: String, level: Logger.Level, sink: LogSink) {
        self.label = label
        self.logLevel = level
        self.sink = sink
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        var line = [UInt8]()
        line.reserveCapacity(192)
        LogTime.appendNow(to: &line)
        line.append(UInt8(ascii: " "))
        line += Self.levelName(event.level).utf8
        line.append(UInt8(ascii: " "))
        line += label.utf8
        line += ": ".utf8
        line += event.message.description.utf8
        if !merged.isEmpty {
            line += " [".utf8
            let entries = merged.count == 1 ? Array(merged) : merged.sorted { $0.key < $1.key }
            for (index, entry) in entries.enumerated() {
                if index > 0 { line.append(UInt8(ascii: " ")) }
                line += entry.key.utf8
                line.append(UInt8(ascii: "="))
                line += entry.value.description.utf8
            }
            line.append(UInt8(ascii: "]"))
        }
        line.append(UInt8(ascii: "\n"))
        sink.write(line)
    }

    /// The seed's level names, so `grep ERROR` and `grep WARNING` work.
    static func levelName(_ level: Logger.Level) -> String {
        switch level {
        case .trace: "TRACE"
        case .debug: "DEBUG"
        case .info: "INFO"
        case .notice: "NOTICE"
        case .warning: "WARNING"
        case .error: "ERROR"
        case .critical: "CRITICAL"
        }
    }

    /// `LOG_LEVEL` values: DEBUG, INFO, WARNING (or WARN), ERROR, and swift-log's own names.
    public static func level(named name: String?) -> Logger.Level? {
        guard let name = name?.lowercased(), !name.isEmpty else { return nil }
        switch name {
        case "warn", "warning": return .warning
        case "fatal": return .critical
        default: return Logger.Level(rawValue: name)
        }
    }
}
