import NeuralCore

/// The losses of AutoAttack (Croce & Hein 2020) on one row of logits z with label y, with
/// π the indices of z sorted in decreasing order (z_π1 ≥ z_π2 ≥ …):
///
///   DLR(z, y)      = −(z_y − max_{i≠y} z_i) / (z_π1 − z_π3 + 10⁻¹²)
///   DLR-T(z, y, t) = −(z_y − z_t) / (z_π1 − (z_π3 + z_π4)/2 + 10⁻¹²)
///   margin(z, y)   = z_y − max_{i≠y} z_i                 (Square Attack; ≤ 0 means misclassified)
///
/// The gradients follow autograd through the sort: each term goes to the index it came from,
/// accumulated when indices coincide (e.g. y = π1).
public enum DLR {
    /// Indices of the `count` largest logits, largest first (ties: the higher index first, as
    /// the tail of an ascending stable sort).
    @inline(__always)
    static func top(_ row: UnsafePointer<Float>, _ k: Int) -> (Int, Int, Int, Int) {
        @inline(__always) func better(_ a: Int, than b: Int) -> Bool { b < 0 || row[a] >= row[b] }
        var i0 = -1, i1 = -1, i2 = -1, i3 = -1
        // j increases, so `>=` puts the later of equal logits first.
        for j in 0..<k {
            if better(j, than: i0) { i3 = i2; i2 = i1; i1 = i0; i0 = j }
            else if better(j, than: i1) { i3 = i2; i2 = i1; i1 = j }
            else if better(j, than: i2) { i3 = i2; i2 = j }
            else if better(j, than: i3) { i3 = j }
        }
        return (i0, i1, i2, i3)
    }

    /// Untargeted DLR loss; writes dDLR/dz into `gradient` when given. Needs k ≥ 3 classes.
    @discardableResult
    public static func loss(_ row: UnsafePointer<Float>, _ k: Int, label y: Int,
                            gradient: UnsafeMutablePointer<Float>?) -> Float {
        precondition(k >= 3, "the DLR loss needs at least 3 classes")
        let (p1, p2, p3, _) = top(row, k)
        let other = p1 == y ? p2 : p1
        let num = row[y] - row[other]
        let den = row[p1] - row[p3] + 1e-12
        if let g = gradient {
            g.update(repeating: 0, count: k)
            g[y] -= 1 / den
            g[other] += 1 / den
            let q = num / (den * den)
            g[p1] += q
            g[p3] -= q
        }
        return -num / den
    }

    /// Targeted DLR loss towards class `target`; writes dDLR-T/dz into `gradient` when given.
    /// Needs k ≥ 4 classes.
    @discardableResult
    public static func targetedLoss(_ row: UnsafePointer<Float>, _ k: Int, label y: Int, target t: Int,
                                    gradient: UnsafeMutablePointer<Float>?) -> Float {
        precondition(k >= 4, "the targeted DLR loss needs at least 4 classes")
        let (p1, _, p3, p4) = top(row, k)
        let num = row[y] - row[t]
        let den = row[p1] - 0.5 * (row[p3] + row[p4]) + 1e-12
        if let g = gradient {
            g.update(repeating: 0, count: k)
            g[y] -= 1 / den
            g[t] += 1 / den
            let q = num / (den * den)
            g[p1] += q
            g[p3] -= 0.5 * q
            g[p4] -= 0.5 * q
        }
        return -num / den
    }

    /// z_y − max_{i≠y} z_i: positive while the sample is classified correctly.
    @inline(__always)
    public static func margin(_ row: UnsafePointer<Float>, _ k: Int, label y: Int) -> Float {
        var other = -Float.infinity
        for j in 0..<k where j != y { other = max(other, row[j]) }
        return row[y] - other
    }

    /// Classes ordered by decreasing logit (ties: higher index first), as
    /// `z.sort()[1]` read from the end; AutoAttack's target of rank r (2…) is `order[r − 1]`.
    public static func classesByLogit(_ row: UnsafePointer<Float>, _ k: Int) -> [Int] {
        (0..<k).sorted { row[$0] > row[$1] || (row[$0] == row[$1] && $0 > $1) }
    }
}
