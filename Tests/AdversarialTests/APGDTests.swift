@testable import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// APGD: the reference's step-size checkpoints, the DLR losses and their gradients, the
/// ε-ball, strength against PGD, and independence of the batch.
final class APGDTests: XCTestCase {
    func testCheckpointsFollowTheReference() {
        // n₂ = 22, then intervals −3 down to 6: p_j = 0, .22, .41, .57, .70, .80, .87, .93, .99.
        let c = APGDSettings(epsilon: 0.1).checkpoints
        XCTAssertEqual(c.map(\.iteration), [21, 40, 56, 69, 79, 86, 92, 98])
        XCTAssertEqual(c.map(\.interval), [22, 19, 16, 13, 10, 7, 6, 6])
        // N = 10: n₂ = max(⌊2.2⌋, 1) = 2, then the minimum max(⌊0.6⌋, 1) = 1.
        XCTAssertEqual(APGDSettings(epsilon: 0.1, iterations: 10).checkpoints.map(\.iteration), [1, 2, 3, 4, 5, 6, 7, 8, 9])
        XCTAssertEqual(APGDSettings(epsilon: 0.1, iterations: 1).checkpoints.map(\.iteration), [0])
    }

    func testDLRHandComputed() {
        let z: [Float] = [3, 1, 2, 0]
        z.withUnsafeBufferPointer { r in
            // y = 0 is the top class: −(3 − 2)/(3 − 1) = −0.5.
            XCTAssertEqual(DLR.loss(r.baseAddress!, 4, label: 0, gradient: nil), -0.5, accuracy: 1e-6)
            // y = 1: −(1 − 3)/(3 − 1) = 1.
            XCTAssertEqual(DLR.loss(r.baseAddress!, 4, label: 1, gradient: nil), 1, accuracy: 1e-6)
            // Targeted, y = 0, t = 3: −(3 − 0)/(3 − (1 + 0)/2) = −1.2.
            XCTAssertEqual(DLR.targetedLoss(r.baseAddress!, 4, label: 0, target: 3, gradient: nil), -1.2, accuracy: 1e-6)
            XCTAssertEqual(DLR.margin(r.baseAddress!, 4, label: 2), -1)
            // y = π3: −(1 − 3)/(3 − 1) = 1 whatever the logits, so the gradient vanishes.
            var g = [Float](repeating: .nan, count: 4)
            XCTAssertEqual(DLR.loss(r.baseAddress!, 4, label: 1, gradient: &g), 1, accuracy: 1e-6)
            for v in g { XCTAssertEqual(v, 0, accuracy: 1e-6) }
            XCTAssertEqual(DLR.classesByLogit(r.baseAddress!, 4), [0, 2, 1, 3])
        }
        // Ties: the later index first, as the tail of an ascending sort.
        let tied: [Float] = [1, 2, 2, 0]
        tied.withUnsafeBufferPointer { XCTAssertEqual(DLR.classesByLogit($0.baseAddress!, 4), [2, 1, 0, 3]) }
    }

    func testDLRGradientsMatchFiniteDifferences() {
        for trial in 0..<20 {
            let k = 10
            var z = randomFloats(k, seed: UInt64(trial), low: -3, high: 3)
            // y = π3 makes the untargeted DLR constant (−(z_π3 − z_π1)/(z_π1 − z_π3) = 1): skip it.
            let third = DLR.classesByLogit(z, k)[2]
            let y = trial % k == third ? (trial + 1) % k : trial % k
            let t = (trial * 7 + 3) % k == y ? (y + 1) % k : (trial * 7 + 3) % k
            for targeted in [false, true] {
                var g = [Float](repeating: 0, count: k)
                z.withUnsafeBufferPointer { r in
                    g.withUnsafeMutableBufferPointer { gp in
                        if targeted { _ = DLR.targetedLoss(r.baseAddress!, k, label: y, target: t, gradient: gp.baseAddress!) }
                        else { _ = DLR.loss(r.baseAddress!, k, label: y, gradient: gp.baseAddress!) }
                    }
                }
                let numerical = z.withUnsafeMutableBufferPointer { zp in
                    finiteDifferences(zp.baseAddress!, coordinates: Array(0..<k), h: 1e-3) {
                        Double(targeted ? DLR.targetedLoss(zp.baseAddress!, k, label: y, target: t, gradient: nil)
                                        : DLR.loss(zp.baseAddress!, k, label: y, gradient: nil))
                    }
                }
                assertGradientsMatch(analytic: g.map(Double.init), numerical: numerical, relative: 2e-2, absolute: 2e-3,
                                     "DLR\(targeted ? "-T" : "") trial \(trial)")
            }
        }
    }

