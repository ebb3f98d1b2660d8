import Adversarial
import NeuralCore
import TestSupport
import XCTest

/// EnergyObjective against a direct Double computation on tiny logits (n = 3, k = 4),
/// and its dLogits against finite differences of its own loss.
final class ObjectiveTests: XCTestCase {
    let n = 3, k = 4
    let labels: [Int32] = [0, 2, 2]
    /// Rows 0..<3 clean, 3..<6 adversarial. Sample 0 and 2: the attack raised CE; sample 1: lowered (an AAE).
    let logits: [Float] = [
        2.0, 0.5, -1.0, 0.3,
        0.1, 1.2, -0.4, 0.7,
        -0.5, 0.2, 1.5, -1.1,
        0.8, 1.4, -0.6, 0.9,
        0.3, 0.2, 0.9, 0.1,
        -0.2, 0.9, 0.4, -0.3,
    ]
    let scale: Float = 1.0 / 5   // as if the global batch were 5

    func checkAgainstDirect(_ o: EnergyObjective, mode: DERMode, beta: Float, gamma: Float,
                            logits: [Float]? = nil, reference: [Float]? = nil,
                            file: StaticString = #filePath, line: UInt = #line) -> Fixtures.Objective {
        let f = logits ?? self.logits
        o.mode = mode; o.beta = beta; o.gamma = gamma
        let (loss, d) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, reference: reference, scale: scale)
        let ref = Fixtures.objective(logits: f, n: n, k: k, labels: labels, reference: reference, mode: mode,
                                     beta: Double(beta), gamma: Double(gamma), scale: Double(scale))
        let what = "\(mode) β=\(beta) γ=\(gamma)"
        XCTAssertEqual(o.count, n, file: file, line: line)
        func same(_ b: FloatBuffer, _ e: [Double], _ name: String) {
            assertClose(Fixtures.values(b, n), e.map(Float.init), relative: 1e-5, absolute: 1e-6, "\(what) \(name)",
                        file: file, line: line)
        }
        same(o.energyClean, ref.energyClean, "E(x)")
        same(o.jointClean, ref.jointClean, "E(x,y)")
        same(o.energyAdv, ref.energyAdv, "E(x*)")
        same(o.jointAdv, ref.jointAdv, "E(x*,y)")
        same(o.ceClean, ref.ceClean, "CE(x)")
        same(o.ceAdv, ref.ceAdv, "CE(x*)")
        same(o.der, ref.der, "DER")
        same(o.ceReference, reference.map { $0.map(Double.init) } ?? ref.ceClean, "reference CE")
        XCTAssertEqual(Fixtures.values(o.aae, n), ref.aae, "\(what) AAE", file: file, line: line)
        XCTAssertEqual(Fixtures.values(o.predictedClean, n), ref.predictedClean, "\(what) prediction x", file: file, line: line)
        XCTAssertEqual(Fixtures.values(o.predictedAdv, n), ref.predictedAdv, "\(what) prediction x*", file: file, line: line)
        assertClose(loss, ref.loss, relative: 1e-6, absolute: 1e-6, "\(what) loss", file: file, line: line)
        assertClose(d, ref.dLogits.map(Float.init), relative: 1e-5, absolute: 1e-7, "\(what) dLogits", file: file, line: line)
        return ref
    }

    func testHandCaseIsWhatItClaims() {
        // The fixture must exercise both sides of the AAE test; CE in Double from the definition.
        let ref = Fixtures.objective(logits: logits, n: n, k: k, labels: labels, reference: nil, mode: .aae,
                                     beta: 1, gamma: 0, scale: 1)
        XCTAssertEqual(ref.aae, [0, 1, 0])
        XCTAssertEqual(ref.predictedClean, [0, 1, 2])
        XCTAssertEqual(ref.predictedAdv, [1, 2, 1])
        // CE(x_0, 0) = log(e² + e^0.5 + e^−1 + e^0.3) − 2
        let ce0 = log(exp(2.0) + exp(0.5) + exp(-1.0) + exp(0.3)) - 2
        XCTAssertEqual(ref.ceClean[0], ce0, accuracy: 1e-6)
    }

    func testEveryOutputMatchesDirectComputation() {
        let o = EnergyObjective(mode: .off, beta: 0, gamma: 0)
        for mode in DERMode.allCases {
            for (beta, gamma) in [(Float(1), Float(0)), (2.5, 0.05)] {
                _ = checkAgainstDirect(o, mode: mode, beta: beta, gamma: gamma)
            }
        }
    }

    func testModeOffIsCrossEntropyOfAdversarialOnly() {
        let o = EnergyObjective(mode: .off, beta: 3, gamma: 0)
        let ref = checkAgainstDirect(o, mode: .off, beta: 3, gamma: 0)
        XCTAssertEqual(ref.loss, ref.ceAdv.reduce(0, +), accuracy: 1e-12)
        let (_, d) = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale)
        XCTAssertEqual(Array(d[0..<(n * k)]), [Float](repeating: 0, count: n * k), "no gradient into the clean half")
        XCTAssert(Fixtures.values(o.der, n).allSatisfy { $0 > 0 }, "DER is still reported")
    }

    func testModeAllAndAAELossesDifferByMaskedDER() {
        let o = EnergyObjective(mode: .all, beta: 2, gamma: 0)
        let all = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale).loss
        let der = Fixtures.values(o.der, n).map(Double.init)
        let ce = Fixtures.values(o.ceAdv, n).map(Double.init).reduce(0, +)
        XCTAssertEqual(all, ce + 2 * der.reduce(0, +), accuracy: 1e-5)
        o.mode = .aae
        let aae = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale).loss
        XCTAssertEqual(aae, ce + 2 * der[1], accuracy: 1e-5, "only sample 1 is an AAE")
        o.mode = .off
        XCTAssertEqual(Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale).loss, ce, accuracy: 1e-5)
    }

    func testUniformShiftHasHandComputedDER() {
        // x* logits = x logits + c: CE unchanged, both energy gaps equal c, so DER = √2·|c| − γ.
        var f = Array(logits[0..<(n * k)])
        let shifts: [Float] = [0.5, -0.25, 1.0]
        for i in 0..<n { f += logits[(i * k)..<(i * k + k)].map { $0 + shifts[i] } }
        let o = EnergyObjective(mode: .all, beta: 1, gamma: 0.1)
        let (loss, _) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, scale: 1)
        for i in 0..<n {
            XCTAssertEqual(o.der.pointer[i], Float(2).squareRoot() * abs(shifts[i]) - 0.1, accuracy: 1e-5)
            XCTAssertEqual(o.ceAdv.pointer[i], o.ceClean.pointer[i], accuracy: 1e-5)
            XCTAssertEqual(o.energyClean.pointer[i] - o.energyAdv.pointer[i], shifts[i], accuracy: 1e-5)
            XCTAssertEqual(o.aae.pointer[i], 0, "equal CE is not an AAE (strict <)")
        }
        let ce = (0..<n).map { Double(o.ceClean.pointer[$0]) }.reduce(0, +)
        XCTAssertEqual(loss, ce + (0..<n).map { 2.0.squareRoot() * Double(abs(shifts[$0])) - 0.1 }.reduce(0, +), accuracy: 1e-5)
    }

    func testGammaHidesSmallGaps() {
        // Sample 2's x* logits differ from x's by 0.01: its norm is far below γ = 0.2.
        var f = logits
        for j in 0..<k { f[(n + 2) * k + j] = logits[2 * k + j] + (j == 1 ? 0.01 : 0) }
        let o = EnergyObjective(mode: .all, beta: 1, gamma: 0.2)
        _ = checkAgainstDirect(o, mode: .all, beta: 1, gamma: 0.2, logits: f)
        XCTAssertEqual(o.der.pointer[2], 0, "gap below γ")
        XCTAssertGreaterThan(o.der.pointer[0], 0)
        let (_, d) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, scale: scale)
        XCTAssertEqual(Array(d[(2 * k)..<(3 * k)]), [0, 0, 0, 0], "no DER gradient into x of a hidden sample")
        // The hidden sample's x* gradient is the plain CE gradient.
        var ceGrad = [Float](repeating: 0, count: k)
        f.withUnsafeBufferPointer { fp in
            ceGrad.withUnsafeMutableBufferPointer {
                _ = Energy.crossEntropyGradient(fp.baseAddress! + (n + 2) * k, k, label: 2, scale: scale, into: $0.baseAddress!)
            }
        }
        assertClose(Array(d[((n + 2) * k)..<((n + 3) * k)]), ceGrad, relative: 1e-6, absolute: 1e-8)
        // Raising γ above every norm removes DER altogether: the loss is CE(x*) only.
        o.gamma = 100
        let (loss, d2) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, scale: scale)
        XCTAssertEqual(loss, Fixtures.values(o.ceAdv, n).map(Double.init).reduce(0, +), accuracy: 1e-6)
        XCTAssertEqual(Array(d2[0..<(n * k)]), [Float](repeating: 0, count: n * k))
    }

    /// Central differences of scale·compute(f) with respect to every logit.
    func checkFiniteDifferences(mode: DERMode, gamma: Float, file: StaticString = #filePath, line: UInt = #line) {
        let o = EnergyObjective(mode: mode, beta: 1.5, gamma: gamma)
        var f = logits
        let (_, analytic) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, scale: scale)
        // Away from the kink ‖·‖ = γ and from the AAE boundary, so the loss is smooth here.
        for i in 0..<n {
            let r = (pow(o.energyClean.pointer[i] - o.energyAdv.pointer[i], 2)
                     + pow(o.jointClean.pointer[i] - o.jointAdv.pointer[i], 2)).squareRoot()
            XCTAssertGreaterThan(abs(r - gamma), 0.05, file: file, line: line)
            XCTAssertGreaterThan(abs(o.ceAdv.pointer[i] - o.ceClean.pointer[i]), 0.05, file: file, line: line)
        }
        let mask = Fixtures.values(o.aae, n)
        let numeric = f.withUnsafeMutableBufferPointer { fp in
            finiteDifferences(fp.baseAddress!, coordinates: Array(0..<(2 * n * k)), h: 1e-3) {
                Double(scale) * Fixtures.compute(o, logits: Array(fp), n: n, k: k, labels: labels, scale: scale).loss
            }
        }
        XCTAssertEqual(Fixtures.values(o.aae, n), mask, file: file, line: line)
        // Only the central difference: the loss is smooth at this point.
        assertGradientsMatch(analytic: analytic.map(Double.init), numerical: numeric.map { [$0[0]] },
                             relative: 1e-2, absolute: 2e-4, "\(mode) dLogits", file: file, line: line)
        XCTAssertEqual(analytic[0..<(n * k)].contains { $0 != 0 }, mode != .off, "DER reaches the clean logits",
                       file: file, line: line)
    }

    func testFiniteDifferencesAll() { checkFiniteDifferences(mode: .all, gamma: 0.1) }
    func testFiniteDifferencesAAE() { checkFiniteDifferences(mode: .aae, gamma: 0) }
    func testFiniteDifferencesOff() { checkFiniteDifferences(mode: .off, gamma: 0) }

    func testZeroNormGivesFiniteZeroDERGradient() {
        // Identical clean and adversarial logits: r = 0, DER = 0 and its gradient is zero, not NaN.
        let clean = Array(logits[0..<(n * k)])
        let f = clean + clean
        for mode in [DERMode.all, .aae] {
            let o = EnergyObjective(mode: mode, beta: 4, gamma: 0)
            let (loss, d) = Fixtures.compute(o, logits: f, n: n, k: k, labels: labels, reference: [9, 9, 9], scale: scale)
            if mode == .aae { XCTAssertEqual(Fixtures.values(o.aae, n), [1, 1, 1], "every sample masked in") }
            XCTAssert(loss.isFinite && d.allSatisfy(\.isFinite), "\(mode): \(loss) \(d)")
            XCTAssertEqual(Fixtures.values(o.der, n), [0, 0, 0])
            XCTAssertEqual(Array(d[0..<(n * k)]), [Float](repeating: 0, count: n * k), "\(mode) clean half")
            var ce = [Float](repeating: 0, count: n * k)
            clean.withUnsafeBufferPointer { fp in
                ce.withUnsafeMutableBufferPointer { g in
                    for i in 0..<n {
                        _ = Energy.crossEntropyGradient(fp.baseAddress! + i * k, k, label: Int(labels[i]), scale: scale,
                                                        into: g.baseAddress! + i * k)
                    }
                }
            }
            XCTAssertEqual(Array(d[(n * k)...]), ce, "\(mode): x* half is the CE gradient")
            XCTAssertEqual(loss, Fixtures.values(o.ceClean, n).map(Double.init).reduce(0, +), accuracy: 1e-6)
        }
    }

    func testReferenceArgumentSetsTheAAEMask() {
        let o = EnergyObjective(mode: .aae, beta: 1, gamma: 0)
        _ = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale)
        let ceAdv = Fixtures.values(o.ceAdv, n)
        XCTAssertEqual(Fixtures.values(o.aae, n), [0, 1, 0], "reference nil: CE(x)")
        // Reference just above CE(x*) for samples 0 and 2 only: they become AAEs, sample 1 does not.
        let reference: [Float] = [ceAdv[0] + 0.01, ceAdv[1] - 0.01, ceAdv[2] + 0.01]
        _ = checkAgainstDirect(o, mode: .aae, beta: 1, gamma: 0, reference: reference)
        XCTAssertEqual(Fixtures.values(o.aae, n), [1, 0, 1])
        XCTAssertEqual(Fixtures.values(o.ceReference, n), reference)
        // Reference equal to CE(x*) is not an AAE (strict).
        _ = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, reference: ceAdv, scale: scale)
        XCTAssertEqual(Fixtures.values(o.aae, n), [0, 0, 0])
        // All masked in: the .aae loss equals the .all loss.
        let allIn = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, reference: [50, 50, 50], scale: scale)
        o.mode = .all
        let all = Fixtures.compute(o, logits: logits, n: n, k: k, labels: labels, scale: scale)
        XCTAssertEqual(allIn.loss, all.loss)
        XCTAssertEqual(allIn.dLogits, all.dLogits)
    }

    func testComputeCleanIsCrossEntropyOnly() {
        let clean = Array(logits[0..<(n * k)])
        let o = EnergyObjective(mode: .all, beta: 2, gamma: 0)
        var d = [Float](repeating: .nan, count: n * k)
        let loss = clean.withUnsafeBufferPointer { f in
            labels.withUnsafeBufferPointer { y in
                d.withUnsafeMutableBufferPointer {
                    o.computeClean(logits: f.baseAddress!, n: n, classes: k, labels: y.baseAddress!, scale: scale,
                                   dLogits: $0.baseAddress!)
                }
            }
        }
        // Direct: Σ CE(x_i) and scale·(softmax − onehot).
        let ref = Fixtures.objective(logits: clean + clean, n: n, k: k, labels: labels, reference: nil, mode: .off,
                                     beta: 0, gamma: 0, scale: Double(scale))
        XCTAssertEqual(loss, ref.ceClean.reduce(0, +), accuracy: 1e-5)
        assertClose(d, ref.dLogits[(n * k)...].map(Float.init), relative: 1e-5, absolute: 1e-7)
        assertClose(Fixtures.values(o.ceClean, n), ref.ceClean.map(Float.init))
        XCTAssertEqual(Fixtures.values(o.ceAdv, n), Fixtures.values(o.ceClean, n))
        XCTAssertEqual(Fixtures.values(o.energyAdv, n), Fixtures.values(o.energyClean, n))
        assertClose(Fixtures.values(o.energyClean, n), ref.energyClean.map(Float.init))
        XCTAssertEqual(Fixtures.values(o.der, n), [0, 0, 0])
        XCTAssertEqual(Fixtures.values(o.aae, n), [0, 0, 0])
        XCTAssertEqual(Fixtures.values(o.predictedClean, n), ref.predictedClean)
        // Same as compute in mode .off on [f; f] (x* = x).
        let off = EnergyObjective(mode: .off, beta: 0, gamma: 0)
        let pair = Fixtures.compute(off, logits: clean + clean, n: n, k: k, labels: labels, scale: scale)
        XCTAssertEqual(loss, pair.loss, accuracy: 1e-6)
        assertClose(d, Array(pair.dLogits[(n * k)...]), relative: 1e-6, absolute: 1e-8)
    }
}
