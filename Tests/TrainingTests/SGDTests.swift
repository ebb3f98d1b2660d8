import NeuralCore
import TestSupport
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
        let theta = (0..<n).map { Float($0) * 0.1 - 1 }
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

    /// The bound proves an update finite only when it is: over random magnitudes, learning
    /// rates and momenta (and the largest floats), whenever updateIsBounded says yes, the update
    /// of values at those magnitudes stays finite; it says no to NaN and infinity.
    func testUpdateIsBoundedNeverClaimsAnOverflowingUpdate() {
        var rng = KeyedRandom(seed: 41)
        let magnitudes: [Float] = [0, 1e-3, 1, 1e10, 1e30, 1e37, 1e38, 3e38, .greatestFiniteMagnitude]
        var proved = 0
        for _ in 0..<4000 {
            let p = magnitudes[rng.below(magnitudes.count)], g = magnitudes[rng.below(magnitudes.count)]
            let v = magnitudes[rng.below(magnitudes.count)]
            let lr = [Float(0), 0.1, 1, 100][rng.below(4)], momentum = [Float(0), 0.9, -0.9][rng.below(3)]
            let decay = [Float(0), 5e-4, 1][rng.below(3)]
            guard SGD.updateIsBounded(parameters: p, gradients: g, velocity: v, learningRate: lr,
                                      momentum: momentum, weightDecay: decay) else { continue }
            proved += 1
            // Every sign combination at those magnitudes, through the real kernel.
            for signs in 0..<8 {
                let sgd = SGD(parameterCount: 1, momentum: momentum, weightDecay: decay)
                sgd.velocity.pointer[0] = signs & 1 == 0 ? v : -v
                var theta: [Float] = [signs & 2 == 0 ? p : -p]
                let grad: [Float] = [signs & 4 == 0 ? g : -g]
                theta.withUnsafeMutableBufferPointer { t in
                    grad.withUnsafeBufferPointer { sgd.step(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: lr) }
                }
                XCTAssert(theta[0].isFinite && sgd.velocity.pointer[0].isFinite, "p \(p) g \(g) v \(v) lr \(lr) μ \(momentum) λ \(decay)")
            }
        }
        XCTAssertGreaterThan(proved, 1000, "the bound proves ordinary updates")
        for bad in [Float.nan, .infinity] {
            XCTAssertFalse(SGD.updateIsBounded(parameters: bad, gradients: 1, velocity: 1, learningRate: 0.1, momentum: 0.9, weightDecay: 0))
            XCTAssertFalse(SGD.updateIsBounded(parameters: 1, gradients: bad, velocity: 1, learningRate: 0.1, momentum: 0.9, weightDecay: 0))
            XCTAssertFalse(SGD.updateIsBounded(parameters: 1, gradients: 1, velocity: bad, learningRate: 0.1, momentum: 0, weightDecay: 0))
        }
        XCTAssert(SGD.updateIsBounded(parameters: 2, gradients: 1, velocity: 1, learningRate: 0.1, momentum: 0.9, weightDecay: 5e-4))
        XCTAssertFalse(SGD.updateIsBounded(parameters: 1, gradients: 3e38, velocity: 0, learningRate: 10, momentum: 0.9, weightDecay: 0))
    }

    /// stepIfFinite applies exactly `step` when the update stays finite, with or without the
    /// bound, tracks the largest |v| it wrote, and writes nothing when the update overflows,
    /// even when given (wrong, too small) magnitudes would not prove it: the bound only skips
    /// the check when it proves finiteness.
    func testStepIfFiniteAppliesStepOrNothing() {
        let n = 37
        let grads = randomFloats(n, seed: 5)
        for magnitudes in [false, true] {
            let a = SGD(parameterCount: n, momentum: 0.9, weightDecay: 5e-4), b = SGD(parameterCount: n, momentum: 0.9, weightDecay: 5e-4)
            var thetaA = randomFloats(n, seed: 6), thetaB = thetaA
            for _ in 0..<3 {
                let pMax = thetaA.map(abs).max()!, gMax = grads.map(abs).max()!
                thetaA.withUnsafeMutableBufferPointer { t in grads.withUnsafeBufferPointer {
                    XCTAssert(a.stepIfFinite(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 0.1,
                                             parameterMagnitude: magnitudes ? pMax : nil, gradientMagnitude: magnitudes ? gMax : nil))
                } }
                thetaB.withUnsafeMutableBufferPointer { t in grads.withUnsafeBufferPointer {
                    b.step(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 0.1)
                } }
            }
            XCTAssertEqual(thetaA, thetaB)
            XCTAssertEqual(Array(a.velocity.buffer), Array(b.velocity.buffer))
            XCTAssertEqual(a.velocityMagnitude, Array(a.velocity.buffer).map(abs).max()!)
        }
        let sgd = SGD(parameterCount: n, momentum: 0.9, weightDecay: 0)
        var theta = randomFloats(n, seed: 7)
        let before = theta
        var huge = grads
        huge[30] = 3e38
        theta.withUnsafeMutableBufferPointer { t in huge.withUnsafeBufferPointer {
            XCTAssertFalse(sgd.stepIfFinite(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 10))
            // Magnitudes that understate the gradients would prove it bounded: the caller
            // must pass true bounds; here they are true, and too large to prove anything.
            XCTAssertFalse(sgd.stepIfFinite(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 10,
                                            parameterMagnitude: 1, gradientMagnitude: 3e38))
        } }
        XCTAssertEqual(theta, before)
        XCTAssertEqual(Array(sgd.velocity.buffer), [Float](repeating: 0, count: n))
        // A velocity written directly is unknown until the next step.
        sgd.velocity.pointer[0] = 1e38
        sgd.velocityChanged()
        XCTAssertNil(sgd.velocityMagnitude)
        sgd.resetVelocity()
        XCTAssertEqual(sgd.velocityMagnitude, 0)
        XCTAssertEqual(sgd.velocity.pointer[0], 0)
    }

    /// The step's kernel returns the largest |θ| it wrote (the next step's bound without a scan),
    /// past the first vectors too, and NaN when a parameter went NaN.
    func testStepMeasuresTheParametersItWrites() {
        let n = 53
        var sgd = SGD(parameterCount: n, momentum: 0.9, weightDecay: 5e-4)
        var theta = randomFloats(n, seed: 8)
        var grads = randomFloats(n, seed: 9)
        for position in [0, 17, 52] {
            sgd = SGD(parameterCount: n, momentum: 0.9, weightDecay: 5e-4)
            theta = randomFloats(n, seed: 8)
            grads[position] = 40
            for _ in 0..<2 {
                theta.withUnsafeMutableBufferPointer { t in grads.withUnsafeBufferPointer {
                    sgd.step(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 0.1)
                } }
                XCTAssertEqual(sgd.parameterMagnitude, theta.map(abs).max()!)
                XCTAssertEqual(abs(theta[position]), sgd.parameterMagnitude, "the largest is the one pushed hardest")
            }
            grads[position] = 0
        }
        grads[44] = .nan
        theta.withUnsafeMutableBufferPointer { t in grads.withUnsafeBufferPointer {
            sgd.step(parameters: t.baseAddress!, gradients: $0.baseAddress!, learningRate: 0.1)
        } }
        XCTAssert(sgd.parameterMagnitude.isNaN)
    }

    /// staysFinite (the exact check) and step compute the same expressions, so they agree to the
    /// last rounding: for random gradients and velocities, θ is bisected (over its bit patterns;
    /// θ_next grows with θ) to the last value whose update step keeps finite, and at that edge
    /// and the 8 floats on each side the check must say exactly what the step does.
    func testStaysFiniteAgreesWithStepAtTheEdgeOfOverflow() {
        var rng = KeyedRandom(seed: 11)
        let big = Float.greatestFiniteMagnitude
        var edges = 0
        for _ in 0..<300 {
            let grad: [Float] = [-big * 0.25 * rng.nextFloat()]
            let velocity = -big * 0.25 * rng.nextFloat()
            let lr: Float = 0.5 + 0.5 * rng.nextFloat()
            func update(_ theta: Float) -> (predicted: Bool, finite: Bool) {
                let sgd = SGD(parameterCount: 1, momentum: 0.9, weightDecay: 0.01)
                sgd.velocity.pointer[0] = velocity
                var t = [theta]
                let predicted = t.withUnsafeBufferPointer { p in grad.withUnsafeBufferPointer {
                    sgd.staysFinite(parameters: p.baseAddress!, gradients: $0.baseAddress!, learningRate: lr) } }
                t.withUnsafeMutableBufferPointer { p in grad.withUnsafeBufferPointer {
                    sgd.step(parameters: p.baseAddress!, gradients: $0.baseAddress!, learningRate: lr) } }
                return (predicted, t[0].isFinite)
            }
            var low: UInt32 = 0, high = big.bitPattern   // finite at 0; is it at the largest float?
            guard !update(big).finite else { continue }
            while high - low > 1 {
                let mid = low + (high - low) / 2
                if update(Float(bitPattern: mid)).finite { low = mid } else { high = mid }
            }
            edges += 1
            for bits in (low - 8)...(low + 8) {
                let r = update(Float(bitPattern: bits))
                XCTAssertEqual(r.predicted, r.finite, "θ \(Float(bitPattern: bits)) g \(grad[0]) v \(velocity) lr \(lr)")
            }
        }
        XCTAssertEqual(edges, 300, "every draw overflows at the largest θ")
    }
}

