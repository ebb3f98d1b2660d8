import Adversarial
import DataIO
import NeuralCore
import TestSupport
import Training
import XCTest

/// TrainStep's gradients: finite differences of the mean CE, scaling by the global batch,
/// and the data-parallel identity (shards' gradients sum to the whole batch's).
final class TrainStepTests: XCTestCase {
    func makeStep(_ net: Network, _ attack: AttackSettings, der: DERMode = .off, reference: AAEReference = .clean) -> TrainStep {
        TrainStep(network: net, attack: attack, der: der, beta: 1.5, gamma: 0, aaeReference: reference, seed: 11)
    }

    func testCleanGradientMatchesFiniteDifferencesOfMeanCE() {
        for (kind, shape) in [(ModelKind.mlp, Shape(1, 6, 6)), (.cnnSmall, Shape(1, 8, 8))] {
            let net = kind.build(input: shape, classes: 4)
            net.initialize(seed: 400)
            let data = Fixtures.randomDataset(count: 5, shape: shape, classes: 4, seed: 401)
            let step = makeStep(net, AttackSettings(kind: .none, epsilon: 0))
            step.load(data, indices: 0..<5)
            XCTAssertEqual(step.labels, data.labels)
            let loss = step.computeGradients(globalBatch: 5, epoch: 0)
            let analytic = Fixtures.gradients(net)
            // Independent loss: mean CE over the batch, from the logits in Double.
            func meanCE() -> Double {
                Fixtures.crossEntropies(Fixtures.logits(net, data.images, count: 5), labels: data.labels, classes: 4)
                    .reduce(0, +) / 5
            }
            XCTAssertEqual(loss / 5, meanCE(), accuracy: 1e-5, "returned loss is the unscaled CE sum")
            let coords = sampleCoordinates(net.parameterCount, limit: 60, seed: 402)
            let numeric = finiteDifferences(net.parameters.pointer, coordinates: coords, h: 1e-3) { meanCE() }
            assertGradientsMatch(analytic: coords.map { Double(analytic[$0]) }, numerical: numeric, "\(kind) mean CE")
        }
    }

    func testGradientsScaleWithTheGlobalBatch() {
        let net = ModelKind.mlp.build(input: Fixtures.shape, classes: 2)
        net.initialize(seed: 410)
        let data = Fixtures.toyDataset(count: 6, seed: 411)
        for (attack, der) in [(AttackSettings(kind: .none, epsilon: 0), DERMode.off),
                              (AttackSettings(kind: .fgsmRS, epsilon: 0.1), .aae),
                              (AttackSettings(kind: .pgd, epsilon: 0.1, steps: 3), .all)] {
            let step = makeStep(net, attack, der: der, reference: .start)
            step.load(data, indices: 0..<6)
            let lossN = step.computeGradients(globalBatch: 6, epoch: 2)
            let g = Fixtures.gradients(net)
            let loss2N = step.computeGradients(globalBatch: 12, epoch: 2)
            let half = Fixtures.gradients(net)
            XCTAssertEqual(lossN, loss2N, "\(attack.kind): the returned sum is unscaled")
            XCTAssert(g.contains { $0 != 0 })
            // Halving is exact in binary floating point, all the way through the backward pass.
            XCTAssertEqual(half, g.map { $0 / 2 }, "\(attack.kind)")
        }
    }

    /// The backward pass skips clean samples without a gradient (all of them under `--der off`,
    /// the non-AAEs under `--der aae`): the gradients equal those of the whole batch, whether
    /// none, a few (each run going back on its own) or many clean samples are active.
    func testSkippingCleanSamplesWithoutGradientChangesNothing() {
        var seen = Set<String>()
        for (kind, shape) in [(ModelKind.mlp, Shape(1, 6, 6)), (.cnnSmall, Shape(1, 8, 8)), (.cnnLarge, Shape(1, 8, 8))] {
            for der in [DERMode.off, .aae, .all] {
                for seed in UInt64(0)..<6 { for eps: Float in [0.3, 0.02] {
                    let net = kind.build(input: shape, classes: 4)
                    net.initialize(seed: 700 + seed)
                    let data = Fixtures.randomDataset(count: 16, shape: shape, classes: 4, seed: 710 + seed)
                    func gradients(skipping: Bool) -> (g: [Float], loss: Double, active: Int) {
                        let step = makeStep(net, AttackSettings(kind: .fgsmRS, epsilon: eps), der: der, reference: seed % 2 == 0 ? .start : .clean)
                        step.skipsInactiveSamples = skipping
                        step.load(data, indices: 0..<16)
                        let loss = step.computeGradients(globalBatch: 16, epoch: 1)
                        return (Fixtures.gradients(net), loss, step.activeCleanSamples)
                    }
                    let whole = gradients(skipping: false), skipped = gradients(skipping: true)
                    XCTAssertEqual(skipped.loss, whole.loss)
                    XCTAssert(whole.g.contains { $0 != 0 })
                    assertClose(skipped.g, whole.g, relative: 1e-5, absolute: 1e-7, "\(kind) der \(der) seed \(seed) eps \(eps)")
                    let a = skipped.active
                    seen.insert(a == 0 ? "none" : (a * 4 <= 16 ? "few" : "many"))
                    if der == .off { XCTAssertEqual(a, 0, "no clean sample has a gradient without DER") }
                    if der == .all { XCTAssertGreaterThan(a, 0) }
                } }
            }
        }
        XCTAssertEqual(seen, ["none", "few", "many"], "the cases should cover no, few and many active clean samples")
    }

