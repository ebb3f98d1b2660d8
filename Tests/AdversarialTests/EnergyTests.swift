import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// E(x) = −logsumexp f(x), E(x,y) = −f(x)_y, CE = E(x,y) − E(x) on hand-computed logits.
final class EnergyTests: XCTestCase {
    func lse(_ f: [Float]) -> Float { f.withUnsafeBufferPointer { Energy.logSumExp($0.baseAddress!, f.count) } }
    func argmax(_ f: [Float]) -> Int { f.withUnsafeBufferPointer { Energy.argmax($0.baseAddress!, f.count) } }

    func testLogSumExpHandValues() {
        // log(e⁰ + e^{ln 3}) = ln 4
        XCTAssertEqual(lse([0, logf(3)]), logf(4), accuracy: 1e-6)
        // four equal logits ln 2: ln(4·2) = ln 8
        XCTAssertEqual(lse([logf(2), logf(2), logf(2), logf(2)]), logf(8), accuracy: 1e-6)
        // a single logit is its own logsumexp
        XCTAssertEqual(lse([-2.5]), -2.5)
        // ln(1 + 2 + 3) with logits ln 1, ln 2, ln 3 in any order
        XCTAssertEqual(lse([logf(3), 0, logf(2)]), logf(6), accuracy: 1e-6)
        // a −∞ logit contributes nothing
        XCTAssertEqual(lse([-.infinity, 1.5]), 1.5)
    }

    func testLogSumExpLargeLogitsStayFinite() {
        let cases: [([Float], Float)] = [
            ([1e4, 1e4], 1e4 + logf(2)),
            ([1e4, -1e4], 1e4),
            ([-1e4, -1e4, -1e4, -1e4], -1e4 + logf(4)),
            ([3e4, 3e4 - 1, 0], 3e4 + logf(1 + expf(-1))),
        ]
        for (f, expected) in cases {
            let v = lse(f)
            XCTAssert(v.isFinite, "\(f) → \(v)")
            // ulp(3e4) ≈ 0.002: compare to a few ulps of the result
            XCTAssertEqual(v, expected, accuracy: 4 * expected.ulp, "\(f)")
        }
        // CE gradient on huge logits: finite, softmax − onehot.
        let f: [Float] = [1e4, 1e4 - logf(3), -1e4]
        var g = [Float](repeating: .nan, count: 3)
        let ce = f.withUnsafeBufferPointer { fp in
            g.withUnsafeMutableBufferPointer { Energy.crossEntropyGradient(fp.baseAddress!, 3, label: 2, scale: 1, into: $0.baseAddress!) }
        }
        XCTAssert(ce.isFinite && g.allSatisfy(\.isFinite), "\(ce) \(g)")
        XCTAssertEqual(ce, 2e4 + logf(4.0 / 3), accuracy: 4 * Float(2e4).ulp)
        XCTAssertEqual(g[0], 0.75, accuracy: 1e-3)
        XCTAssertEqual(g[1], 0.25, accuracy: 1e-3)
        XCTAssertEqual(g[2], -1)
    }

    func testEnergiesAndCrossEntropyOnHandLogits() {
        // f = [0, ln 3]: E(x) = −ln 4; E(x,0) = 0, E(x,1) = −ln 3; CE(0) = ln 4, CE(1) = ln(4/3).
        let f: [Float] = [0, logf(3)]
        let e = -lse(f)
        XCTAssertEqual(e, -logf(4), accuracy: 1e-6)
        for (y, joint, ce) in [(0, Float(0), logf(4)), (1, -logf(3), logf(4.0 / 3))] {
            XCTAssertEqual(-f[y], joint, accuracy: 1e-6)
            var g = [Float](repeating: 0, count: 2)
            let c = f.withUnsafeBufferPointer { fp in
                g.withUnsafeMutableBufferPointer { Energy.crossEntropyGradient(fp.baseAddress!, 2, label: y, scale: 1, into: $0.baseAddress!) }
            }
            XCTAssertEqual(c, ce, accuracy: 1e-6, "CE(x, \(y))")
            XCTAssertEqual(c, -f[y] - e, accuracy: 1e-6, "CE = E(x,y) − E(x)")
            // softmax = [1/4, 3/4]
            XCTAssertEqual(g[0], 0.25 - (y == 0 ? 1 : 0), accuracy: 1e-6)
            XCTAssertEqual(g[1], 0.75 - (y == 1 ? 1 : 0), accuracy: 1e-6)
        }
    }

    func testCrossEntropyGradientIsScaledSoftmaxMinusOnehot() {
        let k = 5
        for seed in UInt64(0)..<6 {
            let f = randomFloats(k, seed: 100 + seed, low: -4, high: 4)
            let y = Int(seed) % k
            let scale: Float = seed.isMultiple(of: 2) ? 1 : 0.125
            var g = [Float](repeating: .nan, count: k)
            let ce = f.withUnsafeBufferPointer { fp in
                g.withUnsafeMutableBufferPointer { Energy.crossEntropyGradient(fp.baseAddress!, k, label: y, scale: scale, into: $0.baseAddress!) }
            }
            let fd = f.map(Double.init)
            let l = Fixtures.logSumExp(fd[...])
            XCTAssertEqual(Double(ce), l - fd[y], accuracy: 1e-5)
            let expected = (0..<k).map { Float(Double(scale) * (exp(fd[$0] - l) - ($0 == y ? 1 : 0))) }
            assertClose(g, expected, relative: 1e-5, absolute: 1e-7, "seed \(seed)")
            XCTAssertEqual(Double(g.reduce(0, +)), 0, accuracy: 1e-6, "gradient rows sum to zero")
        }
    }

    func testSoftmaxMatchesExpMinusLogSumExpAndReturnsIt() {
        for (seed, k) in [(UInt64(1), 10), (2, 3), (3, 100), (4, 1)] {
            let f = randomFloats(k, seed: 200 + seed, low: -30, high: 30)
            var p = [Float](repeating: .nan, count: k)
            let value = f.withUnsafeBufferPointer { fp in
                p.withUnsafeMutableBufferPointer { Energy.softmax(fp.baseAddress!, k, into: $0.baseAddress!) }
            }
            XCTAssertEqual(value, lse(f), accuracy: 2 * max(abs(value), 1).ulp, "k \(k)")
            let fd = f.map(Double.init), l = Fixtures.logSumExp(fd[...])
            assertClose(p, fd.map { Float(exp($0 - l)) }, relative: 1e-5, absolute: 1e-30, "k \(k)")
            XCTAssertEqual(Double(p.reduce(0, +)), 1, accuracy: 1e-5)
        }
        // A non-finite maximum: logsumexp is that maximum, as logSumExp gives.
        for f: [Float] in [[.infinity, 0], [-.infinity, -.infinity], [.nan, 1]] {
            var p = [Float](repeating: 0, count: 2)
            let v = f.withUnsafeBufferPointer { fp in
                p.withUnsafeMutableBufferPointer { Energy.softmax(fp.baseAddress!, 2, into: $0.baseAddress!) }
            }
            XCTAssert(v == lse(f) || (v.isNaN && lse(f).isNaN), "\(f): \(v) vs \(lse(f))")
        }
    }

    func testArgmaxTakesFirstOnTies() {
        XCTAssertEqual(argmax([1, 3, 3, 2]), 1)
        XCTAssertEqual(argmax([5, 1, 5]), 0)
        XCTAssertEqual(argmax([-3, -1, -2]), 1)
        XCTAssertEqual(argmax([0]), 0)
    }
}
