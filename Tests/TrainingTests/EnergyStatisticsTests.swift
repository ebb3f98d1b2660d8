import Adversarial
import Foundation
import Distributed
import NeuralCore
import TestSupport
import Training
import XCTest

/// `EnergyStatistics` against a direct double-precision computation from the logits of a
/// tiny model: counters, means, standard deviations, the correct/wrong split by the
/// prediction on x*, and the histogram bins.
final class EnergyStatisticsTests: XCTestCase {
    typealias Q = EnergyStatistics.Quantity
    typealias G = EnergyStatistics.Group

    /// One sample's quantities, computed directly from its clean and adversarial logits.
    struct Sample {
        var values: [Q: Double]
        var cleanOK: Bool, advOK: Bool, aae: Bool
    }

    func direct(_ fc: [Float], _ fa: [Float], label y: Int, gamma: Double) -> Sample {
        let dc = fc.map(Double.init), da = fa.map(Double.init)
        let eC = -Fixtures.logSumExp(dc[...]), eA = -Fixtures.logSumExp(da[...])
        let jC = -dc[y], jA = -da[y]
        let norm = ((eC - eA) * (eC - eA) + (jC - jA) * (jC - jA)).squareRoot()
        let values: [Q: Double] = [
            .energyClean: eC, .energyAdv: eA, .jointClean: jC, .jointAdv: jA, .deltaEnergy: eC - eA, .deltaJoint: jC - jA,
            .absDeltaEnergy: abs(eC - eA), .absDeltaJoint: abs(jC - jA), .deltaNorm: norm, .der: max(norm - gamma, 0),
            .ceClean: jC - eC, .ceAdv: jA - eA,
        ]
        return Sample(values: values, cleanOK: Fixtures.argmax(fc[...]) == y, advOK: Fixtures.argmax(fa[...]) == y,
                      aae: (jA - eA) < (jC - eC))
    }

    func testAccumulateEqualsDirectComputation() throws {
        let net = Network(layers: [Flatten(shape: Shape(1, 4, 4), layout: .chw), Linear(16, 12),
                                   ReLU(shape: Shape(12, 1, 1), layout: .chw), Linear(12, 3)])
        net.initialize(seed: 300)
        for j in 0..<net.parameterCount { net.parameters.pointer[j] *= 3 }   // spread the logits
        let n = 6, k = 3, d = 16, gamma = 0.05
        let objective = EnergyObjective(mode: .aae, beta: 1.5, gamma: Float(gamma))
        var stats = EnergyStatistics()
        var samples: [Sample] = []
        var lossSum = 0.0
        for batch in 0..<3 {
            let pair = randomFloats(2 * n * d, seed: 310 + UInt64(batch), low: 0, high: 1)
            let logits = pair.withUnsafeBufferPointer {
                Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 2 * n), count: 2 * n * k))
            }
            // Half the labels are the clean prediction, so both accuracy outcomes occur.
            let labels = (0..<n).map { i in Int32(i.isMultiple(of: 2) ? Fixtures.argmax(logits[(i * k)..<(i * k + k)]) : (i + batch) % k) }
            var dLogits = [Float](repeating: 0, count: 2 * n * k)
            let loss = logits.withUnsafeBufferPointer { l in
                labels.withUnsafeBufferPointer { y in
                    dLogits.withUnsafeMutableBufferPointer {
                        objective.compute(logits: l.baseAddress!, n: n, classes: k, labels: y.baseAddress!, reference: nil,
                                          scale: 1 / Float(n), dLogits: $0.baseAddress!)
                    }
                }
            }
            stats.accumulate(objective, labels: labels, loss: loss)
            lossSum += loss
            for i in 0..<n {
                samples.append(direct(Array(logits[(i * k)..<(i * k + k)]), Array(logits[((n + i) * k)..<((n + i) * k + k)]),
                                      label: Int(labels[i]), gamma: gamma))
            }
        }
        XCTAssert(samples.contains { $0.advOK } && samples.contains { !$0.advOK } && samples.contains { $0.aae }
                  && samples.contains { !$0.aae } && samples.contains { $0.cleanOK } && samples.contains { !$0.cleanOK },
                  "the fixture exercises every counter and both groups")
        assertClose(stats.counter(.loss), lossSum)
        for g in G.allCases {
            let members = samples.filter { g == .all || (g == .correct) == $0.advOK }
            XCTAssertEqual(stats.counter(.count, g), Double(members.count), "\(g) count")
            XCTAssertEqual(stats.counter(.correctClean, g), Double(members.filter(\.cleanOK).count))
            XCTAssertEqual(stats.counter(.correctAdv, g), Double(members.filter(\.advOK).count))
            XCTAssertEqual(stats.counter(.aae, g), Double(members.filter(\.aae).count))
            for q in Q.allCases {
                let v = members.map { $0.values[q]! }
                let mean = v.reduce(0, +) / Double(max(v.count, 1))
                let sd = (v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(max(v.count, 1))).squareRoot()
                assertClose(stats.mean(q, g), mean, relative: 1e-5, absolute: 1e-5, "\(g) mean \(q.key)")
                assertClose(stats.standardDeviation(q, g), sd, relative: 1e-3, absolute: 1e-4, "\(g) std \(q.key)")
            }
            for (h, (q, edges)) in EnergyStatistics.histogrammed.enumerated() {
                var expected = [Double](repeating: 0, count: edges.count + 1)
                for s in members {
                    let v = s.values[q]!
                    let bin = v < edges[0] ? 0 : (v >= edges.last! ? edges.count : (edges.lastIndex { $0 <= v }! + 1))
                    expected[bin] += 1
                }
                XCTAssertEqual(stats.histogram(h, g), expected, "\(g) histogram of \(q.key)")
            }
        }
        // The summary reports means over the sample count.
        let summary = Dictionary(uniqueKeysWithValues: stats.summary())
        XCTAssertEqual(summary["samples"], Double(samples.count))
        assertClose(summary["aae_rate"]!, Double(samples.filter(\.aae).count) / Double(samples.count))
        assertClose(summary["E_x_std"]!, stats.standardDeviation(.energyClean))
        // Reducing over one rank changes nothing.
        let before = stats
        try stats.reduce(LocalCommunicator())
        XCTAssertEqual(stats, before)
    }

    func testHistogramBinsIncludeUnderAndOverflow() {
        let edges = [0.0, 1, 2]
        XCTAssertEqual(EnergyStatistics.histogrammed.count, 3)
        // Values map to: under, [0,1), [1,2), over.
        var counts = [0, 0, 0, 0]
        for v in [-1.0, 0, 0.5, 1, 1.99, 2, 5, .nan] { counts[EnergyStatistics.bin(v, edges)] += 1 }
        XCTAssertEqual(counts, [1, 2, 2, 3])
    }

    func testQuantityKeysAreUnique() {
        let keys = Q.allCases.map(\.key)
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertEqual(EnergyStatistics().buffer.count, EnergyStatistics.size)
    }
}

