import NeuralCore

/// Hyper-parameters of targeted L∞ FAB (Croce & Hein 2020b). The defaults are AutoAttack's
/// standard version (FAB-T: 9 target classes, one run each, 100 iterations).
public struct FABSettings: Sendable, Equatable {
    /// The attack succeeds on a sample when it finds an adversarial point with ‖x* − x‖∞ ≤ ε.
    public var epsilon: Float
    public var iterations: Int
    /// Runs per target class; every run after the first starts from a random point at
    /// L∞ distance ε/2 (the reference's `use_rand_start=(counter > 0)`).
    public var restarts: Int
    public var targetClasses: Int
    /// α_max: the largest weight of the step that starts from the clean point.
    public var alphaMax: Float
    /// η: overshoot of the projection step.
    public var eta: Float
    /// β: after an adversarial iterate, pull it back to x + β(x₁ − x).
    public var beta: Float
    /// Steps of the final linear-approximation search between x and the best adversarial
    /// point (`linear_approximation_search` of the original FAB code); 0 as in AutoAttack.
    public var finalSearchSteps: Int

    public init(epsilon: Float, iterations: Int = 100, restarts: Int = 1, targetClasses: Int = 9,
                alphaMax: Float = 0.1, eta: Float = 1.05, beta: Float = 0.9, finalSearchSteps: Int = 0) {
        self.epsilon = epsilon
        self.iterations = iterations
        self.restarts = restarts
        self.targetClasses = targetClasses
        self.alphaMax = alphaMax
        self.eta = eta
        self.beta = beta
        self.finalSearchSteps = finalSearchSteps
    }
}

/// Targeted L∞ FAB as `FABAttack_PT.attack_single_run(…, is_targeted=True)` of
/// `autoattack/fab_base.py`, sample by sample. For target t (the class with the r-th largest
/// clean logit, r = 2…targetClasses+1) and the current point x₁:
///
///   f = z_t − z_y,  w = ∇ₓf(x₁),  b = ⟨w, x₁⟩ − f     (the linearised boundary ⟨w, z⟩ = b)
///   δ₁ = Π(x₁), δ₂ = Π(x)  (minimal L∞ steps onto the hyperplane within [0, 1]ᵈ)
///   α = min(‖δ₁‖∞ / (‖δ₁‖∞ + ‖δ₂‖∞), α_max)
///   x₁ ← clip((x₁ + ηδ₁)(1 − α) + (x + ηδ₂)α, 0, 1)
///
/// and when x₁ is misclassified it is kept if it is the closest so far and pulled back to
/// x + β(x₁ − x). The sample is fooled when its closest adversarial point is within ε (it then
/// leaves the batch: later iterations could only bring the point closer). The output is that
/// point, or x. Without restarts FAB-T uses no randomness.
public final class FABAttack: RobustnessAttack {
    public let network: Network
    public var settings: FABSettings
    public var seed: UInt64
    public var name: String { "fab-t" }
    static let stream: UInt64 = 0xFAB0_0001

    private let batch: ActiveBatch
    private let projection: FABProjection
    private var capacity = 0
    private var x1 = FloatBuffer(count: 0), best = FloatBuffer(count: 0)
    private let d1: FloatBuffer, d2: FloatBuffer
    private var distance: [Float] = [], target: [Int] = []

