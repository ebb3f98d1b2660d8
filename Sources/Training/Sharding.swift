import NeuralCore

/// How a global batch is split across ranks, and the order samples are visited in.
///
/// Every rank computes the same seeded permutation for an epoch; global batch b is
/// `perm[b·B ..< min((b+1)·B, N)]` (the last one may be short), and rank r of P takes the
/// contiguous slice [⌊r·n/P⌋, ⌊(r+1)·n/P⌋) of it. Uneven or empty shards are fine:
/// the loss is scaled by 1/n for the global n, so summed gradients are exact.
public struct Sharding: Sendable {
    public let sampleCount: Int
    public let batchSize: Int
    public let rank: Int
    public let ranks: Int

    public init(sampleCount: Int, batchSize: Int, rank: Int, ranks: Int) {
        self.sampleCount = sampleCount
        self.batchSize = batchSize
        self.rank = rank
        self.ranks = ranks
    }

    public var stepsPerEpoch: Int { (sampleCount + batchSize - 1) / batchSize }

    public func permutation(seed: UInt64, epoch: Int) -> [Int] {
        KeyedRandom.permutation(sampleCount, seed: seed, keys: 0x5EED, UInt64(epoch))
    }

    /// The global range of batch `step` within the permutation.
    public func globalRange(step: Int) -> Range<Int> {
        let start = step * batchSize
        return start..<min(start + batchSize, sampleCount)
    }

    /// This rank's part of a global batch of n samples.
    public static func shard(of n: Int, rank: Int, ranks: Int) -> Range<Int> {
        (rank * n / ranks)..<((rank + 1) * n / ranks)
    }

    public func localRange(step: Int) -> Range<Int> {
        let g = globalRange(step: step)
        let s = Sharding.shard(of: g.count, rank: rank, ranks: ranks)
        return (g.lowerBound + s.lowerBound)..<(g.lowerBound + s.upperBound)
    }
}
