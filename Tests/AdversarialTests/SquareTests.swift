@testable import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// Square Attack: the p schedule, vertices of the ε-ball, strength and keyed randomness.
final class SquareTests: XCTestCase {
    func testPScheduleAndSquareSide() {
        let s = SquareSettings(epsilon: 0.1)
        let expected: [(Int, Double)] = [(0, 0.8), (10, 0.8), (11, 0.4), (50, 0.4), (51, 0.2), (200, 0.2), (201, 0.1),
                                         (501, 0.05), (1001, 0.025), (2001, 0.0125), (4001, 0.8 / 128), (6001, 0.8 / 256),
                                         (8001, 0.8 / 512), (20000, 0.8 / 512)]
        for (it, p) in expected { XCTAssertEqual(s.p(iteration: it), p, accuracy: 1e-12, "iteration \(it)") }
        let mnist = Shape(1, 28, 28)
        XCTAssertEqual(s.side(iteration: 0, shape: mnist), 25)        // round(√(0.8·784)) = round(25.04)
        XCTAssertEqual(s.side(iteration: 11, shape: mnist), 18)       // round(17.7)
        XCTAssertEqual(s.side(iteration: 8001, shape: mnist), 1)      // round(1.107)
        XCTAssertEqual(s.side(iteration: 0, shape: Shape(3, 32, 32)), 29) // round(√(0.8·1024)) = round(28.6)
        // Python's round: half to even. √(p·64) = 4.5 exactly for p = 81/256.
        XCTAssertEqual(SquareSettings(epsilon: 0.1, pInit: 81.0 / 256).side(iteration: 0, shape: Shape(1, 8, 8)), 4)
        // resc_schedule stretches the schedule written for 10 000 queries.
        let r = SquareSettings(epsilon: 0.1, queries: 1000, rescaleSchedule: true)
        XCTAssertEqual(r.p(iteration: 100), 0.8 / 16, accuracy: 1e-12)   // it → 1000
        XCTAssertEqual(r.p(iteration: 1), 0.8, accuracy: 1e-12)          // it → 10
    }

    /// Every coordinate of x* − x is ±ε unless the box cut it (Square samples vertices of the
    /// ε-ball), and x* stays in the ball and box.
    func testVerticesOfTheBall() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 40, seed: 14)
        let indices = (0..<40).map { Int64($0) }
        let eps = RobustFixtures.eps
        let attack = SquareAttack(network: net, settings: SquareSettings(epsilon: eps, queries: 400))
        let (out, fooled) = RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices)
        RobustFixtures.assertInBallAndBox(out, test.images, eps: eps, "square")
        let d = RobustFixtures.shape.count
        XCTAssert(fooled.contains(true))
        let clean = test.images.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 40) }
        // Samples misclassified at x are "fooled" with x* = x; the others moved to a vertex.
        for i in 0..<40 where fooled[i] && clean[i] == Int(test.labels[i]) {
            for j in (i * d)..<(i * d + d) {
                let delta = abs(out[j] - test.images[j])
                XCTAssert(abs(delta - eps) < 1e-6 || out[j] == 0 || out[j] == 1, "sample \(i): |δ| = \(delta)")
            }
        }
        let p = out.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 40) }
        for i in 0..<40 { XCTAssertEqual(fooled[i], p[i] != Int(test.labels[i]) , "sample \(i)") }
    }

    func testLowersAccuracyMoreWithMoreQueries() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 50, seed: 15)
        let indices = (0..<50).map { Int64($0) }
        let clean = RobustFixtures.accuracy(net, test.images, labels: test.labels)
        var previous = clean
        for queries in [0, 100, 1000] {
            let attack = SquareAttack(network: net, settings: SquareSettings(epsilon: RobustFixtures.eps, queries: queries))
            let (out, _) = RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices)
            let robust = RobustFixtures.accuracy(net, out, labels: test.labels)
            // The same keyed draws, continued: more queries can only fool more samples.
            XCTAssertLessThanOrEqual(robust, previous, "\(queries) queries")
            previous = robust
        }
        XCTAssertLessThan(previous, clean - 0.1, "square 1000: \(previous) vs clean \(clean)")
    }

    func testKeyedPerSample() {
        let net = RobustFixtures.trainedMLP(steps: 30)
        let d = RobustFixtures.shape.count
        let test = RobustFixtures.data(count: 8, seed: 16)
        let settings = SquareSettings(epsilon: 0.15, queries: 60)
        let indices = (0..<8).map { Int64(300 + $0) }
        let (whole, fooled) = RobustFixtures.run(SquareAttack(network: net, settings: settings, seed: 4), test.images,
                                                 labels: test.labels, indices: indices)
        XCTAssert(fooled.contains(true), "something to compare")
        for i in [1, 6] {
            let (one, _) = RobustFixtures.run(SquareAttack(network: net, settings: settings, seed: 4),
                                              Array(test.images[(i * d)..<(i * d + d)]), labels: [test.labels[i]],
                                              indices: [indices[i]])
            assertClose(one, Array(whole[(i * d)..<(i * d + d)]), relative: 0, absolute: 1e-6, "sample \(i)")
        }
        let (reseeded, _) = RobustFixtures.run(SquareAttack(network: net, settings: settings, seed: 5), test.images,
                                               labels: test.labels, indices: indices)
        XCTAssertNotEqual(reseeded, whole)
    }
}
