import Foundation
import NIOConcurrencyHelpers

/// Where log lines go: optionally stderr, and optionally a file rotated by size (`gateway.log`, `gateway.log.1`,
/// …). Lines are buffered in memory and written by `flush()`, which the log flush service calls every 100 ms and
/// whenever a buffer fills, so requests (and the event loops serving them) never wait on a disk write. Only when
/// nothing flushes the buffer in time (no flush service, or one that cannot keep up) does a writer write it out
/// itself, so that memory stays bounded.
public final class LogSink: Sendable {
    private struct Buffer {
        var bytes: [UInt8] = []
        /// How to have a full buffer written out, while the flush service runs.
        var requestFlush: (@Sendable () -> Void)?
        var flushRequested = false
    }

    private struct Output {
        var file: FileHandle?
        var size = 0
        /// The other buffer: written out while lines go into this one's place.
        var spare: [UInt8] = []
    }

    private let buffer = NIOLockedValueBox(Buffer())
    /// The open file; its lock also keeps flushes in order.
    private let output = NIOLockedValueBox(Output())
    private let path: String?
    private let maximumBytes: Int
    private let keptFiles: Int
    private let toStandardError: Bool
    /// Size at which a flush is asked for.
    static let bufferLimit = 64 * 1024
    /// Size at which a writer writes the buffer out itself.
    static let writerFlushLimit = 4 * 1024 * 1024

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

    public func write(_ line: [UInt8]) {
        enum Next { case nothing, request(@Sendable () -> Void), flushHere }
        let next = buffer.withLockedValue { buffer -> Next in
            buffer.bytes.append(contentsOf: line)
            guard buffer.bytes.count >= Self.bufferLimit else { return .nothing }
            guard let requestFlush = buffer.requestFlush, buffer.bytes.count < Self.writerFlushLimit else {
                return .flushHere
            }
            if buffer.flushRequested { return .nothing }
            buffer.flushRequested = true
            return .request(requestFlush)
        }
        switch next {
        case .nothing: break
        case .request(let requestFlush): requestFlush()
        case .flushHere: flush()
        }
    }

    /// A full buffer is handed to `requestFlush`, once per fill, instead of being written out by its writer (nil:
    /// by the writer again).
    func handFullBuffers(to requestFlush: (@Sendable () -> Void)?) {
        buffer.withLockedValue { $0.requestFlush = requestFlush }
    }

    /// Writes the buffered lines out.
    public func flush() {
        output.withLockedValue { output in
            var pending = output.spare
            buffer.withLockedValue { buffer in
                swap(&buffer.bytes, &pending)
                buffer.flushRequested = false
            }
            defer {
                pending.removeAll(keepingCapacity: true)
                output.spare = pending
            }
            guard !pending.isEmpty else { return }
            if toStandardError {
                FileHandle.standardError.write(Data(pending))
            }
            guard let path else { return }
            if output.file == nil {
                output.file = Self.open(path)
                output.size = Int((try? output.file?.seekToEnd()) ?? 0)
            }
            if output.size + pending.count > maximumBytes && output.size > 0 {
                try? output.file?.close()
                rotate(path)
                output.file = Self.open(path)
                output.size = 0
            }
            try? output.file?.write(contentsOf: pending)
            output.size += pending.count
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
