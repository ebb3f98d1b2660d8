import CKernels
import NeuralCore
import TestSupport
import XCTest

/// Finite-difference checks of every layer and model: loss L = Σ r ⊙ output for a fixed
/// random r, so dL/doutput = r; parameter and input gradients from `backward` must match
/// central differences.
final class GradientCheckTests: XCTestCase {
    func check(_ net: Network, batch: Int, inputLow: Float = 0, inputHigh: Float = 1, seed: UInt64,
               h: Float = 1e-3, relative: Double = 1e-2, absolute: Double = 1e-3,
               file: StaticString = #filePath, line: UInt = #line) {
        // PyTorch-scale weights keep activations O(1), so ±h rarely crosses a ReLU or max kink.
        net.initialize(seed: seed)
        let d = net.inputShape.count
        var x = randomFloats(batch * d, seed: seed + 1, low: inputLow, high: inputHigh)
        let outCount = batch * net.classes
        let r = randomFloats(outCount, seed: seed + 2)
        func loss(_ xp: UnsafePointer<Float>) -> Double {
            let y = net.forward(xp, batch: batch)
            var s = 0.0
            for j in 0..<outCount { s += Double(r[j]) * Double(y[j]) }
            return s
        }
        x.withUnsafeMutableBufferPointer { xb in
            let xp = xb.baseAddress!
            _ = loss(xp)
            net.zeroGradients()
            var dx = [Float](repeating: 0, count: batch * d)
            r.withUnsafeBufferPointer { rb in
                dx.withUnsafeMutableBufferPointer { net.backward(rb.baseAddress!, parameterGradients: true, inputGradient: $0.baseAddress!) }
            }
            let analyticParams = Array(net.gradients.buffer.prefix(net.parameterCount))
            if net.parameterCount > 0 {
                let coords = sampleCoordinates(net.parameterCount, limit: 60, seed: seed + 3)
                let numeric = finiteDifferences(net.parameters.pointer, coordinates: coords, h: h) { loss(xp) }
                assertGradientsMatch(analytic: coords.map { Double(analyticParams[$0]) }, numerical: numeric,
                                     relative: relative, absolute: absolute, "parameter gradients", file: file, line: line)
            }
            let coords = sampleCoordinates(batch * d, limit: 60, seed: seed + 4)
            let numeric = finiteDifferences(xp, coordinates: coords, h: h) { loss(xp) }
            assertGradientsMatch(analytic: coords.map { Double(dx[$0]) }, numerical: numeric,
                                 relative: relative, absolute: absolute, "input gradients", file: file, line: line)
        }
    }

    func testLinear() {
        check(Network(layers: [Linear(7, 5)]), batch: 3, inputLow: -1, seed: 10)
    }

    func testConv2dFromCHW() {
        let conv = Conv2d(input: Shape(2, 6, 5), layout: .chw, outChannels: 3, kernel: 3, stride: 2, padding: 1)
        check(Network(layers: [conv]), batch: 2, seed: 20)
    }

    func testConv2dFromHWC() {
        let first = Conv2d(input: Shape(1, 7, 7), layout: .chw, outChannels: 3, kernel: 2, stride: 1, padding: 0)
        let second = Conv2d(input: first.outputShape, layout: .hwc, outChannels: 4, kernel: 3, stride: 2, padding: 1)
        check(Network(layers: [first, second]), batch: 2, seed: 30)
    }