    public init(network: Network, settings: FABSettings, seed: UInt64 = 0) {
        self.network = network
        self.settings = settings
        self.seed = seed
        batch = ActiveBatch(network: network)
        let d = network.inputShape.count
        projection = FABProjection(d: d)
        d1 = FloatBuffer(count: d); d2 = FloatBuffer(count: d)
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let d = network.inputShape.count
        x1 = FloatBuffer(count: n * d); best = FloatBuffer(count: n * d)
        distance = .init(repeating: 0, count: n); target = .init(repeating: 0, count: n)
        batch.reserve(n)
        capacity = n
    }

    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                        output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        guard n > 0 else { return }
        precondition(settings.iterations >= 1 && settings.restarts >= 1)
        reserve(n)
        let d = network.inputShape.count, k = network.classes
        output.update(from: x, count: n * d)
        let logits = network.forward(x, batch: n)
        var order: [[Int]] = []
        for i in 0..<n {
            fooled[i] = Energy.argmax(logits + i * k, k) != Int(labels[i])
            order.append(DLR.classesByLogit(logits + i * k, k))
        }
        for rank in 2...(min(settings.targetClasses, k - 1) + 1) {
            for restart in 0..<settings.restarts {
                let slots = (0..<n).filter { !fooled[$0] }
                if slots.isEmpty { return }
                for s in slots { target[s] = order[s][rank - 1] }
                singleRun(slots, x: x, labels: labels, indices: indices, rank: rank, restart: restart,
                          output: output, fooled: fooled)
            }
        }
    }

    private func singleRun(_ slots: [Int], x: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                           indices: UnsafePointer<Int64>, rank: Int, restart: Int,
                           output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        let d = network.inputShape.count, k = network.classes, eps = settings.epsilon
        let none: Float = 1e10
        for s in slots {
            let xs = x + s * d, p = x1.pointer + s * d
            distance[s] = none
            (best.pointer + s * d).update(from: xs, count: d)
            if restart == 0 {
                p.update(from: xs, count: d)
            } else {
                // x₁ = clip(x + min(res, ε)·t/‖t‖∞·0.5), t ~ U(−1, 1)ᵈ; res is still 1e10 here.
                var rng = KeyedRandom(seed: seed, keys: FABAttack.stream, UInt64(bitPattern: indices[s]),
                                      UInt64(rank), UInt64(restart))
                var m: Float = 0
                for j in 0..<d { p[j] = rng.uniform(1); m = max(m, abs(p[j])) }
                for j in 0..<d { p[j] = clip01(xs[j] + min(none, eps) * p[j] / m * 0.5) }
            }
        }
        var active = slots
        var haveLogits = false   // the last forward was at the current x₁ of `active`
        for _ in 0..<settings.iterations {
            if active.isEmpty { break }
            if !haveLogits { batch.gather(x1.pointer, slots: active); batch.forward(active.count) }
            // f = −(z_y − z_t); dLogits selects ∇ₓf.
            let logits = network.logits
            var f = [Float](repeating: 0, count: active.count)
            for (j, s) in active.enumerated() {
                let row = logits + j * k, g = batch.dLogits.pointer + j * k, y = Int(labels[s])
                f[j] = -(row[y] - row[target[s]])
                g.update(repeating: 0, count: k)
                g[y] -= 1; g[target[s]] += 1
            }
            batch.backward()
            for (j, s) in active.enumerated() {
                let w = batch.gradient.pointer + j * d, p = x1.pointer + s * d, xs = x + s * d
                var wx = 0.0
                for i in 0..<d { wx += Double(w[i]) * Double(p[i]) }
                let b = Float(-Double(f[j]) + wx)
                let d1 = self.d1.pointer, d2 = self.d2.pointer
                projection.linf(point: p, w: w, b: b, into: d1)
                projection.linf(point: xs, w: w, b: b, into: d2)
                var a1: Float = 0, a2: Float = 0
                for i in 0..<d { a1 = max(a1, abs(d1[i])); a2 = max(a2, abs(d2[i])) }
                a1 = max(a1, 1e-8); a2 = max(a2, 1e-8)
                let alpha = min(max(a1 / (a1 + a2), 0), settings.alphaMax)
                let eta = settings.eta
                for i in 0..<d {
                    p[i] = clip01((p[i] + eta * d1[i]) * (1 - alpha) + (xs[i] + d2[i] * eta) * alpha)
                }
            }
            batch.gather(x1.pointer, slots: active)
            let after = batch.forward(active.count)
            var changed = false
            for (j, s) in active.enumerated() where Energy.argmax(after + j * k, k) != Int(labels[s]) {
                changed = true
                let p = x1.pointer + s * d, xs = x + s * d
                var t: Float = 0
                for i in 0..<d { t = max(t, abs(p[i] - xs[i])) }
                if t < distance[s] { (best.pointer + s * d).update(from: p, count: d); distance[s] = t }
                for i in 0..<d { p[i] = xs[i] + (p[i] - xs[i]) * settings.beta }
            }
            haveLogits = !changed
            // Within ε the sample is fooled whatever follows (the distance only shrinks).
            active.removeAll { distance[$0] <= eps }
        }
        let found = slots.filter { distance[$0] < none }
        if settings.finalSearchSteps > 0 && !found.isEmpty { finalSearch(found, x: x, labels: labels) }
        for s in found where distance[s] <= eps {
            fooled[s] = true
            (output + s * d).update(from: best.pointer + s * d, count: d)
        }
    }

    /// `linear_approximation_search`: bisect the segment [x, x*] along the linear interpolation
    /// of the logit gap between its ends, keeping x* adversarial; then ‖x* − x‖∞ is recomputed.
    private func finalSearch(_ slots: [Int], x: UnsafePointer<Float>, labels: UnsafePointer<Int32>) {
        let d = network.inputShape.count, k = network.classes, m = slots.count
        let a1 = FloatBuffer(count: m * d), a2 = FloatBuffer(count: m * d)
        var y1 = [Float](repeating: 0, count: m * k), y2 = y1
        for (j, s) in slots.enumerated() {
            (a1.pointer + j * d).update(from: x + s * d, count: d)
            (a2.pointer + j * d).update(from: best.pointer + s * d, count: d)
        }
        var l = network.forward(a1.pointer, batch: m)
        for i in 0..<(m * k) { y1[i] = l[i] }
        l = network.forward(a2.pointer, batch: m)
        for i in 0..<(m * k) { y2[i] = l[i] }
        var label2 = (0..<m).map { Energy.argmax(l + $0 * k, k) }
        let a3 = FloatBuffer(count: m * d)
        for _ in 0..<settings.finalSearchSteps {
            for (j, s) in slots.enumerated() {
                let y = Int(labels[s])
                let t1 = y1[j * k + y] - y1[j * k + label2[j]]
                let t2 = -(y2[j * k + y] - y2[j * k + label2[j]])
                var t3 = t1 / (t1 + t2 + 1e-10)
                if !(t3 >= 0 && t3 <= 1) { t3 = 1 }
                for i in 0..<d { a3.pointer[j * d + i] = a1.pointer[j * d + i] * (1 - t3) + a2.pointer[j * d + i] * t3 }
            }
            let y3 = network.forward(a3.pointer, batch: m)
            for (j, s) in slots.enumerated() {
                let label3 = Energy.argmax(y3 + j * k, k)
                let (dst, ly) = label3 == Int(labels[s]) ? (a1, 1) : (a2, 2)
                (dst.pointer + j * d).update(from: a3.pointer + j * d, count: d)
                for c in 0..<k { if ly == 1 { y1[j * k + c] = y3[j * k + c] } else { y2[j * k + c] = y3[j * k + c] } }
                if ly == 2 { label2[j] = label3 }
            }
        }
        for (j, s) in slots.enumerated() {
            var t: Float = 0
            for i in 0..<d { t = max(t, abs(a2.pointer[j * d + i] - x[s * d + i])) }
            (best.pointer + s * d).update(from: a2.pointer + j * d, count: d)
            distance[s] = t
        }
    }
}