    /// Whole batch vs. the same batch split in two shards, each scaled by the global batch.
    func checkDataParallelIdentity(_ attack: AttackSettings, der: DERMode, reference: AAEReference,
                                   file: StaticString = #filePath, line: UInt = #line) {
        let net = ModelKind.mlp.build(input: Fixtures.shape, classes: 2)
        net.initialize(seed: 420)
        let data = Fixtures.toyDataset(count: 16, seed: 421)
        // A shuffled batch of 8 positions, split unevenly 3 + 5 (as ranks would).
        let batch = [9, 2, 14, 5, 0, 11, 7, 12]
        let whole = makeStep(net, attack, der: der, reference: reference)
        whole.load(data, indices: batch)
        let loss = whole.computeGradients(globalBatch: 8, epoch: 3)
        let full = Fixtures.gradients(net)
        let aaeWhole = Array(whole.objective.aae.buffer.prefix(8))

        var summed = [Float](repeating: 0, count: net.parameterCount)
        var lossParts = 0.0, aaeParts: [Float] = []
        for part in [Array(batch[0..<3]), Array(batch[3...])] {
            let step = makeStep(net, attack, der: der, reference: reference)
            step.load(data, indices: part)
            lossParts += step.computeGradients(globalBatch: 8, epoch: 3)
            for (j, g) in Fixtures.gradients(net).enumerated() { summed[j] += g }
            aaeParts += Array(step.objective.aae.buffer.prefix(part.count))
        }
        XCTAssertEqual(aaeParts, aaeWhole, "\(attack.kind): same x*, same AAE mask", file: file, line: line)
        XCTAssertEqual(lossParts, loss, accuracy: 1e-5 * abs(loss), file: file, line: line)
        let size = full.map(abs).max()!
        XCTAssertGreaterThan(size, 0, file: file, line: line)
        assertClose(summed, full, relative: 1e-5, absolute: 1e-6 * size, "\(attack.kind) \(der)", file: file, line: line)
    }

    func testDataParallelIdentityClean() {
        checkDataParallelIdentity(AttackSettings(kind: .none, epsilon: 0), der: .off, reference: .clean)
    }

    func testDataParallelIdentityFGSMRSWithAAE() {
        checkDataParallelIdentity(AttackSettings(kind: .fgsmRS, epsilon: 0.15), der: .aae, reference: .start)
        checkDataParallelIdentity(AttackSettings(kind: .fgsmRS, epsilon: 0.15), der: .aae, reference: .clean)
    }

    func testDataParallelIdentityPGDWithDER() {
        checkDataParallelIdentity(AttackSettings(kind: .pgd, epsilon: 0.1, steps: 3, restarts: 2), der: .all, reference: .start)
    }

