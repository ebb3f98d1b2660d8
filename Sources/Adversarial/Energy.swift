import NeuralCore

/// Energies of a classifier read as an energy-based model (see docs/maths.md):
///   E(x)   = −logsumexp_k f(x)_k      (marginal energy)
///   E(x,y) = −f(x)_y                  (joint energy)
///   CE(x,y) = E(x,y) − E(x)
public enum Energy {
    /// logsumexp of one row of `k` logits, computed stably around the row maximum.
    @inline(__always)
    public static func logSumExp(_ row: UnsafePointer<Float>, _ k: Int) -> Float {
        var m = -Float.infinity
        for j in 0..<k { m = max(m, row[j]) }
        if !m.isFinite { return m }
        var s: Float = 0
        for j in 0..<k { s += expf(row[j] - m) }
        return m + logf(s)
    }

    /// Index of the largest logit (first on ties), i.e. the predicted class.
    @inline(__always)
    public static func argmax(_ row: UnsafePointer<Float>, _ k: Int) -> Int {
        var best = 0
        for j in 1..<k where row[j] > row[best] { best = j }
        return best
    }

    /// Writes softmax(row) to `out` and returns logsumexp(row), both around the row maximum,
    /// with one `expf` per logit (the exponentials are kept and normalised). A row whose
    /// maximum is not finite gets `expf(row − max)` (zeros and NaNs) and returns that maximum,
    /// as `logSumExp` does.
    @inline(__always)
    public static func softmax(_ row: UnsafePointer<Float>, _ k: Int, into out: UnsafeMutablePointer<Float>) -> Float {
        var m = -Float.infinity
        for j in 0..<k { m = max(m, row[j]) }
        guard m.isFinite else {
            for j in 0..<k { out[j] = expf(row[j] - m) }
            return m
        }
        var s: Float = 0
        for j in 0..<k { let e = expf(row[j] - m); out[j] = e; s += e }
        let inverse = 1 / s
        for j in 0..<k { out[j] *= inverse }
        return m + logf(s)
    }

    /// Per-sample cross-entropy gradient dCE/df = softmax(f) − onehot(y), times `scale`,
    /// written to `out`; returns CE(x, y).
    @inline(__always)
    public static func crossEntropyGradient(_ row: UnsafePointer<Float>, _ k: Int, label: Int,
                                            scale: Float, into out: UnsafeMutablePointer<Float>) -> Float {
        logSumExpAndCrossEntropyGradient(row, k, label: label, scale: scale, into: out) - row[label]
    }

    /// `crossEntropyGradient`, returning logsumexp(row) = −E(x) instead of CE.
    @inline(__always)
    public static func logSumExpAndCrossEntropyGradient(_ row: UnsafePointer<Float>, _ k: Int, label: Int,
                                                        scale: Float, into out: UnsafeMutablePointer<Float>) -> Float {
        let lse = softmax(row, k, into: out)
        for j in 0..<k { out[j] *= scale }
        out[label] -= scale
        return lse
    }
}

#if canImport(Glibc)
import Glibc
#endif
