import NeuralCore
import TestSupport
import XCTest

/// Forward passes against hand computations and a naive direct convolution.
final class LayerForwardTests: XCTestCase {
    func testLinearByHand() {
        let net = Network(layers: [Linear(2, 2)])
        // W = [[1, 2], [3, 4]], b = [0.5, -1]
        let params: [Float] = [1, 2, 3, 4, 0.5, -1]
        for (i, v) in params.enumerated() { net.parameters.pointer[i] = v }
        let x: [Float] = [1, -1, 2, 0.5]
        let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 2), count: 4)) }
        let expected: [Float] = [-0.5, -2, 3.5, 7]   // x·Wᵀ + b by hand
        XCTAssertEqual(y, expected)
    }

    /// Both orientations of the forward GEMM (y = x·Wᵀ, and yᵀ = W·xᵀ transposed in the bias
    /// pass, `Linear.transposesForward`), with and without the ReLU applied, against x·Wᵀ + b in
    /// double precision; batch sizes on both sides of the switch and across the 16 × 16 tiles.
    func testLinearForwardBothOrientationsMatchTheDefinition() {
        let inputs = 37, outputs = 21
        for relu in [false, true] {
            let linear = Linear(inputs, outputs)
            let net = Network(layers: relu ? [linear, ReLU(shape: Shape(outputs, 1, 1), layout: .chw), Linear(outputs, 2)] : [linear])
            XCTAssertEqual(linear.appliesReLU, relu)
            net.initialize(seed: 160)
            let w = Array(UnsafeBufferPointer(start: net.parameters.pointer, count: inputs * outputs))
            let b = Array(UnsafeBufferPointer(start: net.parameters.pointer + inputs * outputs, count: outputs))
            var seen = Set<Bool>()
            for batch in [1, 5, 17, 41, 42, 43, 60] {
                seen.insert(linear.transposesForward(batch: batch))
                net.reserve(batch: batch)
                let x = randomFloats(batch * inputs, seed: 161 + UInt64(batch))
                var y = [Float](repeating: .nan, count: batch * outputs)
                x.withUnsafeBufferPointer { xb in
                    y.withUnsafeMutableBufferPointer { linear.forward(xb.baseAddress!, $0.baseAddress!, batch: batch) }
                }
                for i in 0..<batch {
                    for j in 0..<outputs {
                        var acc = Double(b[j])
                        for k in 0..<inputs { acc += Double(x[i * inputs + k]) * Double(w[j * inputs + k]) }
                        if relu { acc = max(acc, 0) }
                        XCTAssertEqual(Double(y[i * outputs + j]), acc, accuracy: 1e-5, "batch \(batch) relu \(relu) [\(i), \(j)]")
                    }
                }
            }
            XCTAssertEqual(seen, [false, true], "both orientations ran")
        }
    }

    /// y[n, co, oy, ox] by the definition, in NCHW.
    func naiveConv(_ x: [Float], input s: Shape, batch: Int, w: [Float], b: [Float], out: Int, k: Int,
                   stride: Int, pad: Int) -> [Float] {
        let oh = (s.height + 2 * pad - k) / stride + 1, ow = (s.width + 2 * pad - k) / stride + 1
        var y = [Float](repeating: 0, count: batch * out * oh * ow)
        for n in 0..<batch { for co in 0..<out { for oy in 0..<oh { for ox in 0..<ow {
            var acc = b[co]
            for ci in 0..<s.channels { for ky in 0..<k { for kx in 0..<k {
                let iy = oy * stride - pad + ky, ix = ox * stride - pad + kx
                if iy < 0 || iy >= s.height || ix < 0 || ix >= s.width { continue }
                acc += w[((co * s.channels + ci) * k + ky) * k + kx] * x[((n * s.channels + ci) * s.height + iy) * s.width + ix]
            } } }
            y[((n * out + co) * oh + oy) * ow + ox] = acc
        } } } }
        return y
    }

    func testConv2dMatchesDirectConvolution() {
        let s = Shape(3, 7, 6)
        for (k, stride, pad) in [(3, 1, 0), (4, 2, 1), (5, 1, 2), (1, 1, 0)] {
            let conv = Conv2d(input: s, layout: .chw, outChannels: 4, kernel: k, stride: stride, padding: pad)
            let flat = Flatten(shape: conv.outputShape, layout: .hwc)   // back to NCHW order
            let net = Network(layers: [conv, flat])
            let params = randomFloats(conv.parameterCount, seed: UInt64(k * 10 + stride))
            for (i, v) in params.enumerated() { net.parameters.pointer[i] = v }
            let x = randomFloats(2 * s.count, seed: 5, low: 0, high: 1)
            let y = x.withUnsafeBufferPointer {
                Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 2), count: 2 * conv.outputShape.count))
            }
            let w = Array(params.prefix(4 * s.channels * k * k)), b = Array(params.suffix(4))
            let expected = naiveConv(x, input: s, batch: 2, w: w, b: b, out: 4, k: k, stride: stride, pad: pad)
            assertClose(y, expected, relative: 1e-5, absolute: 1e-5, "k\(k) s\(stride) p\(pad)")
        }
    }

    func testMaxPoolByHand() {
        // One channel, 4×4 → 2×2; hwc equals chw for one channel.
        let pool = MaxPool2d(shape: Shape(1, 4, 4))
        let net = Network(layers: [pool])
        let x: [Float] = [1, 2, 5, 0,
                          3, 4, 1, 1,
                          0, 0, 9, 8,
                          -1, 7, 8, 9]
        let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 1), count: 4)) }
        XCTAssertEqual(y, [4, 5, 7, 9])
        var dx = [Float](repeating: 0, count: 16)
        let dy: [Float] = [1, 2, 3, 4]
        dy.withUnsafeBufferPointer { d in dx.withUnsafeMutableBufferPointer {
            net.backward(d.baseAddress!, parameterGradients: false, inputGradient: $0.baseAddress!) } }
        // Ties (the two 9s) go to the first in window order.
        XCTAssertEqual(dx, [0, 0, 2, 0, 0, 1, 0, 0, 0, 0, 4, 0, 0, 3, 0, 0])
    }

    func testFlattenRestoresPyTorchOrder() {
        // hwc sample with 2 channels on 2×1: memory [h0c0, h0c1, h1c0, h1c1] → chw [c0h0, c0h1, c1h0, c1h1]
        let net = Network(layers: [Flatten(shape: Shape(2, 2, 1), layout: .hwc)])
        let x: [Float] = [1, 2, 3, 4]
        let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 1), count: 4)) }
        XCTAssertEqual(y, [1, 3, 2, 4])
    }

    func testPyTorchParameterNames() {
        let names = ModelKind.cnnSmall.build(input: Shape(1, 28, 28), classes: 10).namedParameters
        XCTAssertEqual(names.map(\.name), ["0.weight", "0.bias", "2.weight", "2.bias", "5.weight", "5.bias", "7.weight", "7.bias"])
        XCTAssertEqual(names.map(\.shape), [[16, 1, 4, 4], [16], [32, 16, 4, 4], [32], [100, 1568], [100], [10, 100], [10]])
        let mlp = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        XCTAssertEqual(mlp.namedParameters.map(\.name), ["1.weight", "1.bias", "3.weight", "3.bias", "5.weight", "5.bias"])
        XCTAssertEqual(mlp.parameterCount, 784 * 256 + 256 + 256 * 256 + 256 + 256 * 10 + 10)
        let large = ModelKind.cnnLarge.build(input: Shape(1, 28, 28), classes: 10)
        XCTAssertEqual(large.namedParameters.map(\.name), ["0.weight", "0.bias", "3.weight", "3.bias", "7.weight", "7.bias", "9.weight", "9.bias"])
        XCTAssertEqual(large.namedParameters[4].shape, [1024, 3136])
    }

    func testInitialisationIsSeededAndBounded() {
        let a = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        let b = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        a.initialize(seed: 3); b.initialize(seed: 3)
        XCTAssertEqual(a.parameters.array, b.parameters.array)
        b.initialize(seed: 4)
        XCTAssertNotEqual(a.parameters.array, b.parameters.array)
        let bound = 1 / Float(784).squareRoot()
        XCTAssert(a.parameters.buffer.prefix(784 * 256).allSatisfy { abs($0) <= bound })
    }
}
