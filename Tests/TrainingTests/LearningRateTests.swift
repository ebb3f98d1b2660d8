import Training
import XCTest

final class LearningRateTests: XCTestCase {
    func testCyclicTriangle() {
        let peak: Float = 0.2, epochs = 10
        func lr(_ t: Double) -> Float { LearningRateSchedule.cyclic.rate(peak: peak, epoch: t, epochs: epochs) }
        XCTAssertEqual(lr(0), 0)
        XCTAssertEqual(lr(4), peak, accuracy: 1e-7, "peak at 0.4·epochs")
        XCTAssertEqual(lr(10), 0, accuracy: 1e-7)
        // Linear up, then linear down.
        XCTAssertEqual(lr(1), peak / 4, accuracy: 1e-7)
        XCTAssertEqual(lr(2), peak / 2, accuracy: 1e-7)
        XCTAssertEqual(lr(7), peak / 2, accuracy: 1e-7)
        XCTAssertEqual(lr(8.5), peak / 4, accuracy: 1e-7)
        for t in stride(from: 0.0, through: 10.0, by: 0.25) {
            let expected = t <= 4 ? Double(peak) * t / 4 : Double(peak) * (10 - t) / 6
            XCTAssertEqual(Double(lr(t)), expected, accuracy: 1e-6, "t = \(t)")
        }
        // Fractional-epoch slopes on a short run: peak at 0.4 of 3 epochs = 1.2.
        let short = { (t: Double) in LearningRateSchedule.cyclic.rate(peak: 1, epoch: t, epochs: 3) }
        XCTAssertEqual(short(1.2), 1, accuracy: 1e-6)
        XCTAssertEqual(short(0.6), 0.5, accuracy: 1e-6)
        XCTAssertEqual(short(2.1), 0.5, accuracy: 1e-6)
        XCTAssertEqual(short(3), 0, accuracy: 1e-7)
    }

    func testPiecewiseBoundaries() {
        let peak: Float = 0.1, epochs = 8
        func lr(_ t: Double) -> Float { LearningRateSchedule.piecewise.rate(peak: peak, epoch: t, epochs: epochs) }
        XCTAssertEqual(lr(0), peak)
        XCTAssertEqual(lr(3.999), peak)
        XCTAssertEqual(lr(4), peak * 0.1, accuracy: 1e-9, "×0.1 at 50%")
        XCTAssertEqual(lr(5.999), peak * 0.1, accuracy: 1e-9)
        XCTAssertEqual(lr(6), peak * 0.01, accuracy: 1e-9, "×0.01 at 75%")
        XCTAssertEqual(lr(8), peak * 0.01, accuracy: 1e-9)
    }

    func testConstant() {
        for t in [0.0, 0.3, 5, 10] {
            XCTAssertEqual(LearningRateSchedule.constant.rate(peak: 0.05, epoch: t, epochs: 10), 0.05)
        }
    }
}
