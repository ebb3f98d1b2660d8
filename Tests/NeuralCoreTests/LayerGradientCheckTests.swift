import NeuralCore
import TestSupport
import XCTest

/// Finite-difference checks of the parameter-free layers on their own (outside a Network):
/// L = Σ r ⊙ layer(x) for a fixed random r, so dL/dy = r, and `backward`'s dx must match
/// central differences of L at every input coordinate. Inputs are placed so that ±h never
/// crosses a ReLU kink or changes a pooling window's maximum, where the derivative jumps.
final class LayerGradientCheckTests: XCTestCase {
    /// Checks dx of `layer` at `x` (batch samples) against finite differences of Σ r ⊙ y,
    /// and that `backward` overwrites dx (it starts as NaN). Returns (dx, r) for further checks.
    @discardableResult
    func check(_ layer: any Layer, x: [Float], batch: Int, seed: UInt64, h: Float = 1e-3,
               file: StaticString = #filePath, line: UInt = #line) -> (dx: [Float], r: [Float]) {
        XCTAssertEqual(layer.parameterCount, 0, "\(layer.name) has no parameters", file: file, line: line)
        XCTAssertTrue(layer.parameterShapes.isEmpty, file: file, line: line)
        let n = layer.inputShape.count, m = layer.outputShape.count
        precondition(x.count == batch * n)
        layer.reserve(batch: batch)
        let r = randomFloats(batch * m, seed: seed)
        var xs = x
        var y = [Float](repeating: 0, count: batch * m)
        func loss(_ xp: UnsafePointer<Float>) -> Double {
            y.withUnsafeMutableBufferPointer { layer.forward(xp, $0.baseAddress!, batch: batch) }
            var s = 0.0
            for j in 0..<(batch * m) { s += Double(r[j]) * Double(y[j]) }
            return s
        }
        var dx = [Float](repeating: .nan, count: batch * n)
        xs.withUnsafeMutableBufferPointer { xb in
            let xp = xb.baseAddress!
            _ = loss(xp)
            y.withUnsafeBufferPointer { yb in
                r.withUnsafeBufferPointer { rb in
                    dx.withUnsafeMutableBufferPointer {
                        layer.backward(x: xp, y: yb.baseAddress!, dy: rb.baseAddress!, dx: $0.baseAddress!,
                                       batch: batch, parameterGradients: true)
                    }
                }
            }
            let coordinates = Array(0..<(batch * n))
            let numeric = finiteDifferences(xp, coordinates: coordinates, h: h) { loss(xp) }
            // Exact up to float32 rounding of x ± h: every central difference, not one of three.
            assertGradientsMatch(analytic: dx.map(Double.init), numerical: numeric.map { [$0[0]] },
                                 relative: 1e-3, absolute: 1e-4, "\(layer.name) input gradients", file: file, line: line)
        }
        XCTAssertFalse(dx.contains { $0.isNaN }, "\(layer.name): backward left dx unwritten", file: file, line: line)
        return (dx, r)
    }

    /// Values of magnitude in [0.05, 1] with random signs: at least 50·h from the kink at 0.
    func awayFromZero(_ count: Int, seed: UInt64) -> [Float] {
        let magnitude = randomFloats(count, seed: seed, low: 0.05, high: 1)
        let sign = randomFloats(count, seed: seed + 1)
        return zip(magnitude, sign).map { $1 < 0 ? -$0 : $0 }
    }

