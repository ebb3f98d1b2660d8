import NeuralCore
import XCTest

final class KeyedRandomTests: XCTestCase {
    func testStreamsAreKeyed() {
        var a = KeyedRandom(seed: 1, keys: 2, 3), b = KeyedRandom(seed: 1, keys: 2, 3), c = KeyedRandom(seed: 1, keys: 3, 2)
        let xa = (0..<8).map { _ in a.next() }, xb = (0..<8).map { _ in b.next() }, xc = (0..<8).map { _ in c.next() }
        XCTAssertEqual(xa, xb)
        XCTAssertNotEqual(xa, xc)
    }

    func testUniformRangeAndMean() {
        var r = KeyedRandom(seed: 9)
        var sum = 0.0
        for _ in 0..<100_000 {
            let u = r.uniform(0.5)
            XCTAssert(u >= -0.5 && u < 0.5)
            sum += Double(u)
        }
        XCTAssertLessThan(abs(sum / 100_000), 0.01)
    }

    func testPermutation() {
        let p = KeyedRandom.permutation(1000, seed: 5, keys: 1)
        XCTAssertEqual(p.sorted(), Array(0..<1000))
        XCTAssertEqual(p, KeyedRandom.permutation(1000, seed: 5, keys: 1))
        XCTAssertNotEqual(p, KeyedRandom.permutation(1000, seed: 5, keys: 2))
        XCTAssertNotEqual(p, Array(0..<1000))
    }
}
