import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Usage counters on disk: one JSON file per (model, provider), `<data-dir>/usage/<model>_<provider>.json`, holding
/// `{"requests":N,"tokens":N,"estimated_tokens":N,"last_reset":"2026-11-22T00:00:00+00:00"}` (the seed's format,
/// plus the estimated share).
///
/// Files are replaced atomically: the new content goes to a temporary file (whose name never ends in `.json`),
/// which is flushed to disk and then renamed over the old file, and the directory is flushed too. A crash at any
/// point leaves either the old file or the new one, never a partial one.
public struct UsageFiles: Sendable {
    public let directory: String
    public let timeZone: TimeZone

    public init(dataDirectory: String, timeZone: TimeZone) {
        self.directory = (dataDirectory as NSString).appendingPathComponent("usage")
        self.timeZone = timeZone
    }

    /// `<model>_<provider>.json` with every character outside `A-Z a-z 0-9 . _ -` replaced by `_` (as in the seed,
    /// which replaced `/`). Config validation rejects two providers whose names map to the same file.
    public static func fileName(for key: ProviderKey) -> String {
        "\(sanitize(key.model))_\(sanitize(key.provider)).json"
    }

    static func sanitize(_ name: String) -> String {
        String(name.unicodeScalars.map { scalar -> Character in
            switch scalar {
            case "a"..."z", "A"..."Z", "0"..."9", ".", "_", "-": Character(scalar)
            default: "_"
            }
        })
    }

    public func path(for key: ProviderKey) -> String {
        (directory as NSString).appendingPathComponent(Self.fileName(for: key))
    }

    public enum Loaded: Equatable {
        case missing
        case usage(UsageSnapshot)
        /// The file exists but cannot be used; the reason is reported and the file left alone.
        case unreadable(String)
    }

    public func load(_ key: ProviderKey, now: Date) -> Loaded {
        let path = path(for: key)
        guard FileManager.default.fileExists(atPath: path) else { return .missing }
        guard let data = FileManager.default.contents(atPath: path) else {
            return .unreadable("\(path) cannot be read")
        }
        guard let object = (try? JSONSerialization.jsonObject(with: data)) as? [String: Any] else {
            return .unreadable("\(path) is not a JSON object")
        }
        func count(_ name: String) -> Int? {
            guard let value = object[name] else { return 0 }
            guard let number = value as? NSNumber, number.doubleValue >= 0,
                number.doubleValue == number.doubleValue.rounded(), number.doubleValue <= 1e18
            else { return nil }
            return number.intValue
        }
        guard let requests = count("requests"), let tokens = count("tokens"), let estimated = count("estimated_tokens")
        else {
            return .unreadable("\(path) has counts that are not whole numbers between 0 and 10^18")
        }
        var lastReset = now
        switch object["last_reset"] {
        case nil, is NSNull:
            break
        case let text as String:
            if !text.isEmpty {
                guard let date = parseTimestamp(text) else {
                    return .unreadable("\(path) has an unreadable last_reset \"\(text)\"")
                }
                lastReset = date
            }
        default:
            return .unreadable("\(path) has a last_reset that is not a string")
        }
        return .usage(UsageSnapshot(requests: requests, tokens: tokens, estimatedTokens: estimated, lastReset: lastReset))
    }

    public func save(_ usage: UsageSnapshot, for key: ProviderKey) throws {
        let text = #"{"requests":\#(usage.requests),"tokens":\#(usage.tokens),"estimated_tokens":\#(usage.estimatedTokens),"last_reset":"\#(format(usage.lastReset))"}"# + "\n"
        try Self.writeAtomically(Array(text.utf8), to: path(for: key))
    }

    /// Whether `name` is one of `writeAtomically`'s temporary files (left behind only by a crash mid-write).
    public static func isTemporaryFile(_ name: String) -> Bool {
        name.hasPrefix(".") && name.contains(".tmp-")
    }

