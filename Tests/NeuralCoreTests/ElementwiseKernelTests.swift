import CKernels
import XCTest
@testable import NeuralCore

/// The C elementwise kernels against the Swift expressions they replaced, bit for bit (NaN as
/// NaN), at every
/// vector level this CPU runs (AVX-512, AVX2, baseline), on values that include NaN, ±∞, ±0
/// and the ε-ball and box boundaries.
final class ElementwiseKernelTests: XCTestCase {
    override func tearDown() { dtk_limit_vector_level(-1) }

    private var levels: [Int32] { Array(0...dtk_vector_level()) }

    /// n values: mostly uniform in [-2, 2), with specials spread through (odd lengths test the
    /// vector remainders).
    private func values(_ n: Int, seed: UInt64) -> [Float] {
        var rng = KeyedRandom(seed: seed)
        let specials: [Float] = [.nan, .infinity, -.infinity, 0, -0.0, 1, -1, 0.1, -0.1, .leastNonzeroMagnitude]
        return (0..<n).map { i in i % 7 == 3 ? specials[(i / 7) % specials.count] : rng.uniform(2) }
    }

    private func assertBitwise(_ a: [Float], _ b: [Float], _ what: String, level: Int32,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(a.count, b.count, file: file, line: line)
        // A NaN's sign and payload are not kept by IEEE arithmetic (nor by LLVM, which may swap
        // the operands of an addition), so any NaN matches any NaN.
        let bad = zip(a, b).enumerated().first { e in
            e.element.0.bitPattern != e.element.1.bitPattern && !(e.element.0.isNaN && e.element.1.isNaN)
        }
        XCTAssertNil(bad, "\(what) at vector level \(level): element \(bad?.offset ?? -1) is \(bad?.element.0 ?? 0), Swift gives \(bad?.element.1 ?? 0)",
                     file: file, line: line)
    }

    func testBiasReLUAndColumnSumsMatchSwift() {
        let rows = 37, cols = 23
        let y0 = values(rows * cols, seed: 1), b = values(cols, seed: 2)
        for level in levels {
            dtk_limit_vector_level(level)
            for relu in [false, true] {
                var c = y0
                dtk_add_bias(&c, rows, cols, b, relu ? 1 : 0)
                let swift = (0..<rows * cols).map { i in relu ? max(y0[i] + b[i % cols], 0) : y0[i] + b[i % cols] }
                assertBitwise(c, swift, relu ? "bias + ReLU" : "bias", level: level)
            }
            var r = [Float](repeating: 7, count: y0.count)
            dtk_relu(y0, &r, y0.count)
            assertBitwise(r, y0.map { max($0, 0) }, "ReLU", level: level)
            var sums = b
            dtk_add_column_sums(y0, rows, cols, &sums)
            var swiftSums = b
            for i in 0..<rows { for j in 0..<cols { swiftSums[j] += y0[i * cols + j] } }
            assertBitwise(sums, swiftSums, "column sums", level: level)
        }
    }

    /// The pooling forward pass, moved from Swift: the window's maximum, NaN kept once it appears
    /// (the models' 2×2 windows on 32 and 64 channels, and an odd shape with a 3×3 window whose
    /// last rows and columns no window covers).
    func testMaxPoolForwardMatchesSwift() {
        for (t, (c, k, h, w)) in [(32, 2, 6, 4), (64, 2, 4, 6), (5, 3, 7, 8)].enumerated() {
            let batch = 3, oh = h / k, ow = w / k
            let x = values(batch * h * w * c, seed: 40 + UInt64(t))
            var swift = [Float](repeating: 0, count: batch * oh * ow * c)
            for s in 0..<batch {
                for oy in 0..<oh {
                    for ox in 0..<ow {
                        for ch in 0..<c {
                            let o = ((s * oh + oy) * ow + ox) * c + ch
                            for ky in 0..<k {
                                for kx in 0..<k {
                                    let b = x[((s * h + oy * k + ky) * w + ox * k + kx) * c + ch]
                                    let a = swift[o]
                                    swift[o] = ky + kx == 0 || b > a || (b != b && a == a) ? b : a
                                }
                            }
                        }
                    }
                }
            }
            XCTAssert(swift.contains { $0.isNaN } && swift.contains { $0 == .infinity }, "the inputs reach NaN and ∞ maxima")
            for level in levels {
                dtk_limit_vector_level(level)
                var y = [Float](repeating: 7, count: swift.count)
                dtk_maxpool_forward(x, &y, batch, h, w, c, k)
                assertBitwise(y, swift, "max pooling \(k)×\(k) on \(c) channels", level: level)
            }
        }
    }