    func testStaysInBallAndBox() {
        let net = RobustFixtures.trainedMLP(steps: 20)
        let d = RobustFixtures.shape.count
        var test = RobustFixtures.data(count: 20, seed: 7)
        // Values on and near the box edges.
        for j in stride(from: 0, to: test.images.count, by: 5) { test.images[j] = j.isMultiple(of: 2) ? 0 : 1 }
        let indices = (0..<20).map { Int64($0) }
        for loss in APGDLoss.allCases {
            for eps: Float in [0.03, 0.3] {
                let attack = APGDAttack(network: net, settings: APGDSettings(epsilon: eps, loss: loss, iterations: 12,
                                                                             restarts: 2, targetClasses: 3))
                let (out, fooled) = RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices)
                RobustFixtures.assertInBallAndBox(out, test.images, eps: eps, "apgd \(loss.rawValue) ε \(eps)")
                let p = out.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 20) }
                for i in 0..<20 {
                    if fooled[i] { XCTAssertNotEqual(p[i], Int(test.labels[i]), "\(loss.rawValue): fooled means misclassified") }
                    else { XCTAssertEqual(Array(out[(i * d)..<(i * d + d)]), Array(test.images[(i * d)..<(i * d + d)])) }
                }
            }
        }
    }

    /// APGD-CE with its default 100 iterations fools at least every sample PGD-20 fools
    /// (in count), on a trained model.
    func testAPGDCEAtLeastAsStrongAsPGD20() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 100, seed: 8)
        let indices = (0..<100).map { Int64($0) }
        let eps = RobustFixtures.eps
        let apgd = APGDAttack(network: net, settings: APGDSettings(epsilon: eps), seed: 1)
        let (_, apgdFooled) = RobustFixtures.run(apgd, test.images, labels: test.labels, indices: indices)
        let pgd = AttackerAttack(network: net, settings: AttackSettings(kind: .pgd, epsilon: eps, steps: 20), seed: 1)
        let (pgdOut, _) = RobustFixtures.run(pgd, test.images, labels: test.labels, indices: indices)
        let clean = test.images.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 100) }
        let atPGD = pgdOut.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 100) }
        let pgdRobust = (0..<100).filter { clean[$0] == Int(test.labels[$0]) && atPGD[$0] == Int(test.labels[$0]) }.count
        let apgdRobust = apgdFooled.filter { !$0 }.count
        let cleanCorrect = (0..<100).filter { clean[$0] == Int(test.labels[$0]) }.count
        XCTAssertLessThan(pgdRobust, cleanCorrect, "PGD-20 has something to do")
        XCTAssertGreaterThan(pgdRobust, 0, "ε leaves some samples robust")
        XCTAssertLessThanOrEqual(apgdRobust, pgdRobust, "APGD-CE \(apgdRobust) vs PGD-20 \(pgdRobust) robust of \(cleanCorrect)")
    }

    /// A sample's x* depends on its index and the seed, not on the other samples in the batch.
    func testBatchCompositionDoesNotMatter() {
        let net = RobustFixtures.trainedMLP(steps: 30)
        let d = RobustFixtures.shape.count
        let test = RobustFixtures.data(count: 12, seed: 9)
        let indices = (0..<12).map { Int64(40 + $0) }
        for loss in [APGDLoss.crossEntropy, .targetedDLR] {
            let settings = APGDSettings(epsilon: RobustFixtures.eps, loss: loss, iterations: 15, targetClasses: 3)
            let (whole, wholeFooled) = RobustFixtures.run(APGDAttack(network: net, settings: settings, seed: 5),
                                                          test.images, labels: test.labels, indices: indices)
            for i in [0, 5, 11] {
                let (one, oneFooled) = RobustFixtures.run(APGDAttack(network: net, settings: settings, seed: 5),
                                                          Array(test.images[(i * d)..<(i * d + d)]),
                                                          labels: [test.labels[i]], indices: [indices[i]])
                XCTAssertEqual(oneFooled[0], wholeFooled[i], "\(loss.rawValue) sample \(i)")
                assertClose(one, Array(whole[(i * d)..<(i * d + d)]), relative: 0, absolute: 1e-5, "\(loss.rawValue) sample \(i)")
            }
            let (other, _) = RobustFixtures.run(APGDAttack(network: net, settings: settings, seed: 6),
                                                test.images, labels: test.labels, indices: indices)
            if wholeFooled.contains(true) { XCTAssertNotEqual(other, whole, "the seed keys the random starts") }
        }
    }

    func testEachLossLowersAccuracy() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 50, seed: 10)
        let indices = (0..<50).map { Int64($0) }
        let clean = RobustFixtures.accuracy(net, test.images, labels: test.labels)
        for loss in APGDLoss.allCases {
            let attack = APGDAttack(network: net, settings: APGDSettings(epsilon: RobustFixtures.eps, loss: loss, iterations: 30))
            let (out, _) = RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices)
            let robust = RobustFixtures.accuracy(net, out, labels: test.labels)
            XCTAssertLessThan(robust, clean - 0.1, "\(loss.rawValue): \(robust) vs clean \(clean)")
        }
    }
}