    /// Removes temporary files left by a crash in the middle of a write.
    public func removeLeftovers() {
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return }
        for name in names where Self.isTemporaryFile(name) {
            try? FileManager.default.removeItem(atPath: (directory as NSString).appendingPathComponent(name))
        }
    }

    /// ISO-8601 with the zone's offset, e.g. `2026-11-22T08:00:00+08:00`, to the second. Formatted by hand: a new
    /// `ISO8601DateFormatter` for every saved file cost about 140,000 instructions, most of it building ICU's formatter.
    public func format(_ date: Date) -> String {
        let seconds = Int(date.timeIntervalSince1970.rounded(.down))
        let offset = timeZone.secondsFromGMT(for: date)
        var text = [UInt8]()
        text.reserveCapacity(25)
        ISOTimestamp.appendDateTime(seconds: seconds + offset, to: &text)
        text.append(offset < 0 ? UInt8(ascii: "-") : UInt8(ascii: "+"))
        let offsetMinutes = abs(offset) / 60
        ISOTimestamp.appendDigits(offsetMinutes / 60, count: 2, to: &text)
        text.append(UInt8(ascii: ":"))
        ISOTimestamp.appendDigits(offsetMinutes % 60, count: 2, to: &text)
        return String(decoding: text, as: UTF8.self)
    }

    /// Accepts ISO-8601 with an offset or `Z` (with or without fractional seconds), and the seed's naive local
    /// times (`2024-01-15T00:00:00[.ffffff]`), read in the configured zone.
    func parseTimestamp(_ text: String) -> Date? {
        let withOffset = ISO8601DateFormatter()
        for options: ISO8601DateFormatter.Options in [[.withInternetDateTime], [.withInternetDateTime, .withFractionalSeconds]] {
            withOffset.formatOptions = options
            if let date = withOffset.date(from: text) { return date }
        }
        let naive = DateFormatter()
        naive.locale = Locale(identifier: "en_US_POSIX")
        naive.timeZone = timeZone
        for format in ["yyyy-MM-dd'T'HH:mm:ss", "yyyy-MM-dd'T'HH:mm:ss.SSSSSS", "yyyy-MM-dd'T'HH:mm:ss.SSS", "yyyy-MM-dd HH:mm:ss"] {
            naive.dateFormat = format
            if let date = naive.date(from: text) { return date }
        }
        return nil
    }

    /// Writes `bytes` to a temporary file beside `path`, flushes it, renames it over `path` and flushes the
    /// directory entry.
    static func writeAtomically(_ bytes: [UInt8], to path: String) throws {
        let directory = (path as NSString).deletingLastPathComponent
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let name = (path as NSString).lastPathComponent
        let temporary = (directory as NSString).appendingPathComponent(".\(name).tmp-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_TRUNC, 0o644)
        guard descriptor >= 0 else { throw UsageFileError(path: temporary, operation: "open", code: errno) }
        var written = 0
        while written < bytes.count {
            let result = bytes.withUnsafeBytes { write(descriptor, $0.baseAddress! + written, bytes.count - written) }
            if result < 0 {
                if errno == EINTR { continue }
                let code = errno
                close(descriptor)
                unlink(temporary)
                throw UsageFileError(path: temporary, operation: "write", code: code)
            }
            written += result
        }
        if fsync(descriptor) != 0 {
            let code = errno
            close(descriptor)
            unlink(temporary)
            throw UsageFileError(path: temporary, operation: "fsync", code: code)
        }
        close(descriptor)
        guard rename(temporary, path) == 0 else {
            let code = errno
            unlink(temporary)
            throw UsageFileError(path: path, operation: "rename", code: code)
        }
        let directoryDescriptor = open(directory, O_RDONLY)
        if directoryDescriptor >= 0 {
            _ = fsync(directoryDescriptor)
            close(directoryDescriptor)
        }
    }
}

public struct UsageFileError: Error, CustomStringConvertible {
    public var path: String
    public var operation: String
    public var code: Int32
    public var description: String { "\(operation) \(path) failed: \(String(cString: strerror(code)))" }
}
