import NeuralCore
import XCTest

/// Asserts |a − b| ≤ absolute + relative·max(|a|, |b|) element-wise, naming the worst index.
public func assertClose(_ a: [Float], _ b: [Float], relative: Float = 1e-5, absolute: Float = 1e-6,
                        _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(a.count, b.count, "count \(message)", file: file, line: line)
    var worst = -1, worstExcess: Float = 0
    for i in 0..<min(a.count, b.count) {
        let tol = absolute + relative * max(abs(a[i]), abs(b[i]))
        let diff = abs(a[i] - b[i])
        if !(diff <= tol), diff - tol > worstExcess || worst < 0 { worst = i; worstExcess = diff - tol }
    }
    if worst >= 0 {
        XCTFail("\(message) index \(worst): \(a[worst]) vs \(b[worst])", file: file, line: line)
    }
}

public func assertClose(_ a: Double, _ b: Double, relative: Double = 1e-5, absolute: Double = 1e-6,
                        _ message: String = "", file: StaticString = #filePath, line: UInt = #line) {
    let tol = absolute + relative * max(abs(a), abs(b))
    XCTAssert(abs(a - b) <= tol, "\(message): \(a) vs \(b)", file: file, line: line)
}

/// Seeded uniform values in [low, high).
public func randomFloats(_ count: Int, seed: UInt64, low: Float = -1, high: Float = 1) -> [Float] {
    var rng = KeyedRandom(seed: seed)
    return (0..<count).map { _ in low + (high - low) * rng.nextFloat() }
}

/// Finite differences of `loss` with respect to the chosen coordinates of `values`, each
/// perturbed by ±h in place and restored. Each entry holds the central difference first,
/// then the forward and backward ones: a ReLU or max kink within h of a point lies on one
/// side only, so one of the one-sided differences stays exact for piecewise-linear nets.
public func finiteDifferences(_ values: UnsafeMutablePointer<Float>, coordinates: [Int], h: Float,
                              loss: () -> Double) -> [[Double]] {
    coordinates.map { i in
        let saved = values[i]
        let mid = loss()
        values[i] = saved + h
        let up = loss()
        values[i] = saved - h
        let down = loss()
        values[i] = saved
        return [(up - down) / Double(2 * h), (up - mid) / Double(h), (mid - down) / Double(h)]
    }
}

/// Up to `limit` coordinates of 0..<count, spread evenly with a seeded jitter.
public func sampleCoordinates(_ count: Int, limit: Int, seed: UInt64) -> [Int] {
    guard count > limit else { return Array(0..<count) }
    var rng = KeyedRandom(seed: seed)
    return (0..<limit).map { j in min(count - 1, j * count / limit + rng.below(max(1, count / limit))) }
}

/// Checks analytic against numerical gradients: |a − n| ≤ absolute + relative·max(|a|, |n|)
/// for at least one of the candidate differences of each coordinate (see `finiteDifferences`).
public func assertGradientsMatch(analytic: [Double], numerical: [[Double]], relative: Double = 1e-2,
                                 absolute: Double = 1e-3, _ what: String,
                                 file: StaticString = #filePath, line: UInt = #line) {
    XCTAssertEqual(analytic.count, numerical.count, file: file, line: line)
    var failures: [String] = []
    for (i, (a, candidates)) in zip(analytic, numerical).enumerated() {
        let ok = candidates.contains { n in abs(a - n) <= absolute + relative * max(abs(a), abs(n)) }
        if !ok { failures.append("#\(i): analytic \(a), numerical \(candidates)") }
    }
    XCTAssert(failures.isEmpty, "\(what): \(failures.count)/\(analytic.count) gradients differ: \(failures.prefix(5))",
              file: file, line: line)
    XCTAssert(analytic.contains { $0 != 0 }, "\(what): all analytic gradients are zero", file: file, line: line)
}