/// The trainer's energy records on a toy run (no MPI, a few milliseconds): probe rows use
/// the random starts training used in that epoch, and interval metrics lines carry the
/// running epoch. (Here rather than in a Trainer test file of their own only because of who
/// owns which test file.)
final class TrainerEnergyRecordTests: XCTestCase {
    /// 16 toy training samples, global batch 4: 4 steps per epoch.
    func toyTrainer(epochs: Int, logEvery: Int = 0) throws -> Trainer {
        var config = TrainConfig()
        config.model = .mlp
        config.epochs = epochs
        config.batchSize = 4
        config.learningRate = 0.05
        config.attack = AttackSettings(kind: .fgsmRS, epsilon: 0.2)
        config.der = .aae
        config.seed = 11
        config.evalSamples = 8
        config.evalPGDSteps = 2
        config.probeSamples = 12
        config.testProbeSamples = 4
        config.logEvery = logEvery
        config.outputDirectory = FileManager.default.temporaryDirectory
            .appendingPathComponent("dist-train-trainer-\(UUID().uuidString)").path
        let trainer = try Trainer(config: config, comm: LocalCommunicator(),
                                  train: Fixtures.toyDataset(count: 16, seed: 41), test: Fixtures.toyDataset(count: 8, seed: 42))
        trainer.log = { _ in }
        trainer.warn = { _ in }
        addTeardownBlock { try? FileManager.default.removeItem(atPath: config.outputDirectory) }
        return trainer
    }

    /// x* of a probe row is the training attack with the noise key of the epoch it was
    /// written for: epoch-0002.csv (the 2nd epoch) uses the 0-based key 1, as training did.
    func testProbeRowsUseTheTrainingRandomStartsOfTheirEpoch() throws {
        let trainer = try toyTrainer(epochs: 2)
        try trainer.initialize()
        try trainer.run()
        let csv = try String(contentsOfFile: trainer.files.directory + "/energies/epoch-0002.csv", encoding: .utf8)
        let rows = csv.split(separator: "\n").dropFirst().map { $0.split(separator: ",").map(String.init) }
            .filter { $0[0] == "train" }
        XCTAssertEqual(rows.map { Int($0[1])! }, trainer.probes.trainIndices)
        XCTAssertEqual(rows.count, 12)

        // The final parameters are those the probes of the last epoch saw.
        func adversarialEnergies(key: Int) -> [(Float, Float)] {
            trainer.step.load(trainer.train, indices: trainer.probes.trainIndices)
            trainer.step.computeEnergies(epoch: key, stream: .training)
            let o = trainer.step.objective
            return (0..<rows.count).map { (o.energyAdv.pointer[$0], o.jointAdv.pointer[$0]) }
        }
        let trainingKey = adversarialEnergies(key: 1), nextKey = adversarialEnergies(key: 2)
        var differs = false
        for (i, row) in rows.enumerated() {
            let (e, j) = (Float(row[7])!, Float(row[8])!)
            XCTAssertEqual(e, trainingKey[i].0, accuracy: 1e-6 * max(1, abs(e)), "E(x*) of sample \(row[1])")
            XCTAssertEqual(j, trainingKey[i].1, accuracy: 1e-6 * max(1, abs(j)), "E(x*, y) of sample \(row[1])")
            if abs(e - nextKey[i].0) > 1e-4 || abs(j - nextKey[i].1) > 1e-4 { differs = true }
        }
        XCTAssert(differs, "the fixture tells the noise keys of consecutive epochs apart")
    }

    /// `--log-every 2` with 4 steps per epoch: one interval line per epoch, at its 2nd step,
    /// carrying that (1-based) epoch like the epoch line after it.
    func testIntervalLinesCarryTheRunningEpoch() throws {
        let trainer = try toyTrainer(epochs: 2, logEvery: 2)
        try trainer.initialize()
        try trainer.run()
        let lines = try String(contentsOfFile: trainer.files.metricsPath, encoding: .utf8).split(separator: "\n").map {
            try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
        }
        let summary = lines.map { "\($0["interval"] as? Bool == true ? "interval" : "epoch") \($0["epoch"]!) \($0["step"]!)" }
        XCTAssertEqual(summary, ["interval 1 2", "epoch 1 4", "interval 2 6", "epoch 2 8"])
        let interval = try XCTUnwrap(lines[0]["train"] as? [String: Any])
        XCTAssertEqual(interval["samples"] as? Double, 8, "the interval's two steps of 4 samples")
    }
}