    /// Outputs, parameter gradients and input gradients of one forward and backward pass of
    /// `net` (initialised from `seed`) on random inputs, with dL/doutput random too.
    func forwardBackward(_ net: Network, batch: Int, seed: UInt64) -> (y: [Float], dw: [Float], dx: [Float]) {
        net.initialize(seed: seed)
        let x = randomFloats(batch * net.inputShape.count, seed: seed + 1, low: 0, high: 1)
        let out = batch * net.classes
        let r = randomFloats(out, seed: seed + 2)
        var dx = [Float](repeating: 0, count: x.count)
        let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: batch), count: out)) }
        net.zeroGradients()
        r.withUnsafeBufferPointer { rb in dx.withUnsafeMutableBufferPointer {
            net.backward(rb.baseAddress!, parameterGradients: true, inputGradient: $0.baseAddress!) } }
        return (y, Array(net.gradients.buffer.prefix(net.parameterCount)), dx)
    }

    /// Convolutions unroll a few samples at a time; with one sample per chunk the results and
    /// gradients must equal the whole-batch computation.
    func testChunkedConvolutionEqualsWholeBatch() {
        func run(chunkBytes: Int) -> (y: [Float], dw: [Float], dx: [Float]) {
            let first = Conv2d(input: Shape(2, 9, 9), layout: .chw, outChannels: 3, kernel: 3, stride: 2, padding: 1)
            let second = Conv2d(input: first.outputShape, layout: .hwc, outChannels: 4, kernel: 2, stride: 1, padding: 0)
            for conv in [first, second] { conv.chunkBytes = chunkBytes }
            return forwardBackward(Network(layers: [first, second]), batch: 5, seed: 70)
        }
        let whole = run(chunkBytes: 1 << 30), chunked = run(chunkBytes: 1)
        assertClose(chunked.y, whole.y, relative: 1e-5, absolute: 1e-6, "outputs")
        assertClose(chunked.dw, whole.dw, relative: 1e-5, absolute: 1e-6, "parameter gradients")
        assertClose(chunked.dx, whole.dx, relative: 1e-5, absolute: 1e-6, "input gradients")
        let conv = Conv2d(input: Shape(2, 9, 9), layout: .chw, outChannels: 3, kernel: 3, stride: 2, padding: 1)
        conv.chunkBytes = 1
        XCTAssertEqual(conv.chunkSamples, 1)
    }

    /// One-channel and hwc convolutions run direct kernels by default; they must give the outputs
    /// and gradients of the im2col + sgemm lowering (the models' layers, odd shapes, position
    /// counts that are not a multiple of the kernels' blocks of 4 and 8, tap counts that split
    /// into several register tiles or leave a remainder), and both must pass the
    /// finite-difference check. The direct kernels are checked at every vector level this CPU
    /// runs (AVX-512, AVX2, baseline).
    func testDirectConvolutionEqualsGEMMLowering() {
        defer { dtk_limit_vector_level(-1) }
        for level in 0...dtk_vector_level() {
            dtk_limit_vector_level(level)
            directConvolutionEqualsGEMMLowering(level: level)
        }

        let deep = Conv2d(input: Shape(1, 400, 400), layout: .chw, outChannels: 4, kernel: 2, stride: 40)
        XCTAssertEqual(deep.lowering, .gemm, "a stride past the padded buffer's slack uses im2col + sgemm")
    }

    private func directConvolutionEqualsGEMMLowering(level: Int32) {
        let shapes: [(Shape, Layout, Int, Int, Int, Int)] = [
            (Shape(1, 28, 28), .chw, 16, 4, 2, 1), (Shape(1, 28, 28), .chw, 32, 5, 1, 2), (Shape(1, 7, 9), .chw, 5, 3, 2, 0),
            (Shape(1, 6, 6), .chw, 3, 2, 1, 1), (Shape(1, 9, 9), .chw, 16, 3, 1, 1), (Shape(1, 8, 8), .chw, 48, 7, 1, 3),
            (Shape(1, 11, 10), .chw, 32, 4, 3, 2), (Shape(16, 6, 5), .hwc, 8, 3, 1, 1),
            (Shape(16, 14, 14), .hwc, 32, 4, 2, 1), (Shape(32, 14, 14), .hwc, 64, 5, 1, 2), (Shape(3, 7, 5), .hwc, 5, 3, 2, 1),
            (Shape(7, 5, 6), .hwc, 2, 2, 1, 0), (Shape(16, 5, 7), .hwc, 13, 3, 2, 1),
        ]
        for (i, (shape, layout, out, k, stride, pad)) in shapes.enumerated() {
            func run(_ lowering: Conv2d.Lowering) -> (y: [Float], dw: [Float], dx: [Float]) {
                let conv = Conv2d(input: shape, layout: layout, outChannels: out, kernel: k, stride: stride, padding: pad)
                XCTAssertEqual(conv.lowering, .direct, "\(conv.name) on \(layout) should default to the direct kernels")
                conv.lowering = lowering
                // 11 samples: more than one block of the weight-gradient kernel (8 samples).
                return forwardBackward(Network(layers: [conv]), batch: 11, seed: 90 + UInt64(i))
            }
            let direct = run(.direct), gemm = run(.gemm)
            assertClose(direct.y, gemm.y, relative: 1e-5, absolute: 1e-5, "outputs of \(shape) k\(k) at vector level \(level)")
            // Weight gradients sum over every position of the batch (up to 8624 terms here), in a
            // different order than sgemm: float rounding allows ~1e-4 of the largest gradient.
            let scale = direct.dw.map { abs($0) }.max() ?? 1
            assertClose(direct.dw, gemm.dw, relative: 1e-4, absolute: 1e-4 * scale, "parameter gradients of \(shape) k\(k) at vector level \(level)")
            assertClose(direct.dx, gemm.dx, relative: 1e-5, absolute: 1e-5, "input gradients of \(shape) k\(k) at vector level \(level)")
        }
        for lowering in [Conv2d.Lowering.direct, .gemm] {
            let conv = Conv2d(input: Shape(1, 7, 6), layout: .chw, outChannels: 4, kernel: 3, stride: 2, padding: 1)
            conv.lowering = lowering
            let second = Conv2d(input: conv.outputShape, layout: .hwc, outChannels: 3, kernel: 2, stride: 1, padding: 1)
            second.lowering = lowering
            check(Network(layers: [conv, second]), batch: 2, seed: 95)
        }
        let multi = Conv2d(input: Shape(2, 6, 6), layout: .chw, outChannels: 3, kernel: 3)
        XCTAssertEqual(multi.lowering, .gemm, "several channels in chw layout use im2col + sgemm")
        let wide = Conv2d(input: Shape(65, 6, 6), layout: .hwc, outChannels: 3, kernel: 3)
        XCTAssertEqual(wide.lowering, .gemm, "over 64 channels use im2col + sgemm")
    }

    func testReLU() {
        // Inputs kept away from the kink at 0 so central differences are exact.
        let relu = ReLU(shape: Shape(12, 1, 1), layout: .chw)
        let net = Network(layers: [relu])
        var x = randomFloats(24, seed: 40, low: 0.1, high: 1)
        for i in stride(from: 0, to: 24, by: 2) { x[i] = -x[i] }
        let r = randomFloats(24, seed: 41)
        x.withUnsafeBufferPointer { xb in
            let y = net.forward(xb.baseAddress!, batch: 2)
            for i in 0..<24 { XCTAssertEqual(y[i], max(x[i], 0)) }
            var dx = [Float](repeating: 9, count: 24)
            r.withUnsafeBufferPointer { rb in dx.withUnsafeMutableBufferPointer {
                net.backward(rb.baseAddress!, parameterGradients: true, inputGradient: $0.baseAddress!) } }
            for i in 0..<24 { XCTAssertEqual(dx[i], x[i] > 0 ? r[i] : 0) }
        }
    }

    func testMaxPoolAndFlatten() {
        let conv = Conv2d(input: Shape(1, 8, 8), layout: .chw, outChannels: 3, kernel: 3, stride: 1, padding: 1)
        let pool = MaxPool2d(shape: conv.outputShape)
        let flat = Flatten(shape: pool.outputShape, layout: .hwc)
        check(Network(layers: [conv, pool, flat, Linear(flat.outputShape.count, 4)]), batch: 2, seed: 50)
    }

    func testModels() {
        for (i, kind) in ModelKind.allCases.enumerated() {
            let net = kind.build(input: Shape(1, 8, 8), classes: 5)
            check(net, batch: 2, seed: 60 + UInt64(i) * 10)
        }
    }

    func testModelsOnThreeChannels() {
        let net = ModelKind.cnnSmall.build(input: Shape(3, 8, 8), classes: 4)
        check(net, batch: 2, seed: 90)
    }
}

