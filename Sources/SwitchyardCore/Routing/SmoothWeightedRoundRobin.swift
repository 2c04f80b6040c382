/// Smooth weighted round-robin (as in nginx): deterministic, and over any window of Σweights picks each member
/// exactly `weight` times, interleaved rather than in bursts.
public struct SmoothWeightedRoundRobin: Sendable {
    public let weights: [Int]
    private var current: [Int]

    public init(weights: [Int]) {
        precondition(weights.allSatisfy { $0 > 0 }, "weights must be positive")
        self.weights = weights
        self.current = Array(repeating: 0, count: weights.count)
    }

    /// Picks among the members for which `isCandidate` holds; nil when none does.
    public mutating func next(where isCandidate: (Int) -> Bool = { _ in true }) -> Int? {
        var total = 0
        var best: Int?
        for index in weights.indices where isCandidate(index) {
            current[index] += weights[index]
            total += weights[index]
            if best == nil || current[index] > current[best!] { best = index }
        }
        guard let best else { return nil }
        current[best] -= total
        return best
    }
}
