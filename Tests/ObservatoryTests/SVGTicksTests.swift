@testable import Observatory
import TestSupport
import XCTest

final class SVGTicksTests: XCTestCase {
    func testUnitRangeGetsFifthSteps() {
        let (values, step) = Ticks.linear(covering: 0, 1, target: 5)
        XCTAssertEqual(step, 0.2)
        XCTAssertEqual(values, [0, 0.2, 0.4, 0.6, 0.8, 1])
    }

    func testTickValuesAreTheDecimalsAReaderExpects() {
        // 3 · 0.1 is 0.30000000000000004 in floating point; the tick must be the literal 0.3.
        let (values, step) = Ticks.linear(covering: -0.32, 0.31, target: 6)
        XCTAssertEqual(step, 0.2)
        XCTAssertEqual(values, [-0.4, -0.2, 0, 0.2, 0.4])
        let fine = Ticks.linear(covering: 0.1, 0.7, target: 6).values
        XCTAssertEqual(fine, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7])
    }

    func testStepsAreOneTwoFiveAndTicksCoverTheRange() {
        var state: UInt64 = 12345
        func uniform() -> Double {
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return Double(state >> 11) / Double(1 << 53)
        }
        for _ in 0..<500 {
            let scale = Foundation.pow(10, uniform() * 12 - 6)
            let a = (uniform() - 0.5) * 20 * scale, b = a + uniform() * 10 * scale + 1e-12
            let target = 3 + Int(uniform() * 6)
            let (values, step) = Ticks.linear(covering: a, b, target: target)
            let (mantissa, exponent) = Ticks.niceStep(span: b - a, target: target)
            XCTAssertTrue([1, 2, 5].contains(mantissa), "\(a)...\(b)")
            assertClose(step, Double(mantissa) * Foundation.pow(10, Double(exponent)), relative: 1e-12)
            XCTAssertLessThanOrEqual(values.first!, a, "first tick above the data \(a)...\(b)")
            XCTAssertGreaterThanOrEqual(values.last!, b, "last tick below the data \(a)...\(b)")
            XCTAssertLessThanOrEqual(values.count, target + 3, "too many ticks for \(a)...\(b) target \(target)")
            XCTAssertGreaterThanOrEqual(values.count, 2)
            for (u, v) in zip(values, values.dropFirst()) { assertClose(v - u, step, relative: 1e-9, absolute: 0) }
            for v in values { assertClose((v / step).rounded(), v / step, relative: 0, absolute: 1e-6) }
        }
    }

    func testMinimumStepKeepsEpochTicksIntegral() {
        let (values, step) = Ticks.linear(covering: 1, 3, target: 8, minStep: 1)
        XCTAssertEqual(step, 1)
        XCTAssertEqual(values, [1, 2, 3])
        XCTAssertEqual(Ticks.linear(covering: 1, 200, target: 8, minStep: 1).step, 50)
    }

    func testDegenerateRangesStillHaveALength() {
        let one = Ticks.linear(covering: 5, 5).values
        XCTAssertLessThan(one.first!, 5)
        XCTAssertGreaterThan(one.last!, 5)
        let zero = Ticks.linear(covering: 0, 0).values
        XCTAssertLessThan(zero.first!, 0)
        XCTAssertGreaterThan(zero.last!, 0)
        XCTAssertEqual(Ticks.linear(covering: .nan, 3).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
        XCTAssertEqual(Ticks.linear(covering: 1, 0, target: 5).values, [0, 0.2, 0.4, 0.6, 0.8, 1])
    }

    func testLogTicksArePowersOfTenCoveringTheRange() {
        XCTAssertEqual(Ticks.log10(covering: 1, 1000), [1, 10, 100, 1000])
        XCTAssertEqual(Ticks.log10(covering: 0.003, 250), [0.001, 0.01, 0.1, 1, 10, 100, 1000])
        XCTAssertEqual(Ticks.log10(covering: 2, 5), [1, 10])
        XCTAssertEqual(Ticks.log10(covering: 10, 10), [10, 100])
        XCTAssertEqual(Ticks.log10(covering: 0, 10), [1, 10], "non-positive input gives a default")
    }

    func testManyDecadesAreThinned() {
        let ticks = Ticks.log10(covering: 1e-9, 1e9, maxTicks: 8)
        XCTAssertLessThanOrEqual(ticks.count, 8)
        XCTAssertLessThanOrEqual(ticks.first!, 1e-9)
        XCTAssertGreaterThanOrEqual(ticks.last!, 1e9)
        for (a, b) in zip(ticks, ticks.dropFirst()) { assertClose(b / a, 1000, relative: 1e-9) }
    }

    func testLogMinorTicksFillTheDecades() {
        XCTAssertEqual(Ticks.logMinor([1, 10, 100]), [2, 3, 4, 5, 6, 7, 8, 9, 20, 30, 40, 50, 60, 70, 80, 90])
    }

    func testLogAxisCannotPlaceNonPositiveValues() {
        let axis = Axis.log10(covering: 1, 100)
        XCTAssertNil(axis.fraction(0))
        XCTAssertNil(axis.fraction(-3))
        XCTAssertEqual(axis.fraction(10)!, 0.5, accuracy: 1e-12)
        XCTAssertEqual(axis.fraction(100)!, 1, accuracy: 1e-12)
        XCTAssertEqual(axis.label(0.01), "0.01")
        XCTAssertEqual(axis.label(1000), "1000")
        XCTAssertEqual(axis.label(1e-6), "1e-6")
    }

    func testLabelsUseTheDecimalsOfTheStep() {
        XCTAssertEqual(SVG.label(0.30000000000000004, step: 0.1), "0.3")
        XCTAssertEqual(SVG.label(2, step: 0.5), "2.0")
        XCTAssertEqual(SVG.label(1500, step: 500), "1500")
        XCTAssertEqual(SVG.label(-0.0, step: 1), "0")
        XCTAssertEqual(SVG.label(2.5e-5, step: 5e-6), "2.5e-5")
        XCTAssertEqual(SVG.label(3e6, step: 1e6), "3e6")
    }
}