/// `Network.backward(samples:)`: back-propagating runs of samples of one forward pass, and
/// skipping samples whose dL/dlogits is zero, gives the whole batch's gradients.
final class PartialBackwardTests: XCTestCase {
    func testRunsOfSamplesAddUpToTheWholeBatch() {
        for kind in ModelKind.allCases {
            let net = kind.build(input: Shape(1, 12, 12), classes: 5)
            net.initialize(seed: 120)
            let batch = 9, k = 5
            let x = randomFloats(batch * net.inputShape.count, seed: 121, low: 0, high: 1)
            var g = randomFloats(batch * k, seed: 122)
            for zero in [0, 3, 4, 8] { for j in 0..<k { g[zero * k + j] = 0 } }
            x.withUnsafeBufferPointer { xb in _ = net.forward(xb.baseAddress!, batch: batch) }
            net.zeroGradients()
            g.withUnsafeBufferPointer { net.backward($0.baseAddress!, parameterGradients: true) }
            let whole = Array(net.gradients.buffer.prefix(net.parameterCount))
            net.zeroGradients()
            for run in [1..<3, 5..<8] {
                g.withUnsafeBufferPointer { net.backward($0.baseAddress! + run.lowerBound * k, parameterGradients: true, samples: run) }
            }
            let runs = Array(net.gradients.buffer.prefix(net.parameterCount))
            XCTAssert(whole.contains { $0 != 0 })
            assertClose(runs, whole, relative: 1e-5, absolute: 1e-6, "\(kind)")
        }
    }
}

