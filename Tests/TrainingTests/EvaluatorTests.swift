import Adversarial
import DataIO
import Distributed
import NeuralCore
import TestSupport
import Training
import XCTest

final class EvaluatorTests: XCTestCase {
    let eps: Float = 0.15

    /// Correct predictions of `net` on `x`, counted directly.
    func correct(_ net: Network, _ x: [Float], labels: [Int32]) -> Int {
        let logits = Fixtures.logits(net, x, count: labels.count)
        let k = net.classes
        return labels.indices.filter { Fixtures.argmax(logits[($0 * k)..<($0 * k + k)]) == Int(labels[$0]) }.count
    }

    func attacked(_ net: Network, _ data: Dataset, _ settings: AttackSettings, seed: UInt64) -> [Float] {
        attacked(net, data, settings, seed: seed, indices: (0..<data.count).map { Int64($0) })
    }

    func testAccuraciesEqualDirectCounts() throws {
        let net = Fixtures.trainedMLP()
        let data = Fixtures.toyDataset(count: 13, seed: 500)
        let eps: Float = 0.25   // large enough to break some toy samples
        let evaluator = Evaluator(network: net, epsilon: eps, pgdSteps: 5, seed: 21, chunk: 5)
        let result = try evaluator.evaluate(data, comm: LocalCommunicator())
        XCTAssertEqual(result.samples, data.count)
        XCTAssertEqual(result.clean, correct(net, data.images, labels: data.labels))
        XCTAssertGreaterThanOrEqual(result.clean, 12, "the toy model learned")
        // FGSM and PGD counts equal attacks keyed by test index in the evaluation stream.
        XCTAssertEqual(result.fgsm, correct(net, attacked(net, data, AttackSettings(kind: .fgsm, epsilon: eps), seed: 21),
                                            labels: data.labels))
        XCTAssertEqual(result.pgd, correct(net, attacked(net, data, AttackSettings(kind: .pgd, epsilon: eps, steps: 5), seed: 21),
                                           labels: data.labels))
        XCTAssertLessThanOrEqual(result.pgd, result.clean)
        XCTAssertLessThan(result.pgd, data.count, "ε = 0.25 breaks some toy samples")
        XCTAssertEqual(result.accuracy(result.clean), Double(result.clean) / 13, accuracy: 1e-12)
    }

