import NeuralCore
import Training
import XCTest

/// torch.optim.SGD(momentum=0.9, weight_decay=λ, dampening=0, nesterov=False), by hand:
///   g ← g + λθ;  v ← μv + g (v₀ = 0, so v₁ = g₁);  θ ← θ − ηv
final class SGDTests: XCTestCase {
    func testThreeStepsMatchTorchByHand() {
        let sgd = SGD(parameterCount: 3, momentum: 0.9, weightDecay: 0.1)
        var theta: [Float] = [1, -2, 0.5]
        let grads: [[Float]] = [[0.5, 1, -1], [0, -1, 2], [1, 0.5, 0]]
        let lrs: [Float] = [0.1, 0.1, 0.05]
        // Worked by hand (decimal arithmetic) for each step.
        // step 1: g = [0.6, 0.8, −0.95], v = g, θ = [0.94, −2.08, 0.595]
        // step 2: g = [0.094, −1.208, 2.0595], v = [0.634, −0.488, 1.2045], θ = [0.8766, −2.0312, 0.47455]
        // step 3: g = [1.08766, 0.29688, 0.047455], v = [1.65826, −0.14232, 1.131505],
        //         θ = [0.793687, −2.024084, 0.41797475]
        let expected: [[Float]] = [[0.94, -2.08, 0.595], [0.8766, -2.0312, 0.47455], [0.793687, -2.024084, 0.41797475]]
        let expectedVelocity: [Float] = [1.65826, -0.14232, 1.131505]
        for step in 0..<3 {
            theta.withUnsafeMutableBufferPointer { p in
                grads[step].withUnsafeBufferPointer { g in
                    sgd.step(parameters: p.baseAddress!, gradients: g.baseAddress!, learningRate: lrs[step])
                }
            }
            for j in 0..<3 { XCTAssertEqual(theta[j], expected[step][j], accuracy: 2e-6, "step \(step + 1) θ\(j)") }
        }
        for j in 0..<3 { XCTAssertEqual(sgd.velocity.pointer[j], expectedVelocity[j], accuracy: 2e-6) }
    }

    func testNoMomentumNoDecayIsPlainGradientDescent() {
        let sgd = SGD(parameterCount: 2, momentum: 0, weightDecay: 0)
        var theta: [Float] = [1, 2]
        let g: [Float] = [0.5, -4]
        for _ in 0..<2 {
            theta.withUnsafeMutableBufferPointer { p in
                g.withUnsafeBufferPointer { sgd.step(parameters: p.baseAddress!, gradients: $0.baseAddress!, learningRate: 0.25) }
            }
        }
        XCTAssertEqual(theta, [0.75, 4])
    }

    /// staysFinite predicts, without writing, whether the update leaves every parameter finite:
    /// a NaN or infinite gradient anywhere (also past the first vector of 16), or an update that
    /// overflows, is caught; finite updates pass and nothing is written.
    func testStaysFiniteCatchesEveryNonFiniteUpdateWithoutWriting() {
        let n = 37
        let sgd = SGD(parameterCount: n, momentum: 0.9, weightDecay: 1e-4)
        var theta = (0..<n).map { Float($0) * 0.1 - 1 }
        let before = theta
        func check(_ g: [Float], lr: Float = 0.1) -> Bool {
            theta.withUnsafeBufferPointer { p in g.withUnsafeBufferPointer {
                sgd.staysFinite(parameters: p.baseAddress!, gradients: $0.baseAddress!, learningRate: lr) } }
        }
        let finite = (0..<n).map { Float($0) * 0.01 }
        XCTAssertTrue(check(finite))
        for position in [0, 15, 16, 36] {
            for bad in [Float.nan, .infinity, -.infinity] {
                var g = finite
                g[position] = bad
                XCTAssertFalse(check(g), "\(bad) at \(position)")
            }
        }
        var huge = finite
        huge[20] = 3e38
        XCTAssertFalse(check(huge, lr: 10), "an update that overflows to infinity")
        XCTAssertEqual(theta, before)
        XCTAssertEqual(Array(sgd.velocity.buffer), [Float](repeating: 0, count: n))
    }
}
