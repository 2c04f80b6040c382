import Synchronization

/// Accounts for a committed stream exactly once, however it ends.
///
/// The relay reports when it finishes. If it never runs, because the client left between the commit and the
/// server writing the response head (the server then drops the response body unwritten), the settlement reports
/// `.clientGone` when it is released: the lease is settled, the gauges come back and the request is logged.
/// Dropping the unread upstream body along with it cancels the upstream request.
final class RelaySettlement: Sendable {
    private let onFinish: @Sendable (RelayReport) -> Void
    private let finished = Atomic(false)

    init(onFinish: @escaping @Sendable (RelayReport) -> Void) {
        self.onFinish = onFinish
    }

    func finish(_ report: RelayReport) {
        guard !finished.exchange(true, ordering: .acquiringAndReleasing) else { return }
        onFinish(report)
    }

    deinit {
        finish(RelayReport(outcome: .clientGone, usage: nil, generatedBytes: 0, firstWriteAt: nil))
    }
}
