/// Workspace of the L∞ projection of FAB, sized once for inputs of d features.
final class FABProjection {
    let d: Int
    // Raw workspaces: this runs twice per sample and iteration, where array uniqueness
    // checks would cost more than the arithmetic.
    private let room: UnsafeMutablePointer<Float>
    private let weight: UnsafeMutablePointer<Double>
    private let candidates: UnsafeMutablePointer<Int32>, scratch: UnsafeMutablePointer<Int32>

    init(d: Int) {
        self.d = d
        room = .allocate(capacity: max(d, 1)); room.initialize(repeating: 0, count: max(d, 1))
        weight = .allocate(capacity: max(d, 1)); weight.initialize(repeating: 0, count: max(d, 1))
        candidates = .allocate(capacity: max(d, 1)); candidates.initialize(repeating: 0, count: max(d, 1))
        scratch = .allocate(capacity: max(d, 1)); scratch.initialize(repeating: 0, count: max(d, 1))
    }

    deinit {
        room.deallocate(); weight.deallocate(); candidates.deallocate(); scratch.deallocate()
    }

    /// `projection_linf` of `autoattack/fab_projections.py` for one point t: the step δ
    /// (written to `out`) with the smallest ‖δ‖∞ that puts t + δ on the hyperplane
    /// {z : ⟨w, z⟩ = b} while t + δ stays in [0, 1]ᵈ; when the box does not reach the
    /// hyperplane, t + δ is the box corner nearest to it. Coordinates with w = 0 do not move.
    ///
    /// With w oriented so that ⟨w, t⟩ ≥ b, coordinate j moves against w by min(λ, p_j),
    /// where p_j is its room in the box (1 − t_j where w_j < 0, t_j elsewhere), and λ solves
    ///   g(λ) = Σ_j |w_j|·min(λ, p_j) = ⟨w, t⟩ − b,
    /// a piecewise-linear increasing function. The reference sorts the p_j and bisects over
    /// the breakpoints (⌈log₂ d⌉ steps, which always reach adjacent breakpoints, so it yields
    /// this exact root); here the same root is found by partitioning around pivots as in
    /// quickselect, in expected O(d) instead of a sort. Sums are in Double (the reference
    /// uses float32).
    func linf(point t: UnsafePointer<Float>, w: UnsafePointer<Float>, b: Float,
              into out: UnsafeMutablePointer<Float>) {
        let d = self.d, room = self.room, weight = self.weight, candidates = self.candidates, scratch = self.scratch
        var dot = 0.0
        for j in 0..<d { dot += Double(w[j]) * Double(t[j]) }
        let flip: Float = dot - Double(b) >= 0 ? 1 : -1
        let need = Double(flip) * dot - Double(b * flip)      // ⟨w, t⟩ − b ≥ 0 after the flip
        var reach = 0.0                                       // g(∞): the move to the far corner
        var m = 0
        for j in 0..<d {
            let wj = w[j] * flip
            guard wj != 0 else { continue }
            room[j] = wj < 0 ? 1 - t[j] : t[j]
            weight[j] = Double(abs(wj))
            reach += weight[j] * Double(room[j])
            candidates[m] = Int32(j); m += 1
        }
        var lambda = Float.infinity                           // the corner, when g(∞) ≤ need
        if need < reach {
            // Invariant: the root lies among the candidates' breakpoints; `saturated` sums
            // |w|·p of the coordinates known to move their whole room (p < λ), `free` sums |w|
            // of those known to move λ (p > λ).
            var saturated = 0.0, free = 0.0
            while m > 0 {
                let pivot = room[Int(candidates[m / 2])]
                var lowSum = 0.0, highWeight = 0.0, nLow = 0, nHigh = 0
                // Partition in place: p < pivot first, p ≥ pivot into scratch.
                for i in 0..<m {
                    let j = Int(candidates[i])
                    if room[j] < pivot {
                        lowSum += weight[j] * Double(room[j]); candidates[nLow] = Int32(j); nLow += 1
                    } else {
                        highWeight += weight[j]; scratch[nHigh] = Int32(j); nHigh += 1
                    }
                }
                let g = Double(pivot) * (free + highWeight) + saturated + lowSum
                if g > need {
                    free += highWeight          // λ < pivot: every p ≥ pivot moves λ
                    m = nLow
                } else {
                    saturated += lowSum         // λ ≥ pivot: every p ≤ pivot moves its room
                    var k = 0
                    for i in 0..<nHigh {
                        let j = Int(scratch[i])
                        if room[j] > pivot { candidates[k] = Int32(j); k += 1 }
                        else { saturated += weight[j] * Double(room[j]) }
                    }
                    m = k
                }
            }
            lambda = free > 0 ? Float(max((need - saturated) / free, 0)) : 0
        }
        for j in 0..<d {
            let wj = w[j] * flip
            if wj == 0 { out[j] = 0 }
            else if wj < 0 { out[j] = min(lambda, 1 - t[j]) }
            else { out[j] = -min(lambda, t[j]) }
        }
    }
}
