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
}
