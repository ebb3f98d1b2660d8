import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// L∞ attacks in the [0, 1] box: constraints, keyed determinism, independence of the batch
/// composition, and strength on a model trained on an easy toy set.
final class AttackTests: XCTestCase {
    let eps: Float = 0.1
    let seed: UInt64 = 42

    func perturb(_ attacker: Attacker, _ x: [Float], labels: [Int32], indices: [Int64], settings: AttackSettings,
                 seed: UInt64? = nil, stream: NoiseStream = .training, epoch: Int = 0, restartOffset: Int = 0) -> [Float] {
        var out = [Float](repeating: .nan, count: x.count)
        x.withUnsafeBufferPointer { xp in
            labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    out.withUnsafeMutableBufferPointer { o in
                        attacker.perturb(xp.baseAddress!, labels: y.baseAddress!, n: labels.count, settings: settings,
                                         seed: seed ?? self.seed, stream: stream, epoch: epoch, indices: ix.baseAddress!,
                                         restartOffset: restartOffset, output: o.baseAddress!)
                    }
                }
            }
        }
        return out
    }

    var allSettings: [AttackSettings] {
        [AttackSettings(kind: .fgsm, epsilon: eps), AttackSettings(kind: .fgsmRS, epsilon: eps),
         AttackSettings(kind: .pgd, epsilon: eps, steps: 5, restarts: 1),
         AttackSettings(kind: .pgd, epsilon: eps, steps: 5, restarts: 3)]
    }

    func testSettingsDefaults() {
        XCTAssertEqual(AttackSettings(kind: .fgsm, epsilon: 0.2).alpha, 0.2)
        XCTAssertEqual(AttackSettings(kind: .fgsmRS, epsilon: 0.2).alpha, 0.25, accuracy: 1e-7)
        let pgd = AttackSettings(kind: .pgd, epsilon: 0.2, steps: 10, restarts: 0)
        XCTAssertEqual(pgd.alpha, 0.05, accuracy: 1e-7)
        XCTAssertEqual(pgd.restarts, 1)
        XCTAssertEqual(AttackSettings(kind: .fgsmRS, epsilon: 0.2, steps: 7, restarts: 4).steps, 1)
        XCTAssertEqual(AttackSettings(kind: .fgsmRS, epsilon: 0.2, steps: 7, restarts: 4).restarts, 1)
    }

    func testFGSMHandComputedOnLinearModel() {
        // f = W·x with W = [[1, −1, 0], [−1, 1, 0]], y = 0: ∇ₓCE = Wᵀ(softmax − e₀) ∝ [−, +, 0].
        let net = Network(layers: [Linear(3, 2)])
        net.parameters.copy(from: [1, -1, 0, -1, 1, 0, 0, 0])
        let attacker = Attacker(network: net)
        let x: [Float] = [0.5, 0.5, 0.5, 0.05, 0.98, 0.5]
        let out = perturb(attacker, x, labels: [0, 0], indices: [0, 1], settings: AttackSettings(kind: .fgsm, epsilon: 0.1))
        // sign(0) = 0 leaves the third input alone; the second sample is clipped to the box.
        XCTAssertEqual(out, [0.4, 0.6, 0.5, 0, 1, 0.5])
        // startLoss for FGSM is CE at x: first sample has equal logits, CE = ln 2.
        XCTAssertEqual(attacker.startLoss.pointer[0], logf(2), accuracy: 1e-6)
        XCTAssertEqual(attacker.startLoss.pointer[1], logf(1 + expf(1.86)) , accuracy: 1e-5)
        // ε = 0 returns x exactly.
        XCTAssertEqual(perturb(attacker, x, labels: [1, 0], indices: [0, 1], settings: AttackSettings(kind: .fgsm, epsilon: 0)), x)
    }

    func testBoxAndBallConstraints() {
        let net = ModelKind.mlp.build(input: Fixtures.toyShape, classes: 3)
        net.initialize(seed: 5)
        let attacker = Attacker(network: net)
        let n = 6, d = Fixtures.toyShape.count
        var x = randomFloats(n * d, seed: 6, low: 0, high: 1)
        // Put some values on and near the box edges.
        for j in stride(from: 0, to: x.count, by: 7) { x[j] = j.isMultiple(of: 2) ? 0 : 1 }
        for j in stride(from: 3, to: x.count, by: 11) { x[j] = 0.02 }
        let labels = (0..<n).map { Int32($0 % 3) }
        let indices = (0..<n).map { Int64(10 + $0) }
        for settings in allSettings {
            let out = perturb(attacker, x, labels: labels, indices: indices, settings: settings)
            var moved = 0
            for j in 0..<x.count {
                XCTAssert(out[j] >= 0 && out[j] <= 1, "\(settings.kind) out of the box: \(out[j])")
                XCTAssertLessThanOrEqual(abs(out[j] - x[j]), eps + 1e-6, "\(settings.kind) outside the ε-ball")
                if out[j] != x[j] { moved += 1 }
            }
            XCTAssertGreaterThan(moved, x.count / 2, "\(settings.kind) perturbs most inputs")
        }
    }

    func testZeroEpsilonReturnsInput() {
        let net = ModelKind.mlp.build(input: Fixtures.toyShape, classes: 3)
        net.initialize(seed: 7)
        let attacker = Attacker(network: net)
        let x = randomFloats(3 * Fixtures.toyShape.count, seed: 8, low: 0, high: 1)
        for kind in [AttackKind.none, .fgsm, .fgsmRS, .pgd] {
            let out = perturb(attacker, x, labels: [0, 1, 2], indices: [0, 1, 2],
                              settings: AttackSettings(kind: kind, epsilon: 0, steps: 3))
            XCTAssertEqual(out, x, "\(kind) with ε = 0")
        }
    }

    func testRandomStartIsKeyedUniformInTheBall() {
        // With α = 0, FGSM-RS returns its random start: clip(x + U(−ε, ε)) keyed by
        // (seed, stream, epoch, index, restart).
        let net = ModelKind.mlp.build(input: Fixtures.toyShape, classes: 2)
        net.initialize(seed: 9)
        let attacker = Attacker(network: net)
        let d = Fixtures.toyShape.count
        let x = randomFloats(2 * d, seed: 10, low: 0, high: 1)
        let indices: [Int64] = [31, 7]
        let out = perturb(attacker, x, labels: [0, 1], indices: indices,
                          settings: AttackSettings(kind: .fgsmRS, epsilon: eps, alpha: 0), stream: .evaluation, epoch: 3)
        var expected: [Float] = []
        for i in 0..<2 {
            var rng = KeyedRandom(seed: seed, keys: NoiseStream.evaluation.rawValue, 3, UInt64(indices[i]), 0)
            for j in 0..<d { expected.append(min(max(x[i * d + j] + rng.uniform(eps), 0), 1)) }
        }
        XCTAssertEqual(out, expected)
        // startLoss is CE at that start.
        let ce = Fixtures.crossEntropies(net, expected, labels: [0, 1])
        XCTAssertEqual(Double(attacker.startLoss.pointer[0]), ce[0], accuracy: 1e-5)
        XCTAssertEqual(Double(attacker.startLoss.pointer[1]), ce[1], accuracy: 1e-5)
    }

    func testDeterministicAndKeyed() {
        let net = Fixtures.trainedMLP(steps: 5)
        let attacker = Attacker(network: net)
        let data = Fixtures.toyImages(count: 4, seed: 11)
        let indices: [Int64] = [0, 1, 2, 3]
        for settings in allSettings {
            let a = perturb(attacker, data.images, labels: data.labels, indices: indices, settings: settings)
            let b = perturb(Attacker(network: net), data.images, labels: data.labels, indices: indices, settings: settings)
            XCTAssertEqual(a, b, "\(settings.kind) restarts \(settings.restarts): same keys, same x*")
        }
        let rs = AttackSettings(kind: .fgsmRS, epsilon: eps)
        let base = perturb(attacker, data.images, labels: data.labels, indices: indices, settings: rs, epoch: 1)
        XCTAssertNotEqual(base, perturb(attacker, data.images, labels: data.labels, indices: indices, settings: rs, epoch: 2),
                          "epoch is a key")
        XCTAssertNotEqual(base, perturb(attacker, data.images, labels: data.labels, indices: indices, settings: rs,
                                        stream: .evaluation, epoch: 1), "stream is a key")
        XCTAssertNotEqual(base, perturb(attacker, data.images, labels: data.labels, indices: indices, settings: rs,
                                        seed: seed + 1, epoch: 1), "seed is a key")
        XCTAssertNotEqual(base, perturb(attacker, data.images, labels: data.labels, indices: [4, 5, 6, 7], settings: rs,
                                        epoch: 1), "sample index is a key")
        let pgd = AttackSettings(kind: .pgd, epsilon: eps, steps: 3)
        XCTAssertNotEqual(perturb(attacker, data.images, labels: data.labels, indices: indices, settings: pgd),
                          perturb(attacker, data.images, labels: data.labels, indices: indices, settings: pgd, restartOffset: 1),
                          "restart is a key")
    }

    func testSampleResultIndependentOfBatchComposition() {
        // What makes results independent of the rank count: a sample's x* depends on its own
        // index, not on which other samples share its batch.
        let net = Fixtures.trainedMLP(steps: 5)
        let data = Fixtures.toyImages(count: 4, seed: 12)
        let d = Fixtures.toyShape.count
        let indices: [Int64] = [100, 101, 102, 103]
        let subset = [1, 3]
        let xs = subset.flatMap { data.images[($0 * d)..<($0 * d + d)] }
        for settings in allSettings {
            let whole = perturb(Attacker(network: net), data.images, labels: data.labels, indices: indices, settings: settings)
            let attacker = Attacker(network: net)
            let part = perturb(attacker, xs, labels: subset.map { data.labels[$0] }, indices: subset.map { indices[$0] },
                               settings: settings)
            let expected = subset.flatMap { whole[($0 * d)..<($0 * d + d)] }
            XCTAssertEqual(part, expected, "\(settings.kind) restarts \(settings.restarts)")
        }
    }

    func testRestartsKeepTheWorstCasePerSample() {
        // Restart 0 of a 3-restart PGD is the 1-restart PGD, and the best restart is kept per
        // sample, so no sample's loss can go down.
        let net = Fixtures.trainedMLP(steps: 5)
        let data = Fixtures.toyImages(count: 8, seed: 13)
        let indices = (0..<8).map { Int64($0) }
        let one = perturb(Attacker(network: net), data.images, labels: data.labels, indices: indices,
                          settings: AttackSettings(kind: .pgd, epsilon: 0.3, steps: 2, restarts: 1))
        let three = perturb(Attacker(network: net), data.images, labels: data.labels, indices: indices,
                            settings: AttackSettings(kind: .pgd, epsilon: 0.3, steps: 2, restarts: 3))
        let ceOne = Fixtures.crossEntropies(net, one, labels: data.labels)
        let ceThree = Fixtures.crossEntropies(net, three, labels: data.labels)
        for i in 0..<8 { XCTAssertGreaterThanOrEqual(ceThree[i], ceOne[i], "sample \(i)") }
        XCTAssertNotEqual(one, three, "some restart beat the first one")
    }

    func testAttacksBeatRandomNoiseOnATrainedModel() {
        let net = Fixtures.trainedMLP()
        let train = Fixtures.toyImages(count: 64, seed: 1)
        XCTAssertGreaterThan(Fixtures.accuracy(net, train.images, labels: train.labels), 0.95, "the toy model learned")
        let data = Fixtures.toyImages(count: 32, seed: 14)
        let indices = (0..<32).map { Int64($0) }
        func mean(_ v: [Double]) -> Double { v.reduce(0, +) / Double(v.count) }
        let clean = mean(Fixtures.crossEntropies(net, data.images, labels: data.labels))
        // Uniform random signs of the same ε.
        var rng = KeyedRandom(seed: 15)
        let noisy = data.images.map { min(max($0 + (rng.next() & 1 == 0 ? eps : -eps), 0), 1) }
        let noise = mean(Fixtures.crossEntropies(net, noisy, labels: data.labels))
        var ce: [AttackKind: Double] = [:]
        for settings in [AttackSettings(kind: .fgsm, epsilon: eps), AttackSettings(kind: .fgsmRS, epsilon: eps),
                         AttackSettings(kind: .pgd, epsilon: eps, steps: 10)] {
            let attacker = Attacker(network: net)
            let out = perturb(attacker, data.images, labels: data.labels, indices: indices, settings: settings)
            let attacked = mean(Fixtures.crossEntropies(net, out, labels: data.labels))
            ce[settings.kind] = attacked
            XCTAssertGreaterThan(attacked - clean, 2 * (noise - clean), "\(settings.kind) vs random signs")
            XCTAssertGreaterThan(attacked, clean, "\(settings.kind) raises the loss")
        }
        XCTAssertGreaterThanOrEqual(ce[.pgd]!, ce[.fgsm]!, "PGD-10 at least as strong as FGSM")
        // FGSM's startLoss is CE at x.
        let attacker = Attacker(network: net)
        _ = perturb(attacker, data.images, labels: data.labels, indices: indices, settings: AttackSettings(kind: .fgsm, epsilon: eps))
        let ceX = Fixtures.crossEntropies(net, data.images, labels: data.labels)
        assertClose(Fixtures.values(attacker.startLoss, 32), ceX.map(Float.init), relative: 1e-5, absolute: 1e-6, "startLoss")
    }

    func testAttackLeavesParameterGradientsAlone() {
        let net = Fixtures.trainedMLP(steps: 2)
        let sentinel = randomFloats(net.parameterCount, seed: 16)
        net.gradients.buffer.baseAddress!.update(from: sentinel, count: sentinel.count)
        let data = Fixtures.toyImages(count: 4, seed: 17)
        for settings in allSettings {
            _ = perturb(Attacker(network: net), data.images, labels: data.labels, indices: [0, 1, 2, 3], settings: settings)
        }
        XCTAssertEqual(Array(net.gradients.buffer.prefix(net.parameterCount)), sentinel)
    }
}
