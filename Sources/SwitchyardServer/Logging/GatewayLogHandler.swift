import Foundation
import Logging
import Synchronization

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
        var line = "\(LogTime.now()) \(Self.levelName(event.level)) \(label): \(event.message)"
        if !merged.isEmpty {
            line += " [" + merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ") + "]"
        }
        sink.write(line + "\n")
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

/// UTC timestamps with milliseconds, e.g. `2026-11-22T03:12:00.123Z`.
enum LogTime {
    static func now() -> String {
        var time = timespec()
        clock_gettime(CLOCK_REALTIME, &time)
        return format(seconds: time.tv_sec, milliseconds: Int(time.tv_nsec / 1_000_000))
    }

    static func format(_ date: Date) -> String {
        let interval = date.timeIntervalSince1970
        return format(seconds: Int(interval.rounded(.down)), milliseconds: Int((interval - interval.rounded(.down)) * 1000))
    }

    /// Formats by hand: `String(format:)` goes through CoreFoundation and showed up in profiles.
    private static func format(seconds: Int, milliseconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var text = [UInt8]()
        text.reserveCapacity(24)
        func digits(_ value: Int, _ count: Int) {
            var divisor = 1
            for _ in 1..<count { divisor *= 10 }
            var rest = value
            while divisor > 0 {
                text.append(UInt8(ascii: "0") + UInt8(rest / divisor % 10))
                rest %= divisor
                divisor /= 10
            }
        }
        digits(Int(parts.tm_year) + 1900, 4)
        text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mon) + 1, 2)
        text.append(UInt8(ascii: "-"))
        digits(Int(parts.tm_mday), 2)
        text.append(UInt8(ascii: "T"))
        digits(Int(parts.tm_hour), 2)
        text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_min), 2)
        text.append(UInt8(ascii: ":"))
        digits(Int(parts.tm_sec), 2)
        text.append(UInt8(ascii: "."))
        digits(milliseconds, 3)
        text.append(UInt8(ascii: "Z"))
        return String(decoding: text, as: UTF8.self)
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
        let full = buffer.withLock { buffer -> Bool in
            buffer.append(contentsOf: line.utf8)
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