extension SGDTests {
    /// The network form of the step: the same update as the pointer form, bit for bit, and the
    /// parameters' gradients zeroed in the same pass (the tail slots kept, then zeroed by the next
    /// `zeroGradients`); a refused step leaves everything as it was. The next step's gradients
    /// are those of a network whose gradients were zeroed the usual way.
    func testNetworkStepClearsTheGradientsItUsed() {
        let make = { () -> Network in
            let net = ModelKind.mlp.build(input: Shape(1, 4, 4), classes: 3)
            net.initialize(seed: 3)
            return net
        }
        let a = make(), b = make()
        let sa = SGD(parameterCount: a.parameterCount, momentum: 0.9, weightDecay: 5e-4)
        let sb = SGD(parameterCount: b.parameterCount, momentum: 0.9, weightDecay: 5e-4)
        // The network keeps a pointer to its input until the backward pass: a buffer of its own.
        let x = FloatBuffer(count: 2 * 16)
        for (i, v) in randomFloats(2 * 16, seed: 9).enumerated() { x.pointer[i] = abs(v) }
        let dLogits = randomFloats(2 * 3, seed: 10)
        let p = a.parameterCount, tail = Network.tailSlots
        for step in 0..<3 {
            for net in [a, b] {
                net.zeroGradients()
                net.forward(x.pointer, batch: 2)
                net.backward(dLogits.map { $0 * Float(step + 1) }, parameterGradients: true)
                net.gradients.pointer[p] = 7   // a tail slot
            }
            XCTAssertFalse(a.gradientsAreCleared)
            XCTAssertEqual(Array(a.gradients.buffer), Array(b.gradients.buffer), "step \(step): gradients")
            XCTAssertTrue(sa.stepIfFinite(a, learningRate: 0.1))
            XCTAssertTrue(sb.stepIfFinite(parameters: b.parameters.pointer, gradients: b.gradients.pointer, learningRate: 0.1))
            XCTAssertEqual(Array(a.parameters.buffer), Array(b.parameters.buffer), "step \(step): parameters")
            XCTAssertEqual(Array(sa.velocity.buffer), Array(sb.velocity.buffer))
            XCTAssertTrue(a.gradientsAreCleared)
            XCTAssertTrue(a.gradients.buffer.prefix(p).allSatisfy { $0 == 0 })
            XCTAssertEqual(a.gradients.pointer[p], 7)
            a.zeroGradients()
            XCTAssertTrue(a.gradients.buffer.suffix(tail).allSatisfy { $0 == 0 }, "the tail is zeroed")
            XCTAssertFalse(a.gradientsAreCleared)
        }
        // A refused step writes nothing and clears nothing.
        a.zeroGradients()
        a.forward(x.pointer, batch: 2)
        a.backward(dLogits, parameterGradients: true)
        a.gradients.pointer[0] = .nan
        let (theta, grads) = (Array(a.parameters.buffer), Array(a.gradients.buffer))
        XCTAssertFalse(sa.stepIfFinite(a, learningRate: 0.1))
        XCTAssertEqual(Array(a.parameters.buffer), theta)
        XCTAssertEqual(Array(a.gradients.buffer).dropFirst(), grads.dropFirst())
        XCTAssertFalse(a.gradientsAreCleared)
    }
}
