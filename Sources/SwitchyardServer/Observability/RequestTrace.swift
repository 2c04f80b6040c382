import Crypto
import Foundation
import NIOConcurrencyHelpers
import SwitchyardCore

/// What one `/v1` request did, collected as it runs (by the handler, then by the stream relay) and written once
/// at the end as a request-log line and as metrics. It never holds message content or keys, only a fingerprint
/// of the client's key.
final class RequestTrace: Sendable {
    struct Attempt: Sendable {
        var provider: String
        /// `ok`, an HTTP status, `timeout`, `connection` or `invalid_response`.
        var result: String
        var latency: Duration
    }

    private struct Record {
        var model: String?
        var stream = false
        var attempts: [Attempt] = []
        var provider: String?
        var upstreamTime: Duration = .zero
        /// Time from start until the answer was handed to the server (the commit point for streams).
        var handedOverAfter: Duration?
        var streamOutcome: String?
        var usage: TokenUsage?
        var timeToFirstByte: Duration?
        var relaying = false
        var finished = false
    }

    let id: String
    let method: String
    let path: String
    let started = ContinuousClock.now
    let startedAt = Date()
    let clientKeyFingerprint: String?
    private let record = NIOLockedValueBox(Record())

    init(id: String, method: String, path: String, clientKey: String?) {
        self.id = id
        self.method = method
        self.path = path
        self.clientKeyFingerprint = clientKey.map(Self.fingerprint)
    }

    /// `sha256:` and the first 16 hex digits of the key's SHA-256: enough to tell keys apart, useless to an attacker.
    static func fingerprint(_ key: String) -> String {
        var text = Array("sha256:".utf8)
        for byte in SHA256.hash(data: Data(key.utf8)).prefix(8) {
            text += [hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0x0F)]]
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Written by hand: `String(format:)` costs more than the hash, on every request that presents a key.
    private static let hexDigits = Array("0123456789abcdef".utf8)

    var elapsed: Duration { ContinuousClock.now - started }

    func request(model: String, stream: Bool) {
        record.withLockedValue {
            $0.model = model
            $0.stream = stream
        }
    }

    func attempt(provider: String, result: String, latency: Duration) {
        record.withLockedValue {
            $0.attempts.append(Attempt(provider: provider, result: result, latency: latency))
            $0.upstreamTime += latency
        }
    }

    /// The provider whose answer the client gets.
    func served(by provider: String, usage: TokenUsage?) {
        record.withLockedValue {
            $0.provider = provider
            $0.usage = usage
        }
    }

    /// A stream was committed: the relay finishes the trace when the stream ends.
    func streaming(from provider: String) {
        record.withLockedValue {
            $0.provider = provider
            $0.relaying = true
            $0.handedOverAfter = ContinuousClock.now - started
        }
    }

    var isRelaying: Bool { record.withLockedValue { $0.relaying } }

    func firstByteSent(at instant: ContinuousClock.Instant) {
        record.withLockedValue { record in
            if record.timeToFirstByte == nil { record.timeToFirstByte = instant - started }
        }
    }

    func streamEnded(outcome: String, usage: TokenUsage?) {
        record.withLockedValue {
            $0.streamOutcome = outcome
            $0.usage = usage
        }
    }

    /// A snapshot for the request log and metrics; nil if the trace was already finished.
    func finish(status: Int) -> Summary? {
        let total = elapsed
        return record.withLockedValue { record -> Summary? in
            guard !record.finished else { return nil }
            record.finished = true
            let handedOver = record.handedOverAfter ?? total
            return Summary(
                status: status, model: record.model, stream: record.stream, attempts: record.attempts,
                provider: record.provider, usage: record.usage, total: total, timeToFirstByte: record.timeToFirstByte,
                overhead: max(.zero, handedOver - record.upstreamTime), streamOutcome: record.streamOutcome
            )
        }
    }

    struct Summary: Sendable {
        var status: Int
        var model: String?
        var stream: Bool
        var attempts: [Attempt]
        var provider: String?
        var usage: TokenUsage?
        var total: Duration
        var timeToFirstByte: Duration?
        /// Time spent inside Switchyard rather than waiting on upstreams, until the answer was handed over.
        var overhead: Duration
        var streamOutcome: String?
    }
}

extension Duration {
    var milliseconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) * 1000 + Double(attoseconds) / 1e15
    }
}
