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

    /// Per-sample cross-entropy gradient dCE/df = softmax(f) − onehot(y), times `scale`,
    /// written to `out`; returns CE(x, y).
    @inline(__always)
    public static func crossEntropyGradient(_ row: UnsafePointer<Float>, _ k: Int, label: Int,
                                            scale: Float, into out: UnsafeMutablePointer<Float>) -> Float {
        let lse = logSumExp(row, k)
        for j in 0..<k { out[j] = scale * expf(row[j] - lse) }
        out[label] -= scale
        return lse - row[label]
    }
}

#if canImport(Glibc)
import Glibc
#endif