    func testReLUMaskMatchesSwift() {
        let rows = 29, width = 19
        let dy = values(rows * width, seed: 3), y = values(rows * width, seed: 4), start = values(width, seed: 5)
        let swift = (0..<dy.count).map { i in y[i] > 0 ? dy[i] : 0 * dy[i] }
        var swiftSums = start
        for i in 0..<rows { for j in 0..<width { swiftSums[j] += swift[i * width + j] } }
        for level in levels {
            dtk_limit_vector_level(level)
            var dz = [Float](repeating: 7, count: dy.count), sums = start
            dtk_relu_mask(dy, y, &dz, rows, width, &sums)
            assertBitwise(dz, swift, "mask with sums", level: level)
            assertBitwise(sums, swiftSums, "mask's column sums", level: level)
            var plain = [Float](repeating: 7, count: dy.count)
            dtk_relu_mask(dy, y, &plain, rows, width, nil)
            assertBitwise(plain, swift, "mask", level: level)
            // In place (ReLU's dx may be its dy).
            var inPlace = dy
            inPlace.withUnsafeMutableBufferPointer { dtk_relu_mask($0.baseAddress, y, $0.baseAddress, rows, width, nil) }
            assertBitwise(inPlace, swift, "mask in place", level: level)
        }
    }

    func testSignStepProjectMatchesSwift() {
        let n = 1001, eps: Float = 0.1, alpha: Float = 0.025
        // x in the box, out within and beyond the ε-ball, gradients with specials.
        let x = values(n, seed: 6).map { $0.isFinite ? min(max(abs($0) / 2, 0), 1) : 0.5 }
        let out0 = zip(x, values(n, seed: 7)).map { $0 + ($1.isFinite ? $1 * eps : eps) }
        let g = values(n, seed: 8)
        func sign(_ v: Float) -> Float { v > 0 ? 1 : (v < 0 ? -1 : 0) }
        let swift = (0..<n).map { j -> Float in
            let step = out0[j] + alpha * sign(g[j])
            return min(max(x[j] + min(max(step - x[j], -eps), eps), 0), 1)
        }
        for level in levels {
            dtk_limit_vector_level(level)
            var out = out0
            dtk_sign_step_project(&out, x, g, n, alpha, eps)
            assertBitwise(out, swift, "sign step", level: level)
            XCTAssertTrue(zip(out, x).allSatisfy { abs($0 - $1) <= eps * 1.0001 && $0 >= 0 && $0 <= 1 })
        }
    }

    func testUniformStartDrawsKeyedRandomsStream() {
        let d = 797, eps: Float = 0.3
        let x = values(d, seed: 9).map { $0.isFinite ? min(max($0, 0), 1) : 0 }
        for keys: [UInt64] in [[1, 0, 5, 0], [3, 17, 123_456_789, 2]] {
            let start = KeyedRandom(seed: 42, keys: keys[0], keys[1], keys[2], keys[3])
            var rng = start
            let swift = x.map { min(max($0 + rng.uniform(eps), 0), 1) }
            for level in levels {
                dtk_limit_vector_level(level)
                var out = [Float](repeating: 7, count: d)
                dtk_uniform_start(x, &out, d, start.counter, eps)
                assertBitwise(out, swift, "random start \(keys)", level: level)
            }
        }
    }
}

extension ElementwiseKernelTests {
    func testLayoutTransposesRoundTrip() {
        for (hw, c) in [(49, 32), (49, 64), (16, 16), (40, 24), (9, 3), (1, 17)] {
            let batch = 3, n = hw * c
            let x = (0..<batch * n).map { Float($0) }
            var expected = [Float](repeating: 0, count: x.count)
            for s in 0..<batch { for p in 0..<hw { for ch in 0..<c { expected[s * n + ch * hw + p] = x[s * n + p * c + ch] } } }
            for level in levels {
                dtk_limit_vector_level(level)
                var chw = [Float](repeating: -1, count: x.count), back = chw
                dtk_transpose_each(x, &chw, batch, hw, c)
                XCTAssertEqual(chw, expected, "hwc → chw, \(hw)×\(c), level \(level)")
                dtk_transpose_each(chw, &back, batch, c, hw)
                XCTAssertEqual(back, x, "chw → hwc, \(hw)×\(c), level \(level)")
            }
        }
    }
}