extension PartialBackwardTests {
    /// Without an input gradient the backward pass stops at the first layer with parameters:
    /// the mlp's Linear(784, 256) computes no dL/dx for the Flatten below it. The parameter
    /// gradients are the same, and the GEMM work saved is exactly that input gradient.
    func testNoInputGradientBelowTheFirstParameterLayer() {
        let net = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        net.initialize(seed: 130)
        let batch = 6
        let x = randomFloats(batch * 784, seed: 131, low: 0, high: 1)
        let g = randomFloats(batch * 10, seed: 132)
        var dx = [Float](repeating: 0, count: x.count)
        func run(input: Bool) -> (grads: [Float], flops: Int) {
            x.withUnsafeBufferPointer { _ = net.forward($0.baseAddress!, batch: batch) }
            net.zeroGradients()
            let f0 = GEMMCounter.flops
            g.withUnsafeBufferPointer { gb in
                if input {
                    dx.withUnsafeMutableBufferPointer {
                        net.backward(gb.baseAddress!, parameterGradients: true, inputGradient: $0.baseAddress!)
                    }
                } else {
                    net.backward(gb.baseAddress!, parameterGradients: true)
                }
            }
            return (Array(net.gradients.buffer.prefix(net.parameterCount)), GEMMCounter.flops - f0)
        }
        let with = run(input: true), without = run(input: false)
        XCTAssertEqual(without.grads, with.grads)
        XCTAssertEqual(with.flops - without.flops, 2 * batch * 784 * 256)
        XCTAssert(dx.contains { $0 != 0 }, "with an input gradient, dL/dx reaches the input")
    }
}

/// A Flatten that only renames the shape (`Layer.isIdentity`) gets no buffer and no passes of
/// its own: the network hands its input on and its dL/dy back as dL/dx. Outputs, parameter
/// gradients and input gradients equal those of the same network with a copying layer in its
/// place, for whole batches and for runs of samples.
final class IdentityLayerTests: XCTestCase {
    final class Copy: Layer {
        let inputShape: Shape
        var name: String { "Copy" }
        var inputLayout: Layout { .chw }
        var outputShape: Shape { Shape(inputShape.count, 1, 1) }
        init(_ shape: Shape) { inputShape = shape }
        func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, batch: Int) {
            y.update(from: x, count: batch * inputShape.count)
        }
        func backward(x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
                      dx: UnsafeMutablePointer<Float>?, batch: Int, parameterGradients: Bool) {
            dx?.update(from: dy, count: batch * inputShape.count)
        }
    }

    func testIdentityFlattenEqualsACopyingLayer() {
        let shape = Shape(1, 6, 5), n = shape.count, batch = 7, k = 4
        func build(_ first: any Layer) -> Network {
            let net = Network(layers: [first, Linear(n, 9), ReLU(shape: Shape(9, 1, 1), layout: .chw), Linear(9, k)])
            net.initialize(seed: 140)
            return net
        }
        let flatten = Flatten(shape: shape, layout: .hwc)
        XCTAssert(flatten.isIdentity, "one channel: hwc is chw")
        let aliased = build(flatten), copied = build(Copy(shape))
        let x = randomFloats(batch * n, seed: 141), g = randomFloats(batch * k, seed: 142)
        func run(_ net: Network, samples: Range<Int>?) -> (y: [Float], dw: [Float], dx: [Float]) {
            let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: batch), count: batch * k)) }
            net.zeroGradients()
            let rows = samples ?? 0..<batch
            var dx = [Float](repeating: .nan, count: rows.count * n)
            g.withUnsafeBufferPointer { gb in
                dx.withUnsafeMutableBufferPointer {
                    net.backward(gb.baseAddress! + rows.lowerBound * k, parameterGradients: true,
                                 inputGradient: $0.baseAddress!, samples: samples)
                }
            }
            return (y, Array(net.gradients.buffer.prefix(net.parameterCount)), dx)
        }
        for samples in [nil, 2..<5] as [Range<Int>?] {
            let a = run(aliased, samples: samples), b = run(copied, samples: samples)
            XCTAssertEqual(a.y, b.y)
            XCTAssertEqual(a.dw, b.dw)
            XCTAssertEqual(a.dx, b.dx, "\(String(describing: samples))")
            XCTAssert(a.dx.allSatisfy(\.isFinite) && a.dx.contains { $0 != 0 })
        }
        XCTAssertEqual(copied.allocatedBytes.activations - aliased.allocatedBytes.activations, batch * n * 4,
                       "no activation buffer for the identity layer")
    }
}