    func testReLU() {
        for (i, layout) in [Layout.chw, .hwc].enumerated() {
            let relu = ReLU(shape: Shape(3, 4, 5), layout: layout)
            let x = awayFromZero(2 * 60, seed: 100 + UInt64(i))
            XCTAssert(x.contains { $0 < 0 } && x.contains { $0 > 0 }, "both sides of the kink")
            let (dx, r) = check(relu, x: x, batch: 2, seed: 110 + UInt64(i))
            for j in x.indices { XCTAssertEqual(dx[j], x[j] > 0 ? r[j] : 0, "ReLU \(layout) dx[\(j)]") }
        }
        // At x = 0 exactly the gradient is 0, as PyTorch's threshold_backward gives it.
        let relu = ReLU(shape: Shape(2, 1, 1), layout: .chw)
        let (x, dy): ([Float], [Float]) = ([0, -0.0], [3, 4])
        var y: [Float] = [7, 7], dx: [Float] = [7, 7]
        relu.forward(x, &y, batch: 1)
        relu.backward(x: x, y: y, dy: dy, dx: &dx, batch: 1, parameterGradients: true)
        XCTAssertEqual(y, [0, 0])
        XCTAssertEqual(dx, [0, 0])
    }

    /// Distinct inputs spaced by ≥ 0.01 (ten times h) so no window's maximum changes under ±h.
    func spacedInputs(_ count: Int, seed: UInt64) -> [Float] {
        var rng = KeyedRandom(seed: seed)
        var values = (0..<count).map { Float($0) * 0.01 - 0.3 }
        for i in stride(from: count - 1, to: 0, by: -1) { values.swapAt(i, rng.below(i + 1)) }
        return values
    }

    func testMaxPool2d() {
        // (C, H, W), kernel: even sizes; odd sizes whose last row/column no window covers
        // (floor, as nn.MaxPool2d); a 3×3 window.
        for (t, (shape, kernel)) in [(Shape(3, 4, 6), 2), (Shape(2, 5, 7), 2), (Shape(2, 6, 6), 3)].enumerated() {
            let pool = MaxPool2d(shape: shape, kernel: kernel)
            let batch = 2, n = shape.count
            let x = spacedInputs(batch * n, seed: 200 + UInt64(t))
            let (dx, r) = check(pool, x: x, batch: batch, seed: 210 + UInt64(t))
            // dx is r at each window's maximum and 0 elsewhere (hwc layout).
            let o = pool.outputShape, c = shape.channels
            var expected = [Float](repeating: 0, count: batch * n)
            for s in 0..<batch {
                for oy in 0..<o.height {
                    for ox in 0..<o.width {
                        for ch in 0..<c {
                            var best = -Float.infinity, at = 0
                            for ky in 0..<kernel {
                                for kx in 0..<kernel {
                                    let j = s * n + ((oy * kernel + ky) * shape.width + ox * kernel + kx) * c + ch
                                    if x[j] > best { best = x[j]; at = j }
                                }
                            }
                            expected[at] = r[((s * o.height + oy) * o.width + ox) * c + ch]
                        }
                    }
                }
            }
            XCTAssertEqual(dx, expected, "MaxPool2d(\(kernel)) on \(shape): dy routed to each window's maximum")
            let zeros = dx.filter { $0 == 0 }.count
            XCTAssertGreaterThanOrEqual(zeros, batch * (n - o.count), "inputs that win no window get 0")
        }
    }

    func testFlatten() {
        for (t, (shape, layout)) in [(Shape(3, 4, 5), Layout.hwc), (Shape(3, 4, 5), .chw), (Shape(1, 4, 5), .hwc),
                                     (Shape(6, 1, 1), .hwc)].enumerated() {
            let flatten = Flatten(shape: shape, layout: layout)
            let batch = 2, n = shape.count
            let x = randomFloats(batch * n, seed: 300 + UInt64(t))
            let (dx, r) = check(flatten, x: x, batch: batch, seed: 310 + UInt64(t))
            // dx is dy permuted back: input (h, w, c) of an hwc sample is output c·H·W + h·W + w.
            let hw = shape.height * shape.width
            for s in 0..<batch {
                for p in 0..<hw {
                    for ch in 0..<shape.channels {
                        let input = layout == .hwc ? p * shape.channels + ch : ch * hw + p
                        XCTAssertEqual(dx[s * n + input], r[s * n + ch * hw + p], "Flatten \(shape) \(layout)")
                    }
                }
            }
        }
    }
}
