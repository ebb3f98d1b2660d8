@testable import Observatory
import XCTest

final class TensorBoardHistogramTests: XCTestCase {
    func testHalfOpenBucketsAndStatistics() {
        let h = TensorBoardHistogram(values: [0, 0.5, 1, 1.5, 2.9], edges: [0, 1, 2, 3])
        XCTAssertEqual(h.bucketLimits, [1, 2, 3])
        XCTAssertEqual(h.counts, [2, 2, 1])          // 1 belongs to [1, 2), not [0, 1)
        XCTAssertEqual([h.min, h.max], [0, 2.9])
        XCTAssertEqual(h.sum, 5.9, accuracy: 1e-12)
        XCTAssertEqual(h.sumSquares, 0.25 + 1 + 2.25 + 2.9 * 2.9, accuracy: 1e-12)
    }

    func testOverflowBucketsOnlyWhenNeeded() {
        let h = TensorBoardHistogram(values: [-5, -.infinity, 0.5, 3, 7, .infinity], edges: [0, 1, 3])
        XCTAssertEqual(h.bucketLimits, [0, 1, 3, .greatestFiniteMagnitude])
        XCTAssertEqual(h.counts, [2, 1, 0, 3])        // the last edge itself overflows: [1, 3) excludes 3
        XCTAssertEqual(h.counts.reduce(0, +), 6)
        XCTAssertEqual([h.min, h.max], [-.infinity, .infinity])

        let above = TensorBoardHistogram(values: [2, 9], edges: [0, 1, 3])
        XCTAssertEqual(above.bucketLimits, [1, 3, .greatestFiniteMagnitude])
        XCTAssertEqual(above.counts, [0, 1, 1])
    }

    func testNaNIsLeftOutAndEmptyIsZero() {
        let h = TensorBoardHistogram(values: [.nan, 0.25], edges: [0, 1])
        XCTAssertEqual(h.counts, [1])
        XCTAssertEqual([h.min, h.max, h.sum], [0.25, 0.25, 0.25])
        let empty = TensorBoardHistogram(values: [], edges: [-1, 0, 1])
        XCTAssertEqual(empty.bucketLimits, [0, 1])
        XCTAssertEqual(empty.counts, [0, 0])
        XCTAssertEqual([empty.min, empty.max, empty.sum, empty.sumSquares], [0, 0, 0, 0])
    }

    /// Binary search against a linear scan over many edges and values.
    func testMatchesLinearScan() {
        let edges = (0...40).map { -2 + 0.1 * Double($0) }
        var state: UInt64 = 12345
        let values = (0..<2000).map { _ -> Double in
            state = state &* 6364136223846793005 &+ 1442695040888963407
            return -2.5 + 5 * Double(state >> 11) / Double(1 << 53)
        }
        let h = TensorBoardHistogram(values: values, edges: edges)
        var expected = [Double](repeating: 0, count: edges.count + 1)
        for x in values {
            if x < edges[0] { expected[0] += 1; continue }
            let i = (0..<edges.count - 1).first { edges[$0] <= x && x < edges[$0 + 1] }
            expected[i.map { $0 + 1 } ?? edges.count] += 1
        }
        XCTAssertEqual(h.counts, expected)
        XCTAssertEqual(h.bucketLimits, [edges[0]] + edges.dropFirst() + [.greatestFiniteMagnitude])
    }
}
