import Foundation
import Logging
import Synchronization
import SwitchyardCore

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

/// UTC timestamps with milliseconds, e.g. `2026-11-22T03:12:00.123Z`. The part up to the second is kept from the
/// last line: most lines fall in the same second as the one before.
enum LogTime {
    private static let lastSecond = Mutex<(second: Int, text: [UInt8])>((-1, []))

    static func appendNow(to bytes: inout [UInt8]) {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        append(seconds: time.tv_sec, milliseconds: Int(time.tv_nsec / 1_000_000), to: &bytes)
    }

    static func append(_ date: Date, to bytes: inout [UInt8]) {
        let interval = date.timeIntervalSince1970
        let seconds = interval.rounded(.down)
        append(seconds: Int(seconds), milliseconds: Int((interval - seconds) * 1000), to: &bytes)
    }

    private static func append(seconds: Int, milliseconds: Int, to bytes: inout [UInt8]) {
        bytes += lastSecond.withLock { last in
            if last.second != seconds {
                last.second = seconds
                last.text.removeAll(keepingCapacity: true)
                ISOTimestamp.appendDateTime(seconds: seconds, to: &last.text)
            }
            return last.text
        }
        bytes.append(UInt8(ascii: "."))
        ISOTimestamp.appendDigits(milliseconds, count: 3, to: &bytes)
        bytes.append(UInt8(ascii: "Z"))
    }
}

/// Where log lines go: optionally stderr, and optionally a file rotated by size (`gateway.log`, `gateway.log.1`,
/// …). Lines are buffered in memory and written by `flush()`, which the log flush service calls every 100 ms, so
/// requests never wait on a disk write; a full buffer is written at once.
public final class LogSink: Sendable {
    private struct Output {
        var file: FileHandle?
        var size = 0
    }

    private let buffer = Mutex<[UInt8]>([])
    /// The open file; its lock also keeps flushes in order.
    private let output = Mutex(Output())
    private let path: String?
    private let maximumBytes: Int
    private let keptFiles: Int
    private let toStandardError: Bool
    static let bufferLimit = 64 * 1024

    /// - Parameters:
    ///   - path: the log file, or nil for stderr only.
    ///   - maximumBytes: size at which the file is rotated.
    ///   - keptFiles: rotated files kept besides the current one.
    public init(path: String?, toStandardError: Bool = true, maximumBytes: Int = 10 * 1024 * 1024, keptFiles: Int = 5) {
        self.path = path
        self.maximumBytes = maximumBytes
        self.keptFiles = keptFiles
        self.toStandardError = toStandardError
    }

    public func write(_ line: String) {
        write(Array(line.utf8))
    }

    public func write(_ line: [UInt8]) {
        let full = buffer.withLock { buffer -> Bool in
            buffer.append(contentsOf: line)
            return buffer.count >= Self.bufferLimit
        }
        if full { flush() }
    }

    /// Writes the buffered lines out.
    public func flush() {
        output.withLock { output in
            let pending = buffer.withLock { buffer -> [UInt8] in
                defer { buffer.removeAll(keepingCapacity: true) }
                return buffer
            }
            guard !pending.isEmpty else { return }
            let data = Data(pending)
            if toStandardError {
                FileHandle.standardError.write(data)
            }
            guard let path else { return }
            if output.file == nil {
                output.file = Self.open(path)
                output.size = Int((try? output.file?.seekToEnd()) ?? 0)
            }
            if output.size + data.count > maximumBytes && output.size > 0 {
                try? output.file?.close()
                rotate(path)
                output.file = Self.open(path)
                output.size = 0
            }
            output.file?.write(data)
            output.size += data.count
        }
    }

    private func rotate(_ path: String) {
        let manager = FileManager.default
        try? manager.removeItem(atPath: "\(path).\(keptFiles)")
        if keptFiles > 1 {
            for index in stride(from: keptFiles - 1, through: 1, by: -1) {
                try? manager.moveItem(atPath: "\(path).\(index)", toPath: "\(path).\(index + 1)")
            }
        }
        if keptFiles > 0 {
            try? manager.moveItem(atPath: path, toPath: "\(path).1")
        } else {
            try? manager.removeItem(atPath: path)
        }
    }

    private static func open(_ path: String) -> FileHandle? {
        let directory = (path as NSString).deletingLastPathComponent
        if !directory.isEmpty {
            try? FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
        if !FileManager.default.fileExists(atPath: path) {
            _ = FileManager.default.createFile(atPath: path, contents: nil)
        }
        let handle = FileHandle(forWritingAtPath: path)
        _ = try? handle?.seekToEnd()
        return handle
    }
}
