@testable import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// FAB-T: the L∞ projection against a direct port of the reference's algorithm, and the
/// attack's constraints, strength and determinism.
final class FABTests: XCTestCase {
    /// `projection_linf` of autoattack/fab_projections.py transcribed for one point, in Double.
    func referenceProjection(_ t: [Float], _ wIn: [Float], _ bIn: Float) -> [Float] {
        let n = t.count
        var dot = 0.0
        for j in 0..<n { dot += Double(wIn[j]) * Double(t[j]) }
        let sgn: Double = dot - Double(bIn) >= 0 ? 1 : -1
        let w = wIn.map { Double($0) * sgn }
        var b = Double(bIn) * sgn
        let tt = t.map(Double.init)
        let a = w.map { $0 < 0 ? 1.0 : 0.0 }
        var d = (0..<n).map { w[$0] != 0 ? a[$0] - tt[$0] : 0 }
        let p = (0..<n).map { a[$0] - tt[$0] * (2 * a[$0] - 1) }
        let indp = (0..<n).sorted { p[$0] < p[$1] || (p[$0] == p[$1] && $0 < $1) }
        b -= (0..<n).reduce(0) { $0 + w[$1] * tt[$1] }
        let b0 = (0..<n).reduce(0) { $0 + w[$1] * d[$1] }
        let indp2 = Array(indp.reversed())
        var s = [Double](repeating: 0, count: n), sb = s
        var cs = 0.0, csb = b0
        for m in 0..<n { cs += abs(w[indp2[m]]); csb += -w[indp2[m]] * d[indp2[m]]; s[m] = cs; sb[m] = csb }
        let b2 = sb[n - 1] - s[n - 1] * p[indp[0]]
        let cl = b - b2 > 0
        let c2 = (b - b0 > 0) && (b - b2 <= 0)
        if cl {
            let l = max((b - sb[n - 1]) / -s[n - 1], 0)
            d = a.map { (2 * $0 - 1) * l }
        } else if c2 {
            var lb = 0.0, ub = Double(n - 1)
            for _ in 0..<Int(ceil(log2(Double(n)))) {
                let c4 = floor((lb + ub) / 2), c = Int(c4)
                let b2c = sb[c] - s[c] * p[indp[n - 1 - c]]
                if b - b2c > 0 { lb = c4 } else { ub = c4 }
            }
            let l = max((b - sb[Int(lb)]) / -s[Int(lb)], 0)
            for j in 0..<n { d[j] = a[j] == 1 ? min(l, d[j]) : max(-l, d[j]) }
        }
        return (0..<n).map { w[$0] != 0 ? Float(d[$0]) : 0 }
    }

    func projection(_ t: [Float], _ w: [Float], _ b: Float) -> [Float] {
        let proj = FABProjection(d: t.count)
        var out = [Float](repeating: .nan, count: t.count)
        t.withUnsafeBufferPointer { tp in
            w.withUnsafeBufferPointer { wp in
                out.withUnsafeMutableBufferPointer { proj.linf(point: tp.baseAddress!, w: wp.baseAddress!, b: b, into: $0.baseAddress!) }
            }
        }
        return out
    }

    func testProjectionMatchesTheReferenceAlgorithm() {
        var cases = 0, reached = 0, lambdaBelowAll = 0
        for trial in 0..<300 {
            let n = [1, 2, 5, 17, 64][trial % 5]
            var rng = KeyedRandom(seed: 77, keys: UInt64(trial))
            var t = (0..<n).map { _ in rng.nextFloat() }
            var w = (0..<n).map { _ in rng.uniform(1) }
            // Zeros in w, points on the box faces, ties in the room p.
            for j in 0..<n where rng.below(6) == 0 { w[j] = 0 }
            for j in 0..<n where rng.below(8) == 0 { t[j] = rng.below(2) == 0 ? 0 : 1 }
            if n > 3 { t[1] = t[0]; t[2] = 1 - t[0] }
            var dot: Float = 0
            for j in 0..<n { dot += w[j] * t[j] }
            // Hyperplanes near and far: reachable, needing the whole box, and out of reach.
            let scale = Float(n).squareRoot() * [0.05, 0.3, 1, 3][trial % 4]
            let b = dot + (rng.nextFloat() < 0.5 ? 1 : -1) * rng.nextFloat() * scale
            let mine = projection(t, w, b), theirs = referenceProjection(t, w, b)
            assertClose(mine, theirs, relative: 1e-4, absolute: 1e-5, "trial \(trial) n \(n)")
            // When reachable, t + δ is on the hyperplane and in the box.
            var after = 0.0
            for j in 0..<n {
                XCTAssert(t[j] + mine[j] >= -1e-6 && t[j] + mine[j] <= 1 + 1e-6, "trial \(trial): left the box")
                after += Double(w[j]) * Double(t[j] + mine[j])
            }
            let corner = (0..<n).reduce(0.0) { acc, j in
                acc + Double(w[j]) * (w[j] == 0 ? Double(t[j]) : ((dot >= b) == (w[j] < 0) ? 1 : 0))
            }
            let reachable = dot >= b ? corner < Double(b) : corner > Double(b)
            if reachable {
                XCTAssertEqual(after, Double(b), accuracy: 1e-4 * (1 + abs(Double(b))), "trial \(trial): not on the hyperplane")
                reached += 1
                let norm = mine.map(abs).max() ?? 0
                if (0..<n).allSatisfy({ w[$0] == 0 || abs(abs(mine[$0]) - norm) < 1e-6 }) { lambdaBelowAll += 1 }
            }
            cases += 1
        }
        XCTAssertGreaterThan(reached, 50); XCTAssertLessThan(reached, cases - 30, "both reachable and unreachable cases")
        XCTAssertGreaterThan(lambdaBelowAll, 5, "some cases move every coordinate by λ (the reference's c_l branch)")
    }

