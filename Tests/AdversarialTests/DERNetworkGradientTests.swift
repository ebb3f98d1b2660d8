import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// End to end: with x* held fixed, loss(θ) = scale · objective(forward_θ([x; x*])). Its parameter
/// gradient from one backward of the objective's dLogits must match finite differences; that
/// holds only if the DER gradient flows through both the clean and the adversarial pass.
final class DERNetworkGradientTests: XCTestCase {
    func check(_ net: Network, mode: DERMode, seed: UInt64, coordinates limit: Int = 60,
               file: StaticString = #filePath, line: UInt = #line) {
        net.initialize(seed: seed)
        // Weights ×2 from PyTorch scale: larger logits, so the energy gaps are O(0.1–1).
        for j in 0..<net.parameterCount { net.parameters.pointer[j] *= 2 }
        let n = 4, d = net.inputShape.count, k = net.classes
        let scale = 1 / Float(n)
        let x = randomFloats(n * d, seed: seed + 1, low: 0.05, high: 0.95)
        let labels = (0..<n).map { Int32(($0 + Int(seed)) % k) }
        // A fixed x*, constant in θ (any point works: the gradient is with respect to θ only).
        // Chosen among random candidates so that even samples have CE(x*) > CE(x) and odd ones
        // CE(x*) < CE(x): both sides of the AAE test occur.
        let candidates = 32
        let pool = randomFloats(candidates * n * d, seed: seed + 2, low: 0, high: 1)
        func ce(_ images: [Float], _ labels: [Int32]) -> [Double] {
            let m = labels.count
            let logits = images.withUnsafeBufferPointer {
                Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: m), count: m * k))
            }
            return (0..<m).map { i in
                let f = logits[(i * k)..<(i * k + k)].map(Double.init)
                return Fixtures.logSumExp(f[...]) - f[Int(labels[i])]
            }
        }
        let poolCE = ce(pool, (0..<(candidates * n)).map { labels[$0 % n] })
        var xAdv: [Float] = []
        for i in 0..<n {
            let options = (0..<candidates).map { $0 * n + i }
            let pick = i.isMultiple(of: 2) ? options.max { poolCE[$0] < poolCE[$1] }! : options.min { poolCE[$0] < poolCE[$1] }!
            xAdv += pool[(pick * d)..<(pick * d + d)]
        }
        let pair = x + xAdv
        let objective = EnergyObjective(mode: mode, beta: 2, gamma: 0)
        var dLogits = [Float](repeating: 0, count: 2 * n * k)

        func loss() -> Double {
            pair.withUnsafeBufferPointer { p in
                labels.withUnsafeBufferPointer { y in
                    dLogits.withUnsafeMutableBufferPointer { g in
                        let logits = net.forward(p.baseAddress!, batch: 2 * n)
                        return Double(scale) * objective.compute(logits: logits, n: n, classes: k, labels: y.baseAddress!,
                                                                 reference: nil, scale: scale, dLogits: g.baseAddress!)
                    }
                }
            }
        }
        func gradient() -> [Float] {
            _ = loss()
            net.zeroGradients()
            dLogits.withUnsafeBufferPointer { net.backward($0.baseAddress!, parameterGradients: true) }
            return Array(net.gradients.buffer.prefix(net.parameterCount))
        }

        let analytic = gradient()
        let mask = Fixtures.values(objective.aae, n)
        var norms: [Float] = []
        for i in 0..<n {
            let a = objective.energyClean.pointer[i] - objective.energyAdv.pointer[i]
            let b = objective.jointClean.pointer[i] - objective.jointAdv.pointer[i]
            norms.append((a * a + b * b).squareRoot())
        }
        XCTAssert(norms.allSatisfy { $0 > 0.02 }, "energy gaps well away from the zero-norm kink: \(norms)", file: file, line: line)
        if mode == .aae {
            XCTAssertEqual(mask, [0, 1, 0, 1], "the fixture needs AAEs and non-AAEs", file: file, line: line)
            for i in 0..<n {
                XCTAssertGreaterThan(abs(objective.ceAdv.pointer[i] - objective.ceClean.pointer[i]), 1e-2,
                                     "sample \(i) away from the AAE boundary", file: file, line: line)
            }
        }
        // The DER part of dLogits reaches the clean half for active samples.
        for i in 0..<n where mode == .all || mask[i] == 1 {
            XCTAssert(dLogits[(i * k)..<(i * k + k)].contains { $0 != 0 }, "clean dLogits of sample \(i)", file: file, line: line)
        }

        let coords = sampleCoordinates(net.parameterCount, limit: limit, seed: seed + 3)
        let numeric = finiteDifferences(net.parameters.pointer, coordinates: coords, h: 1e-3) { loss() }
        _ = loss()
        XCTAssertEqual(Fixtures.values(objective.aae, n), mask, "AAE mask unchanged by the differences", file: file, line: line)
        assertGradientsMatch(analytic: coords.map { Double(analytic[$0]) }, numerical: numeric,
                             "\(mode) parameter gradients", file: file, line: line)

        // Without DER the gradient is different: the check above saw the regulariser.
        objective.mode = .off
        let plain = gradient()
        objective.mode = mode
        let differs = zip(plain, analytic).map { abs($0 - $1) }.max()!
        let size = analytic.map(abs).max()!
        XCTAssertGreaterThan(differs, 0.05 * size, "DER changes the parameter gradient", file: file, line: line)
    }

    func testMLPAll() { check(ModelKind.mlp.build(input: Shape(1, 6, 6), classes: 4), mode: .all, seed: 200) }
    func testMLPAAE() { check(ModelKind.mlp.build(input: Shape(1, 6, 6), classes: 4), mode: .aae, seed: 210) }
    func testCNNAll() { check(ModelKind.cnnSmall.build(input: Shape(1, 8, 8), classes: 4), mode: .all, seed: 220) }
    func testCNNAAE() { check(ModelKind.cnnSmall.build(input: Shape(1, 8, 8), classes: 4), mode: .aae, seed: 230) }

    func testCustomNetworkBothModes() {
        // A tiny two-layer net where every parameter is checked, not a sample of them.
        let net = Network(layers: [Flatten(shape: Shape(1, 3, 3), layout: .chw), Linear(9, 6),
                                   ReLU(shape: Shape(6, 1, 1), layout: .chw), Linear(6, 3)])
        XCTAssertEqual(net.parameterCount, 81)
        check(net, mode: .all, seed: 240, coordinates: 81)
        check(net, mode: .aae, seed: 250, coordinates: 81)
    }
}