    func attacked(_ net: Network, _ data: Dataset, _ settings: AttackSettings, seed: UInt64, indices: [Int64]) -> [Float] {
        var out = [Float](repeating: 0, count: data.images.count)
        data.images.withUnsafeBufferPointer { x in
            data.labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    out.withUnsafeMutableBufferPointer { o in
                        Attacker(network: net).perturb(x.baseAddress!, labels: y.baseAddress!, n: data.count, settings: settings,
                                                       seed: seed, stream: .evaluation, epoch: 0, indices: ix.baseAddress!,
                                                       output: o.baseAddress!)
                    }
                }
            }
        }
        return out
    }

    func testRandomStartsKeyedByTestIndexWhateverTheChunkAndRankSplit() throws {
        // PGD with zero steps is accuracy at the keyed random start. On images pulled towards grey
        // (a weak signal) and a large ε, whether a sample survives depends on its own noise, so
        // the PGD count tells keyings apart. (A trained near-linear model makes PGD-k with k ≥ 1
        // end at the same corner from any start, which would hide a wrong key.)
        let net = Fixtures.trainedMLP()
        let toy = Fixtures.toyDataset(count: 31, seed: 533)
        let data = Dataset(name: "weak", channels: 1, height: 6, width: 6, classes: 2,
                           images: toy.images.map { 0.5 + 0.25 * ($0 - 0.5) }, labels: toy.labels)
        let n = data.count
        let eps: Float = 0.5, steps = 0, seed: UInt64 = 5
        let pgd = AttackSettings(kind: .pgd, epsilon: eps, steps: steps)
        let byIndex = correct(net, attacked(net, data, pgd, seed: seed, indices: (0..<n).map { Int64($0) }), labels: data.labels)
        // Fixture check: keying by position within a chunk of 5 would give another count.
        let byChunkSlot = correct(net, attacked(net, data, pgd, seed: seed, indices: (0..<n).map { Int64($0 % 5) }),
                                  labels: data.labels)
        XCTAssertNotEqual(byIndex, byChunkSlot, "the fixture is sensitive to the noise keys")

        let reference = try Evaluator(network: net, epsilon: eps, pgdSteps: steps, seed: seed, chunk: 256)
            .evaluate(data, comm: LocalCommunicator())
        XCTAssertEqual(reference.samples, n)
        XCTAssertEqual(reference.clean, correct(net, data.images, labels: data.labels))
        XCTAssertEqual(reference.pgd, byIndex)
        let chunked = try Evaluator(network: net, epsilon: eps, pgdSteps: steps, seed: seed, chunk: 5)
            .evaluate(data, comm: LocalCommunicator())
        XCTAssertEqual([chunked.samples, chunked.clean, chunked.fgsm, chunked.pgd],
                       [reference.samples, reference.clean, reference.fgsm, reference.pgd], "chunking")
        // Energy statistics agree up to float rounding (batch size changes GEMM blocking).
        for q in EnergyStatistics.Quantity.allCases {
            XCTAssertEqual(chunked.statistics.mean(q), reference.statistics.mean(q),
                           accuracy: 1e-5 * max(1, abs(reference.statistics.mean(q))), "chunking: \(q.key)")
        }
        XCTAssertEqual(chunked.statistics.counter(.aae), reference.statistics.counter(.aae))
        // Three ranks, each evaluating its contiguous slice; their sums equal the single-rank result.
        var total = [0, 0, 0, 0]
        for rank in 0..<3 {
            let r = try Evaluator(network: net, epsilon: eps, pgdSteps: steps, seed: seed, chunk: 4)
                .evaluate(data, comm: SoloRankCommunicator(rank: rank, size: 3))
            XCTAssertEqual(r.samples, Sharding.shard(of: n, rank: rank, ranks: 3).count)
            for (j, v) in [r.samples, r.clean, r.fgsm, r.pgd].enumerated() { total[j] += v }
        }
        XCTAssertEqual(total, [reference.samples, reference.clean, reference.fgsm, reference.pgd], "rank split")
    }

    /// The test-set energy statistics of both evaluation attacks equal a direct Double
    /// computation from the logits of x and of its FGSM / PGD example.
    func testEnergyStatisticsOfEachAttackEqualDirectComputation() throws {
        let net = Fixtures.trainedMLP()
        let data = Fixtures.toyDataset(count: 13, seed: 501)
        // PGD with no step stops at its random start: on this near-linear model any PGD step
        // would reach FGSM's corner of the ε-ball, and the two groups would coincide.
        let eps: Float = 0.25, k = net.classes, n = data.count, steps = 0
        let result = try Evaluator(network: net, epsilon: eps, pgdSteps: steps, seed: 23, chunk: 5)
            .evaluate(data, comm: LocalCommunicator())
        let clean = Fixtures.logits(net, data.images, count: n)
        var means: [String: [String: Double]] = [:]
        for (name, settings) in [("fgsm", AttackSettings(kind: .fgsm, epsilon: eps)),
                                 ("pgd", AttackSettings(kind: .pgd, epsilon: eps, steps: steps))] {
            let adv = Fixtures.logits(net, attacked(net, data, settings, seed: 23), count: n)
            // AAE flags of samples whose CE barely moved depend on float rounding (the toy model
            // is confident, CE ≈ 0): they are counted apart, as "ties".
            var sums: [String: Double] = ["E_x": 0, "E_xadv": 0, "E_xadv_y": 0, "norm_dE": 0, "aae": 0, "ties": 0, "correct": 0]
            for i in 0..<n {
                let fc = clean[(i * k)..<(i * k + k)].map(Double.init), fa = adv[(i * k)..<(i * k + k)].map(Double.init)
                let y = Int(data.labels[i])
                let eC = -Fixtures.logSumExp(fc[...]), eA = -Fixtures.logSumExp(fa[...])
                sums["E_x"]! += eC
                sums["E_xadv"]! += eA
                sums["E_xadv_y"]! += -fa[y]
                sums["norm_dE"]! += ((eC - eA) * (eC - eA) + (fa[y] - fc[y]) * (fa[y] - fc[y])).squareRoot()
                let ceChange = (-fa[y] - eA) - (-fc[y] - eC)
                if abs(ceChange) < 1e-4 { sums["ties"]! += 1 } else if ceChange < 0 { sums["aae"]! += 1 }
                if Fixtures.argmax(adv[(i * k)..<(i * k + k)]) == y { sums["correct"]! += 1 }
            }
            means[name] = sums.mapValues { $0 / Double(n) }
        }
        for (name, stats, correct) in [("fgsm", result.fgsmStatistics, result.fgsm), ("pgd", result.statistics, result.pgd)] {
            let m = means[name]!
            XCTAssertEqual(stats.counter(.count), Double(n), name)
            XCTAssertEqual(stats.counter(.correctAdv), Double(correct), "\(name): adversarial accuracy agrees with the count")
            XCTAssertEqual(stats.counter(.correctAdv), m["correct"]! * Double(n), accuracy: 1e-9, name)
            let aae = stats.counter(.aae), clear = (m["aae"]! * Double(n)).rounded(), ties = (m["ties"]! * Double(n)).rounded()
            XCTAssert(aae >= clear && aae <= clear + ties, "\(name): \(aae) AAEs, \(clear) clear ones and \(ties) ties")
            for (q, key) in [(EnergyStatistics.Quantity.energyClean, "E_x"), (.energyAdv, "E_xadv"), (.jointAdv, "E_xadv_y"),
                             (.deltaNorm, "norm_dE")] {
                XCTAssertEqual(stats.mean(q), m[key]!, accuracy: 1e-5 * max(1, abs(m[key]!)), "\(name) \(key)")
            }
        }
        XCTAssertGreaterThan(abs(means["fgsm"]!["E_xadv_y"]! - means["pgd"]!["E_xadv_y"]!), 1e-4,
                             "the fixture tells the attacks apart")
    }

    func testEmptyDatasetAccuracyIsZero() throws {
        let net = Fixtures.trainedMLP(steps: 1)
        let data = Fixtures.toyDataset(count: 2, seed: 520).prefix(0)
        let r = try Evaluator(network: net, epsilon: eps, pgdSteps: 2, seed: 0, chunk: 4).evaluate(data, comm: LocalCommunicator())
        XCTAssertEqual([r.samples, r.clean, r.fgsm, r.pgd], [0, 0, 0, 0])
        XCTAssertEqual(r.fgsmStatistics.counter(.count), 0)
        XCTAssertEqual(r.accuracy(r.clean), 0)
    }
}
