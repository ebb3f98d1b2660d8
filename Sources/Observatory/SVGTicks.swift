import Foundation

/// Axis tick positions a reader can add up in their head: 1-2-5 steps on linear axes,
/// powers of ten on log axes. The ticks cover the data: the first is at or below the
/// smallest value and the last at or above the largest, so they double as the axis ends.
public enum Ticks {
    /// The smallest step of the form {1, 2, 5}·10^k that is at least `span / target`
    /// (and at least `minStep`), as mantissa and exponent so tick values can be made exact.
    public static func niceStep(span: Double, target: Int, minStep: Double = 0) -> (mantissa: Int, exponent: Int) {
        let raw = max(span / Double(max(target, 1)), minStep, Double.leastNormalMagnitude)
        var exponent = Int(Foundation.log10(raw).rounded(.down))
        // log10 may land just beside an exact power of ten; settle it with exact comparisons.
        if power(exponent) > raw { exponent -= 1 }
        if power(exponent + 1) <= raw { exponent += 1 }
        for mantissa in [1, 2, 5] where Double(mantissa) * power(exponent) >= raw * (1 - 1e-12) {
            return (mantissa, exponent)
        }
        return (1, exponent + 1)
    }

    /// Ticks on a linear axis covering `lo...hi`, and their spacing. Degenerate ranges
    /// (one value, or non-finite ends) are widened so the axis still has a length.
    public static func linear(covering lo: Double, _ hi: Double, target: Int = 6,
                              minStep: Double = 0) -> (values: [Double], step: Double) {
        var (a, b) = (min(lo, hi), max(lo, hi))
        if !a.isFinite || !b.isFinite { (a, b) = (0, 1) }
        if a == b {
            let pad = a == 0 ? 1 : abs(a) * 0.1
            (a, b) = (a - pad, b + pad)
        }
        let (mantissa, exponent) = niceStep(span: b - a, target: target, minStep: minStep)
        let step = Double(mantissa) * power(exponent)
        let first = Int64(snap(a / step).rounded(.down))
        let last = Int64(snap(b / step).rounded(.up))
        // k·m·10^e, written so that 0.1-steps give 0.3 and not 0.30000000000000004.
        let values = (first...max(first + 1, last)).map { k in
            exponent >= 0 ? Double(k * Int64(mantissa)) * power(exponent)
                          : Double(k * Int64(mantissa)) / power(-exponent)
        }
        return (values, step)
    }

    /// Powers of ten covering `lo...hi` (both must be positive), every `n`-th decade when there
    /// are more than `maxTicks` decades. Invalid input gives `[1, 10]`.
    public static func log10(covering lo: Double, _ hi: Double, maxTicks: Int = 8) -> [Double] {
        let (a, b) = (min(lo, hi), max(lo, hi))
        guard a > 0, b.isFinite else { return [1, 10] }
        var low = Int(Foundation.log10(a).rounded(.down))
        if power(low) > a { low -= 1 }
        if power(low + 1) <= a { low += 1 }
        var high = Int(Foundation.log10(b).rounded(.up))
        if power(high) < b { high += 1 }
        if power(high - 1) >= b { high -= 1 }
        if high <= low { high = low + 1 }
        let every = max(1, Int((Double(high - low) / Double(max(maxTicks - 1, 1))).rounded(.up)))
        var exponents = Array(stride(from: low, through: high, by: every))
        if let last = exponents.last, last < high { exponents.append(last + every) }
        return exponents.map(power)
    }

    /// 2·10^k … 9·10^k between the decades of `majors`, for faint log grid lines.
    public static func logMinor(_ majors: [Double]) -> [Double] {
        guard majors.count >= 2, majors.count <= 6 else { return [] }
        let (first, last) = (majors[0], majors[majors.count - 1])
        var out: [Double] = []
        var decade = first
        while decade < last {
            for m in 2...9 { out.append(Double(m) * decade) }
            decade *= 10
        }
        return out.filter { $0 < last && !majors.contains($0) }
    }

    /// `q` rounded when within rounding noise of an integer, so 0.3 / 0.1 counts as 3.
    static func snap(_ q: Double) -> Double { abs(q - q.rounded()) < 1e-9 * max(1, abs(q)) ? q.rounded() : q }

    /// 10^e exactly (parsing the literal avoids pow's last-bit error).
    static func power(_ e: Int) -> Double { Double("1e\(e)") ?? Foundation.pow(10, Double(e)) }
}

/// One axis: its scale, its ends (the outer ticks) and its ticks.
public struct Axis: Sendable {
    public enum Scale: Sendable { case linear, log10 }
    public let scale: Scale
    public let lower: Double
    public let upper: Double
    public let ticks: [Double]
    public let minorTicks: [Double]
    /// Tick spacing on a linear axis (sets the label decimals).
    public let step: Double

    /// A linear axis covering `lo...hi` with 1-2-5 ticks; `minStep: 1` keeps epochs integral.
    public static func linear(covering lo: Double, _ hi: Double, target: Int = 6, minStep: Double = 0) -> Axis {
        let (values, step) = Ticks.linear(covering: lo, hi, target: target, minStep: minStep)
        return Axis(scale: .linear, lower: values.first!, upper: values.last!, ticks: values, minorTicks: [], step: step)
    }

    /// A log10 axis covering `lo...hi` (positive) with decade ticks.
    public static func log10(covering lo: Double, _ hi: Double) -> Axis {
        let values = Ticks.log10(covering: lo, hi)
        return Axis(scale: .log10, lower: values.first!, upper: values.last!, ticks: values,
                    minorTicks: Ticks.logMinor(values), step: 0)
    }

    /// Where `value` sits between the ends (0 at `lower`, 1 at `upper`); nil when it cannot be
    /// drawn: not finite, or not positive on a log axis.
    public func fraction(_ value: Double) -> Double? {
        guard value.isFinite else { return nil }
        switch scale {
        case .linear:
            return upper > lower ? (value - lower) / (upper - lower) : 0.5
        case .log10:
            guard value > 0 else { return nil }
            let (a, b) = (Foundation.log10(lower), Foundation.log10(upper))
            return b > a ? (Foundation.log10(value) - a) / (b - a) : 0.5
        }
    }

    public func label(_ value: Double) -> String {
        scale == .log10 ? SVG.powerLabel(value) : SVG.label(value, step: step)
    }
}
