import NeuralCore
import Distributed
import TestSupport
import Training
import XCTest

/// The per-step scan for non-finite values (`GradientReducer.allFinite`, a vectorised C kernel):
/// any NaN or infinity anywhere, also in the tail past the last full vector, is found; the
/// largest finite values, subnormals and negative zero are not mistaken for one.
final class GradientReducerTests: XCTestCase {
    func testAllFiniteFindsEveryNonFiniteValueAnywhere() {
        for count in [1, 15, 16, 17, 63, 1000, 4099] {
            var values = (0..<count).map { Float($0 % 13) - 6 }
            XCTAssert(GradientReducer.allFinite(values, count: count), "\(count) ordinary values")
            for position in Set([0, count / 2, count - 1]) {
                for bad in [Float.nan, -Float.nan, .infinity, -.infinity, .signalingNaN] {
                    let keep = values[position]
                    values[position] = bad
                    XCTAssertFalse(GradientReducer.allFinite(values, count: count), "\(bad) at \(position) of \(count)")
                    values[position] = keep
                }
            }
        }
    }

    func testExtremeFiniteValuesPass() {
        let values: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude,
                               -.leastNormalMagnitude, -0.0, 0, 1e-40, -3e38]
        XCTAssert(GradientReducer.allFinite(values, count: values.count))
        XCTAssert(GradientReducer.allFinite(values, count: 0), "nothing to scan")
    }

    func testOnlyTheFirstCountValuesAreScanned() {
        let values: [Float] = [1, 2, 3, .nan]
        XCTAssert(GradientReducer.allFinite(values, count: 3))
        XCTAssertFalse(GradientReducer.allFinite(values, count: 4))
    }

    func testMaxMagnitudeIsTheLargestAbsoluteValueAndNaNWins() {
        for count in [1, 15, 16, 17, 63, 1000, 4099] {
            var values = randomFloats(count, seed: UInt64(count), low: -3, high: 3)
            let expected = values.map(abs).max()!
            XCTAssertEqual(GradientReducer.maxMagnitude(values, count: count), expected, "\(count)")
            values[count - 1] = -1e30
            XCTAssertEqual(GradientReducer.maxMagnitude(values, count: count), 1e30, "\(count): a negative value counts by magnitude")
            values[count / 2] = -.infinity
            XCTAssertEqual(GradientReducer.maxMagnitude(values, count: count), .infinity)
            values[0] = .nan
            XCTAssert(GradientReducer.maxMagnitude(values, count: count).isNaN, "NaN beats infinity")
        }
        XCTAssertEqual(GradientReducer.maxMagnitude([Float](), count: 0), 0)
        XCTAssertEqual(GradientReducer.maxMagnitude([-0.0, 1e-40], count: 2), 1e-40, "subnormals, negative zero")
    }

    /// With one bucket, the reduced tail holds the sum of the ranks' largest |gradient| (at one
    /// rank: the largest); with several, none is known.
    func testGradientMagnitudeTravelsWithOneBucketOnly() throws {
        let network = ModelKind.mlp.build(input: Shape(1, 28, 28), classes: 10)
        for buckets in [nil, 4096] as [Int?] {
            let reducer = GradientReducer(network: network, comm: LocalCommunicator(), bucketBytes: buckets)
            let g = network.gradients.pointer, p = network.parameterCount
            reducer.willBackward(loss: 1)
            for i in 0..<p { g[i] = Float(i % 101) * 1e-3 - 0.05 }
            g[p / 3] = -7.5
            for i in stride(from: network.layers.count - 1, through: 0, by: -1) { reducer.layerDone(i) }
            try reducer.finish()
            if buckets == nil {
                XCTAssertGreaterThan(reducer.buckets.count, 0)
                XCTAssertEqual(reducer.buckets.count, 1)
                XCTAssertEqual(reducer.gradientMagnitude, 7.5)
            } else {
                XCTAssertGreaterThan(reducer.buckets.count, 1)
                XCTAssertNil(reducer.gradientMagnitude)
            }
        }
    }
}
