import Foundation
import XCTest

/// Element-wise comparison of Swift (float32) results with PyTorch (float64) references.
///
/// Passes when |swift − torch| ≤ relative·|torch| + absolute for every element. The floor only
/// matters for elements at or near zero in the reference, where a relative bound means nothing:
/// 1e-6 for quantities of order 1 (logits, energies, CE, DER, losses) and 1e-7 for gradients and
/// parameters, whose largest elements are ~0.1 and median ~1e-4. The worst floor the fixtures
/// actually need is 4e-8 (logits) and 1.2e-8 (gradients, parameters); see docs/pytorch.md.
enum Tolerance {
    static let relative = 1e-4
    static let absolute = 1e-6
    static let parameterAbsolute = 1e-7
    /// Parameters after ten SGD steps carry ten steps of float32 summation-order rounding;
    /// the worst seen was 1.3e-7 on a weight of 2.3e-4 (cnn-large, after the convolution's
    /// patch order changed), so near-zero elements get this floor.
    static let trajectoryAbsolute = 5e-7
}

/// What a comparison found, for the log line and for callers that want the numbers.
struct Difference {
    var count = 0
    /// Largest |a − b| / |b| over elements with |b| ≥ absolute/relative (where the relative
    /// term dominates the floor).
    var worstRelative = 0.0
    /// Largest |a − b| over all elements.
    var worstAbsolute = 0.0
    /// Smallest floor that would have passed with this relative tolerance.
    var neededAbsolute = 0.0
    var failures = 0
    var firstFailure = ""
}

/// Compares and logs one quantity ("PARITY <what>: n, worst relative, worst absolute"), so a
/// test run shows how close every quantity is, not only that it passed.
@discardableResult
func compare(_ actual: [Double], _ expected: [Double], _ what: String,
             relative: Double = Tolerance.relative, absolute: Double = Tolerance.absolute,
             file: StaticString = #filePath, line: UInt = #line) -> Difference {
    var d = Difference()
    XCTAssertEqual(actual.count, expected.count, "\(what): count", file: file, line: line)
    let significant = absolute / relative
    for (i, (a, b)) in zip(actual, expected).enumerated() {
        d.count += 1
        let diff = abs(a - b)
        d.worstAbsolute = max(d.worstAbsolute, diff.isNaN ? .infinity : diff)
        d.neededAbsolute = max(d.neededAbsolute, diff - relative * abs(b))
        if abs(b) >= significant { d.worstRelative = max(d.worstRelative, diff / abs(b)) }
        if !(diff <= relative * abs(b) + absolute) {
            if d.failures == 0 { d.firstFailure = "index \(i): swift \(a), torch \(b)" }
            d.failures += 1
        }
    }
    print("PARITY \(what): n \(d.count), worst relative \(format(d.worstRelative)), "
          + "worst absolute \(format(d.worstAbsolute)), floor needed \(format(d.neededAbsolute))")
    XCTAssertEqual(d.failures, 0, "\(what): \(d.failures)/\(d.count) elements outside "
                   + "\(relative)·|torch| + \(absolute); first: \(d.firstFailure)", file: file, line: line)
    return d
}

@discardableResult
func compare(_ actual: [Float], _ expected: [Double], _ what: String,
             relative: Double = Tolerance.relative, absolute: Double = Tolerance.absolute,
             file: StaticString = #filePath, line: UInt = #line) -> Difference {
    compare(actual.map(Double.init), expected, what, relative: relative, absolute: absolute, file: file, line: line)
}

func format(_ x: Double) -> String { String(format: "%.2e", x) }

/// L2 norm accumulated in Double.
func norm(_ values: some Sequence<Float>) -> Double {
    values.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
}
