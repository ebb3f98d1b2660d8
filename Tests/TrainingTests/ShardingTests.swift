import NeuralCore
import Training
import XCTest

/// Every permuted position is visited exactly once per epoch, whatever the rank count.
final class ShardingTests: XCTestCase {
    func testShardsCoverEveryPositionOnce() {
        for (samples, batch) in [(103, 10), (100, 10), (7, 3), (5, 8), (1, 1)] {
            for ranks in 1...5 {
                let shardings = (0..<ranks).map { Sharding(sampleCount: samples, batchSize: batch, rank: $0, ranks: ranks) }
                let steps = shardings[0].stepsPerEpoch
                XCTAssertEqual(steps, (samples + batch - 1) / batch)
                var visits = [Int](repeating: 0, count: samples)
                for step in 0..<steps {
                    let global = shardings[0].globalRange(step: step)
                    XCTAssertEqual(global.count, step == steps - 1 ? samples - (steps - 1) * batch : batch)
                    var sizes: [Int] = []
                    var next = global.lowerBound
                    for s in shardings {
                        XCTAssertEqual(s.globalRange(step: step), global, "all ranks agree on the global batch")
                        let local = s.localRange(step: step)
                        // Contiguous, in rank order, inside the global range.
                        XCTAssertEqual(local.lowerBound, next, "N=\(samples) B=\(batch) P=\(ranks) step \(step) rank \(s.rank)")
                        next = local.upperBound
                        for p in local { visits[p] += 1 }
                        sizes.append(local.count)
                    }
                    XCTAssertEqual(next, global.upperBound)
                    XCTAssertLessThanOrEqual(sizes.max()! - sizes.min()!, 1, "balanced shards: \(sizes)")
                    XCTAssertEqual(sizes.reduce(0, +), global.count)
                }
                XCTAssertEqual(visits, [Int](repeating: 1, count: samples), "N=\(samples) B=\(batch) P=\(ranks)")
            }
        }
    }

    func testShardOfHandValues() {
        // 10 over 3 ranks: [0, 3), [3, 6), [6, 10).
        XCTAssertEqual((0..<3).map { Sharding.shard(of: 10, rank: $0, ranks: 3) }, [0..<3, 3..<6, 6..<10])
        // 2 over 5 ranks: three ranks get nothing.
        let small = (0..<5).map { Sharding.shard(of: 2, rank: $0, ranks: 5) }
        XCTAssertEqual(small.map(\.count).reduce(0, +), 2)
        XCTAssertEqual(small.filter(\.isEmpty).count, 3)
        XCTAssertEqual(Sharding.shard(of: 0, rank: 0, ranks: 1), 0..<0)
    }

    func testEmptyShardsWhenBatchSmallerThanRanks() {
        let ranks = 5
        let local = (0..<ranks).map { Sharding(sampleCount: 9, batchSize: 3, rank: $0, ranks: ranks).localRange(step: 1) }
        XCTAssertEqual(local.filter(\.isEmpty).count, 2)
        XCTAssertEqual(Set(local.flatMap { Array($0) }), Set(3..<6))
    }

    func testPermutationIsDeterministicPerSeedAndEpoch() {
        let s = Sharding(sampleCount: 103, batchSize: 10, rank: 0, ranks: 1)
        let p = s.permutation(seed: 7, epoch: 0)
        XCTAssertEqual(p.sorted(), Array(0..<103), "a permutation")
        XCTAssertEqual(p, s.permutation(seed: 7, epoch: 0))
        // Every rank computes the same order.
        XCTAssertEqual(p, Sharding(sampleCount: 103, batchSize: 10, rank: 3, ranks: 4).permutation(seed: 7, epoch: 0))
        XCTAssertNotEqual(p, s.permutation(seed: 7, epoch: 1), "epochs differ")
        XCTAssertNotEqual(s.permutation(seed: 7, epoch: 1), s.permutation(seed: 7, epoch: 2))
        XCTAssertNotEqual(p, s.permutation(seed: 8, epoch: 0), "seeds differ")
        XCTAssertNotEqual(p, Array(0..<103), "shuffled")
    }
}
