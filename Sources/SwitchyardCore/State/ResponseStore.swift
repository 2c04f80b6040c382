import Dispatch
import Foundation
import NIOConcurrencyHelpers

/// The stored responses `previous_response_id` refers to: in memory, bounded by count, bytes and age, and mirrored
/// to one file per response (`<directory>/<id>.json`) when there is a directory.
///
/// Callers are request handlers on NIO threads, so nothing here touches the disk on the caller's thread: `put` and
/// `delete` change memory under the lock and queue the file operation on one serial queue, in the order the changes
/// were made (queued under the lock, so a delete can never overtake the write it follows).
public final class ResponseStore: Sendable {
    private let contents: NIOLockedValueBox<Contents>
    private let directory: String?
    private let clock: any GatewayClock
    private let reportProblem: @Sendable (String) -> Void
    private let fileQueue = DispatchQueue(label: "switchyard.response-store")

    /// - Parameters:
    ///   - directory: where the files live; nil keeps responses in memory only. Every valid `<id>.json` there is
    ///     loaded, except expired ones and, over the limits, the oldest; their files are removed, and so are
    ///     temporary files an interrupted write left.
    ///   - reportProblem: told about files that cannot be read (they are skipped and left alone) and file writes
    ///     or removals that fail; called on the caller's thread while loading, later on the file queue.
    public init(
        directory: String?, limits: ResponseStoreLimits, clock: any GatewayClock,
        reportProblem: @escaping @Sendable (String) -> Void = { _ in }
    ) {
        self.contents = NIOLockedValueBox(Contents(limits: limits))
        self.directory = directory
        self.clock = clock
        self.reportProblem = reportProblem
        if let directory { load(from: directory) }
    }

    /// Stores `response` (replacing one with the same id), then drops expired responses and the oldest (by
    /// `createdAt`) while over the limits. A response with an invalid id, or larger than `maximumBytes`, is not
    /// stored (and one it would have replaced is gone).
    public func put(_ response: StoredResponse) {
        store(response, isOnDisk: false)
    }

    /// The response, or nil if it is absent, expired or another owner's.
    public func get(_ id: String, owner: String) -> StoredResponse? {
        guard StoredResponse.isValidID(id) else { return nil }
        let now = clock.now()
        return contents.withLockedValue { contents -> StoredResponse? in
            guard let response = contents.entries[id]?.response else { return nil }
            if contents.isExpired(response, now: now) {
                contents.remove(id)
                enqueue(.remove(id))
                return nil
            }
            return response.owner == owner ? response : nil
        }
    }

    /// Deletes the response if `owner` owns it; whether there was a live one to delete.
    @discardableResult
    public func delete(_ id: String, owner: String) -> Bool {
        guard StoredResponse.isValidID(id) else { return false }
        let now = clock.now()
        return contents.withLockedValue { contents -> Bool in
            guard let response = contents.entries[id]?.response, response.owner == owner else { return false }
            contents.remove(id)
            enqueue(.remove(id))
            return !contents.isExpired(response, now: now)
        }
    }

    /// Live responses.
    public var count: Int { trimmed { $0.entries.count } }

    /// Their `byteCount`s added up.
    public var byteCount: Int { trimmed { $0.byteCount } }

    /// New limits take effect at once: responses now expired or over them go.
    public func apply(limits: ResponseStoreLimits) {
        let now = clock.now()
        contents.withLockedValue { contents in
            contents.limits = limits
            contents.trim(now: now).forEach { enqueue(.remove($0)) }
        }
    }

    /// Blocks until every file write and removal queued so far is done (shutdown, tests).
    public func flush() {
        fileQueue.sync {}
    }

    // MARK: - Memory

    private func store(_ response: StoredResponse, isOnDisk: Bool) {
        guard StoredResponse.isValidID(response.id) else { return }
        let now = clock.now()
        contents.withLockedValue { contents in
            let removed = contents.put(response, now: now)
            if !isOnDisk && !removed.contains(response.id) { enqueue(.write(response)) }
            removed.forEach { enqueue(.remove($0)) }
        }
    }

    /// Reads the contents after dropping what has expired.
    private func trimmed<Result: Sendable>(_ body: (Contents) -> Result) -> Result {
        let now = clock.now()
        return contents.withLockedValue { contents -> Result in
            contents.trim(now: now).forEach { enqueue(.remove($0)) }
            return body(contents)
        }
    }

    private struct Entry: Sendable {
        var response: StoredResponse
        var sequence: UInt64
    }

    /// An entry's place in the eviction order. `sequence` tells a live entry's key from the stale key of one that
    /// was replaced or removed since (stale keys stay in the heap until they reach its top or it is rebuilt).
    private struct AgeKey: Comparable, Sendable {
        var createdAt: Date
        var sequence: UInt64
        var id: String

        static func < (lhs: AgeKey, rhs: AgeKey) -> Bool {
            (lhs.createdAt, lhs.sequence) < (rhs.createdAt, rhs.sequence)
        }
    }

