import Adversarial
import Distributed
import NeuralCore
import TestSupport
import Training
import XCTest

/// Epoch sums after EnergyObjective.compute on a tiny model equal a direct Double
/// computation of every field from the logits.
final class EpochStatisticsTests: XCTestCase {
    typealias Field = EpochStatistics.Field

    /// Direct sums for one batch: logits (2n, k), rows 0..<n clean, n..<2n adversarial.
    func directSums(logits: [Float], n: Int, k: Int, labels: [Int32], loss: Double, beta: Double, gamma: Double,
                    mode: DERMode) -> [Field: Double] {
        var s = [Field: Double]()
        for f in Field.allCases { s[f] = 0 }
        s[.count] = Double(n)
        s[.loss] = loss
        var lossCheck = 0.0
        for i in 0..<n {
            let y = Int(labels[i])
            let fc = logits[(i * k)..<(i * k + k)], fa = logits[((n + i) * k)..<((n + i) * k + k)]
            let dc = fc.map(Double.init), da = fa.map(Double.init)
            let eC = -Fixtures.logSumExp(dc[...]), eA = -Fixtures.logSumExp(da[...])
            let jC = -dc[y], jA = -da[y]
            let ceC = jC - eC, ceA = jA - eA
            let norm = ((eC - eA) * (eC - eA) + (jC - jA) * (jC - jA)).squareRoot()
            let der = max(norm - gamma, 0)
            let isAAE = ceA < ceC
            s[.correctClean]! += Fixtures.argmax(fc) == y ? 1 : 0
            s[.correctAdv]! += Fixtures.argmax(fa) == y ? 1 : 0
            s[.aae]! += isAAE ? 1 : 0
            s[.energyClean]! += eC; s[.energyAdv]! += eA; s[.jointClean]! += jC; s[.jointAdv]! += jA
            s[.deltaEnergy]! += abs(eC - eA); s[.deltaJoint]! += abs(jC - jA); s[.deltaNorm]! += norm
            s[.der]! += der; s[.ceClean]! += ceC; s[.ceAdv]! += ceA
            lossCheck += ceA + (mode == .all || (mode == .aae && isAAE) ? beta * der : 0)
        }
        XCTAssertEqual(loss, lossCheck, accuracy: 1e-4 * max(1, abs(lossCheck)), "objective loss")
        return s
    }

    func testAccumulateEqualsDirectComputation() throws {
        let net = Network(layers: [Flatten(shape: Shape(1, 4, 4), layout: .chw), Linear(16, 12),
                                   ReLU(shape: Shape(12, 1, 1), layout: .chw), Linear(12, 3)])
        net.initialize(seed: 300)
        for j in 0..<net.parameterCount { net.parameters.pointer[j] *= 3 }   // spread the logits
        let n = 6, k = 3, d = 16
        let objective = EnergyObjective(mode: .aae, beta: 1.5, gamma: 0.05)
        var stats = EpochStatistics()
        var expected = [Field: Double]()
        for f in Field.allCases { expected[f] = 0 }
        var sawCorrect = false, sawWrong = false, sawAAE = false, sawNonAAE = false
        for batch in 0..<3 {
            let pair = randomFloats(2 * n * d, seed: 310 + UInt64(batch), low: 0, high: 1)
            let logits = pair.withUnsafeBufferPointer {
                Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: 2 * n), count: 2 * n * k))
            }
            // Half the labels are the clean prediction, so both accuracy outcomes occur.
            let labels = (0..<n).map { i in Int32(i.isMultiple(of: 2) ? Fixtures.argmax(logits[(i * k)..<(i * k + k)]) : (i + batch) % k) }
            var dLogits = [Float](repeating: 0, count: 2 * n * k)
            let loss = logits.withUnsafeBufferPointer { l in
                labels.withUnsafeBufferPointer { y in
                    dLogits.withUnsafeMutableBufferPointer {
                        objective.compute(logits: l.baseAddress!, n: n, classes: k, labels: y.baseAddress!, reference: nil,
                                          scale: 1 / Float(n), dLogits: $0.baseAddress!)
                    }
                }
            }
            stats.accumulate(objective, labels: labels, loss: loss)
            let direct = directSums(logits: logits, n: n, k: k, labels: labels, loss: loss, beta: 1.5, gamma: 0.05, mode: .aae)
            for f in Field.allCases { expected[f]! += direct[f]! }
            for i in 0..<n {
                if objective.predictedClean.pointer[i] == Float(labels[i]) { sawCorrect = true } else { sawWrong = true }
                if objective.aae.pointer[i] == 1 { sawAAE = true } else { sawNonAAE = true }
            }
        }
        XCTAssert(sawCorrect && sawWrong && sawAAE && sawNonAAE, "the fixture exercises every counter")
        XCTAssertEqual(stats[.count], Double(3 * n))
        for f in [Field.count, .correctClean, .correctAdv, .aae] {
            XCTAssertEqual(stats[f], expected[f]!, "\(f.key) is an exact count")
        }
        XCTAssertGreaterThan(stats[.der], 0)
        for f in Field.allCases {
            assertClose(stats[f], expected[f]!, relative: 1e-5, absolute: 1e-5, f.key)
        }

        // Means in the summary are the sums over the sample count.
        let summary = Dictionary(uniqueKeysWithValues: stats.summary)
        XCTAssertEqual(summary["samples"], Double(3 * n))
        XCTAssertEqual(summary["aae_count"], expected[.aae]!)
        assertClose(summary["aae_rate"]!, expected[.aae]! / Double(3 * n))
        assertClose(summary["clean_acc"]!, expected[.correctClean]! / Double(3 * n))
        assertClose(summary["E_x"]!, expected[.energyClean]! / Double(3 * n), relative: 1e-5, absolute: 1e-6)
        assertClose(summary["der"]!, expected[.der]! / Double(3 * n), relative: 1e-5, absolute: 1e-6)

        // The single-process reduce is the identity.
        let before = stats.sums
        try stats.reduce(LocalCommunicator())
        XCTAssertEqual(stats.sums, before)
    }

    func testFieldKeysAreUnique() {
        let keys = Field.allCases.map(\.key)
        XCTAssertEqual(Set(keys).count, keys.count)
        XCTAssertEqual(EpochStatistics().sums, [Double](repeating: 0, count: Field.allCases.count))
    }
}
