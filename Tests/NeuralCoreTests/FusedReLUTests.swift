import NeuralCore
import TestSupport
import XCTest

/// A ReLU after a Linear or Conv2d is applied by that layer in its own output pass
/// (`ReLUFusable`), and the ReLU becomes an identity layer. Every model, with both convolution
/// lowerings, must give bitwise the same logits, parameter gradients and input gradients as the
/// same network with the ReLUs apart: whole batches and runs of samples, with and without
/// parameter gradients (the attack's passes), and a non-finite dL/dlogits must reach dL/dx alike.
final class FusedReLUTests: XCTestCase {
    struct Pass: Equatable {
        var logits: [UInt32], gradients: [UInt32], inputGradient: [UInt32]
    }

    func run(_ net: Network, x: [Float], g: [Float], batch: Int, samples: Range<Int>?, parameterGradients: Bool) -> Pass {
        let k = net.classes, n = net.inputShape.count
        let y = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: batch), count: batch * k)) }
        net.zeroGradients()
        let rows = samples ?? 0..<batch
        var dx = [Float](repeating: 7, count: rows.count * n)
        g.withUnsafeBufferPointer { gb in
            dx.withUnsafeMutableBufferPointer {
                net.backward(gb.baseAddress! + rows.lowerBound * k, parameterGradients: parameterGradients,
                             inputGradient: $0.baseAddress!, samples: samples)
            }
        }
        return Pass(logits: y.map(\.bitPattern), gradients: net.gradients.buffer.prefix(net.parameterCount).map(\.bitPattern),
                    inputGradient: dx.map(\.bitPattern))
    }

    func testFusedEqualsApartForEveryModelAndLowering() {
        let batch = 6
        for model in ModelKind.allCases {
            for lowering in [Conv2d.Lowering.direct, .gemm] {
                func build(_ fuse: Bool) -> Network {
                    let net = model.build(input: Shape(1, 28, 28), classes: 10, fuseReLU: fuse)
                    for case let conv as Conv2d in net.layers { conv.lowering = lowering }
                    net.initialize(seed: 150)
                    return net
                }
                let fused = build(true), apart = build(false)
                let absorbed = fused.layers.compactMap { $0 as? ReLU }.filter(\.isIdentity).count
                XCTAssertEqual(absorbed, fused.layers.filter { $0 is ReLU }.count, "\(model): every ReLU absorbed")
                XCTAssert(apart.layers.allSatisfy { !(($0 as? ReLU)?.isIdentity ?? false) })
                XCTAssert(fused.layers.contains { ($0 as? Linear)?.appliesReLU ?? false })
                let x = randomFloats(batch * 784, seed: 151, low: 0, high: 1)
                var g = randomFloats(batch * 10, seed: 152)
                for samples in [nil, 1..<4] as [Range<Int>?] {
                    for parameterGradients in [true, false] {
                        let a = run(fused, x: x, g: g, batch: batch, samples: samples, parameterGradients: parameterGradients)
                        let b = run(apart, x: x, g: g, batch: batch, samples: samples, parameterGradients: parameterGradients)
                        let what = "\(model) \(lowering) \(String(describing: samples)) \(parameterGradients)"
                        XCTAssertEqual(a.logits, b.logits, what)
                        XCTAssertEqual(a.gradients, b.gradients, what)
                        XCTAssertEqual(a.inputGradient, b.inputGradient, what)
                        let dx = a.inputGradient.map(Float.init(bitPattern:))
                        XCTAssert(dx.allSatisfy(\.isFinite) && dx.contains { $0 != 0 }, what)
                    }
                }
                g[3] = .nan
                let a = run(fused, x: x, g: g, batch: batch, samples: nil, parameterGradients: true)
                let b = run(apart, x: x, g: g, batch: batch, samples: nil, parameterGradients: true)
                XCTAssertEqual(a.inputGradient, b.inputGradient, "\(model) \(lowering): NaN")
                XCTAssert(a.inputGradient.prefix(784).contains { Float(bitPattern: $0).isNaN }, "\(model) \(lowering): NaN reaches dx")
            }
        }
    }

    /// A ReLU that is the last layer keeps its own buffer (the logits): it is not absorbed.
    func testLastReLUIsNotAbsorbed() {
        let linear = Linear(5, 3), relu = ReLU(shape: Shape(3, 1, 1), layout: .chw)
        _ = Network(layers: [linear, relu])
        XCTAssertFalse(linear.appliesReLU)
        XCTAssertFalse(relu.isIdentity)
    }
}