    private struct Contents: Sendable {
        var limits: ResponseStoreLimits
        var entries: [String: Entry] = [:]
        var byAge = MinHeap<AgeKey>()
        var byteCount = 0
        var nextSequence: UInt64 = 0

        func isExpired(_ response: StoredResponse, now: Date) -> Bool {
            now.timeIntervalSince(response.createdAt) >= limits.timeToLive
        }

        /// Stores `response` and returns the ids whose files must go: those it pushed out, and its own if it is
        /// too large to keep.
        mutating func put(_ response: StoredResponse, now: Date) -> [String] {
            remove(response.id)
            guard response.byteCount <= limits.maximumBytes else { return [response.id] }
            nextSequence += 1
            entries[response.id] = Entry(response: response, sequence: nextSequence)
            byAge.insert(AgeKey(createdAt: response.createdAt, sequence: nextSequence, id: response.id))
            byteCount += response.byteCount
            return trim(now: now)
        }

        mutating func remove(_ id: String) {
            guard let entry = entries.removeValue(forKey: id) else { return }
            byteCount -= entry.response.byteCount
            if byAge.count > 2 * entries.count + 64 {
                byAge = MinHeap(entries.map { AgeKey(createdAt: $1.response.createdAt, sequence: $1.sequence, id: $0) })
            }
        }

        /// Drops expired responses, then the oldest while over the limits; returns their ids.
        mutating func trim(now: Date) -> [String] {
            var removed: [String] = []
            while let oldest = byAge.min {
                guard let entry = entries[oldest.id], entry.sequence == oldest.sequence else {
                    byAge.removeMin()
                    continue
                }
                guard isExpired(entry.response, now: now) || entries.count > limits.maximumCount
                    || byteCount > limits.maximumBytes
                else { break }
                byAge.removeMin()
                remove(oldest.id)
                removed.append(oldest.id)
            }
            return removed
        }
    }

    // MARK: - Files

    private enum FileOperation: Sendable {
        case write(StoredResponse)
        case remove(String)
    }

    private func enqueue(_ operation: FileOperation) {
        guard let directory else { return }
        fileQueue.async { [reportProblem] in
            Self.perform(operation, in: directory, reportProblem: reportProblem)
        }
    }

    private static func path(of id: String, in directory: String) -> String {
        (directory as NSString).appendingPathComponent("\(id).json")
    }

    private static func perform(
        _ operation: FileOperation, in directory: String, reportProblem: (String) -> Void
    ) {
        switch operation {
        case .write(let response):
            let bytes = response.fileBytes()
            // Only a file that reads back as the same response is written: `input` and `response` are copied into
            // it as they are, so they must be the JSON array and object they claim to be.
            var readBack = try? StoredResponse(fileBytes: bytes)
            readBack?.createdAt = response.createdAt
            guard readBack == response else {
                reportProblem(
                    "response \(response.id) is not saved: its input is not a JSON array, its response not a JSON "
                        + "object, or its creation time is before 1970")
                return
            }
            do {
                try UsageFiles.writeAtomically(bytes, to: path(of: response.id, in: directory))
            } catch {
                reportProblem("response \(response.id) is not saved: \(error)")
            }
        case .remove(let id):
            removeFile(path(of: id, in: directory), reportProblem: reportProblem)
        }
    }

    private static func removeFile(_ path: String, reportProblem: (String) -> Void) {
        guard FileManager.default.fileExists(atPath: path) else { return }
        do {
            try FileManager.default.removeItem(atPath: path)
        } catch {
            reportProblem("cannot remove \(path): \(error)")
        }
    }

    /// Room in a file for the JSON around a response's `byteCount`; a larger file cannot hold a storable response.
    private static let fileOverhead = 64 << 10

    private func load(from directory: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        let maximumFileSize = contents.withLockedValue { $0.limits.maximumBytes } + Self.fileOverhead
        for name in names.sorted() {
            let path = (directory as NSString).appendingPathComponent(name)
            if UsageFiles.isTemporaryFile(name) {
                Self.removeFile(path, reportProblem: reportProblem)
                continue
            }
            guard name.hasSuffix(".json") else { continue }
            let id = String(name.dropLast(".json".count))
            guard StoredResponse.isValidID(id) else { continue }
            let size = ((try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? NSNumber)?.intValue ?? 0
            if size > maximumFileSize {
                Self.removeFile(path, reportProblem: reportProblem)
                continue
            }
            guard let data = FileManager.default.contents(atPath: path) else {
                reportProblem("\(path) cannot be read; skipped")
                continue
            }
            do throws(StoredResponse.FileError) {
                let response = try StoredResponse(fileBytes: Array(data))
                guard response.id == id else { throw StoredResponse.FileError(reason: "holds another id") }
                store(response, isOnDisk: true)
            } catch {
                reportProblem("\(path) \(error.reason); skipped")
            }
        }
    }
}