    func testStaysInBallAndBoxAndLowersAccuracy() {
        let net = RobustFixtures.trainedMLP()
        let d = RobustFixtures.shape.count
        let test = RobustFixtures.data(count: 40, seed: 11)
        let indices = (0..<40).map { Int64($0) }
        let clean = RobustFixtures.accuracy(net, test.images, labels: test.labels)
        for (restarts, search) in [(1, 0), (2, 3)] {
            let settings = FABSettings(epsilon: RobustFixtures.eps, iterations: 20, restarts: restarts, finalSearchSteps: search)
            let attack = FABAttack(network: net, settings: settings)
            let (out, fooled) = RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices)
            RobustFixtures.assertInBallAndBox(out, test.images, eps: RobustFixtures.eps, "fab-t restarts \(restarts)")
            let p = out.withUnsafeBufferPointer { predictions(net, $0.baseAddress!, n: 40) }
            for i in 0..<40 where !fooled[i] {
                XCTAssertEqual(Array(out[(i * d)..<(i * d + d)]), Array(test.images[(i * d)..<(i * d + d)]), "x* = x when not fooled")
            }
            // FAB's points sit on the decision boundary (overshoot η = 1.05): in another batch
            // float rounding may tip one back, which the suite's check at x* then catches.
            let k = RobustFixtures.classes
            let logits = out.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 40), count: 40 * k)) }
            for i in 0..<40 where fooled[i] {
                let margin = logits.withUnsafeBufferPointer { DLR.margin($0.baseAddress! + i * k, k, label: Int(test.labels[i])) }
                XCTAssertLessThanOrEqual(margin, 1e-4, "sample \(i): fooled, but margin \(margin) at x*")
                if p[i] == Int(test.labels[i]) { print("FAB sample \(i) tipped back by rounding: margin \(margin)") }
            }
            let robust = RobustFixtures.accuracy(net, out, labels: test.labels)
            XCTAssertLessThan(robust, clean - 0.1, "fab-t: \(robust) vs clean \(clean)")
        }
    }

    /// The final search only shrinks the distance, so it can only add fooled samples; with a
    /// larger ε FAB-T fools at least as many samples.
    func testFinalSearchAndLargerEpsilonOnlyHelp() {
        let net = RobustFixtures.trainedMLP()
        let test = RobustFixtures.data(count: 40, seed: 12)
        let indices = (0..<40).map { Int64($0) }
        func fooled(_ eps: Float, search: Int) -> [Bool] {
            let attack = FABAttack(network: net, settings: FABSettings(epsilon: eps, iterations: 15, finalSearchSteps: search))
            return RobustFixtures.run(attack, test.images, labels: test.labels, indices: indices).1
        }
        let plain = fooled(RobustFixtures.eps, search: 0), searched = fooled(RobustFixtures.eps, search: 3)
        for i in 0..<40 where plain[i] { XCTAssert(searched[i], "sample \(i)") }
        let wide = fooled(2 * RobustFixtures.eps, search: 0)
        for i in 0..<40 where plain[i] { XCTAssert(wide[i], "sample \(i) at 2ε") }
        XCTAssertGreaterThan(wide.filter { $0 }.count, plain.filter { $0 }.count)
    }

    /// Without restarts FAB-T has no randomness; per sample it does not depend on its batch.
    func testDeterministicAndPerSample() {
        let net = RobustFixtures.trainedMLP(steps: 30)
        let d = RobustFixtures.shape.count
        let test = RobustFixtures.data(count: 10, seed: 13)
        let settings = FABSettings(epsilon: RobustFixtures.eps, iterations: 12)
        let (a, fa) = RobustFixtures.run(FABAttack(network: net, settings: settings, seed: 1), test.images,
                                         labels: test.labels, indices: Array(0..<10))
        let (b, fb) = RobustFixtures.run(FABAttack(network: net, settings: settings, seed: 2), test.images,
                                         labels: test.labels, indices: Array(100..<110))
        XCTAssertEqual(a, b); XCTAssertEqual(fa, fb)
        for i in [2, 7] {
            let (one, f1) = RobustFixtures.run(FABAttack(network: net, settings: settings), Array(test.images[(i * d)..<(i * d + d)]),
                                               labels: [test.labels[i]], indices: [Int64(i)])
            XCTAssertEqual(f1[0], fa[i])
            assertClose(one, Array(a[(i * d)..<(i * d + d)]), relative: 0, absolute: 1e-5, "sample \(i)")
        }
    }
}