    func testAdversarialStepEqualsManualComposition() {
        // TrainStep = attack keyed by (seed, training stream, epoch, dataset index) → forward [x; x*]
        // → objective with the chosen AAE reference → backward.
        let net = Fixtures.trainedMLP(steps: 10)
        let data = Fixtures.toyDataset(count: 10, seed: 430)
        let indices = [7, 1, 4, 8]
        let attack = AttackSettings(kind: .fgsmRS, epsilon: 0.2)
        for reference in AAEReference.allCases {
            let step = makeStep(net, attack, der: .aae, reference: reference)
            // The whole batch goes back at once, as below, so the sums match bit for bit (skipping
            // inactive clean samples regroups them: testSkippingCleanSamplesWithoutGradientChangesNothing,
            // within rounding, which depends on the BLAS kernels).
            step.skipsInactiveSamples = false
            step.load(data, indices: indices)
            let loss = step.computeGradients(globalBatch: 5, epoch: 4)
            let viaStep = Fixtures.gradients(net)

            let n = 4, d = data.sampleSize, k = 2
            let x = Fixtures.images(data, indices)
            let labels = indices.map { data.labels[$0] }
            let attacker = Attacker(network: net)
            var pair = x + [Float](repeating: 0, count: n * d)
            x.withUnsafeBufferPointer { xp in
                labels.withUnsafeBufferPointer { y in
                    indices.map(Int64.init).withUnsafeBufferPointer { ix in
                        pair.withUnsafeMutableBufferPointer { p in
                            attacker.perturb(xp.baseAddress!, labels: y.baseAddress!, n: n, settings: attack, seed: 11,
                                             stream: .training, epoch: 4, indices: ix.baseAddress!, output: p.baseAddress! + n * d)
                        }
                    }
                }
            }
            let startLoss = Array(attacker.startLoss.buffer.prefix(n))
            let objective = EnergyObjective(mode: .aae, beta: 1.5, gamma: 0)
            var dLogits = [Float](repeating: 0, count: 2 * n * k)
            net.zeroGradients()
            let manualLoss = pair.withUnsafeBufferPointer { p in
                labels.withUnsafeBufferPointer { y in
                    dLogits.withUnsafeMutableBufferPointer { g in
                        let logits = net.forward(p.baseAddress!, batch: 2 * n)
                        let l = reference == .start
                            ? startLoss.withUnsafeBufferPointer {
                                objective.compute(logits: logits, n: n, classes: k, labels: y.baseAddress!, reference: $0.baseAddress!,
                                                  scale: 0.2, dLogits: g.baseAddress!)
                            }
                            : objective.compute(logits: logits, n: n, classes: k, labels: y.baseAddress!, reference: nil,
                                                scale: 0.2, dLogits: g.baseAddress!)
                        net.backward(g.baseAddress!, parameterGradients: true)
                        return l
                    }
                }
            }
            XCTAssertEqual(loss, manualLoss, "\(reference)")
            XCTAssertEqual(viaStep, Fixtures.gradients(net), "\(reference)")
            let expectedReference = reference == .start ? startLoss : Array(step.objective.ceClean.buffer.prefix(n))
            XCTAssertEqual(Array(step.objective.ceReference.buffer.prefix(n)), expectedReference, "\(reference)")
        }
    }

    func testEmptyShardGivesZeroGradient() {
        let net = ModelKind.mlp.build(input: Fixtures.shape, classes: 2)
        net.initialize(seed: 440)
        let data = Fixtures.toyDataset(count: 4, seed: 441)
        let step = makeStep(net, AttackSettings(kind: .fgsmRS, epsilon: 0.1), der: .aae)
        step.load(data, indices: 0..<4)
        step.computeGradients(globalBatch: 4, epoch: 0)
        step.load(data, indices: [Int]())
        XCTAssertEqual(step.computeGradients(globalBatch: 4, epoch: 0), 0)
        XCTAssert(Fixtures.gradients(net).allSatisfy { $0 == 0 }, "stale gradients are cleared")
    }

    func testEmptyShardLeavesNoStalePerSampleResults() {
        // The trainer calls `stats.accumulate(step.objective, labels: step.labels, …)` after every
        // step, including on a rank whose shard of a short last batch is empty. The objective's
        // per-sample results must then describe zero samples, not the previous step's batch
        // (else the sample count is inflated and `labels[i]` is read out of range).
        let net = ModelKind.mlp.build(input: Fixtures.shape, classes: 2)
        net.initialize(seed: 450)
        let data = Fixtures.toyDataset(count: 4, seed: 451)
        for attack in [AttackSettings(kind: .none, epsilon: 0), AttackSettings(kind: .fgsmRS, epsilon: 0.1)] {
            let step = makeStep(net, attack, der: .aae)
            step.load(data, indices: 0..<2)
            step.computeGradients(globalBatch: 3, epoch: 0)
            XCTAssertEqual(step.objective.count, 2)
            step.load(data, indices: [Int]())
            step.computeGradients(globalBatch: 3, epoch: 0)
            XCTAssertEqual(step.labels, [])
            XCTAssertEqual(step.objective.count, step.count,
                           "\(attack.kind): objective.count after an empty shard (stale results from the previous step)")
        }
    }
}
