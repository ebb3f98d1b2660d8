import NeuralCore

/// The loss APGD climbs.
public enum APGDLoss: String, Sendable, Codable, CaseIterable {
    /// Cross-entropy (APGD-CE).
    case crossEntropy = "ce"
    /// The untargeted DLR loss (APGD-DLR).
    case dlr
    /// The targeted DLR loss, run once per target class (APGD-T).
    case targetedDLR = "dlr-targeted"
}

/// Hyper-parameters of L∞ APGD (Croce & Hein 2020). The defaults are those of AutoAttack's
/// standard version; tests use fewer iterations.
public struct APGDSettings: Sendable, Equatable {
    public var epsilon: Float
    public var loss: APGDLoss
    /// N_iter: gradient steps per run.
    public var iterations: Int
    /// Runs per target class (APGD-T) or in total, each from a new random start, only on the
    /// samples not yet fooled.
    public var restarts: Int
    /// ρ: the step size is halved at a checkpoint when at most ρ·(checkpoint interval) of the
    /// steps since the last one increased the loss (condition 1).
    public var rho: Float
    /// α of the momentum step x ← x + α(z − x) + (1 − α)(x − x_prev) (1 for the first step).
    public var momentum: Float
    /// APGD-T: the classes with the 2nd, 3rd, … largest clean logit are the targets.
    public var targetClasses: Int

    public init(epsilon: Float, loss: APGDLoss = .crossEntropy, iterations: Int = 100, restarts: Int = 1,
                rho: Float = 0.75, momentum: Float = 0.75, targetClasses: Int = 9) {
        self.epsilon = epsilon
        self.loss = loss
        self.iterations = iterations
        self.restarts = restarts
        self.rho = rho
        self.momentum = momentum
        self.targetClasses = targetClasses
    }

    /// The step-size checkpoints as the reference computes them: the first after
    /// n₂ = max(⌊0.22·N⌋, 1) steps, then intervals shrinking by max(⌊0.03·N⌋, 1) down to
    /// max(⌊0.06·N⌋, 1). These are p_j·N with p₀ = 0, p₁ = 0.22,
    /// p_{j+1} = p_j + max(p_j − p_{j−1} − 0.03, 0.06). Returns (0-based iteration, interval).
    /// `APGDAttack` halves step sizes at exactly these iterations.
    public var checkpoints: [(iteration: Int, interval: Int)] {
        let n = Double(iterations)
        let first = max(Int(0.22 * n), 1), minimum = max(Int(0.06 * n), 1), decrease = max(Int(0.03 * n), 1)
        var out: [(Int, Int)] = []
        var k = first, counter = 0
        for i in 0..<iterations {
            counter += 1
            if counter == k {
                out.append((i, k))
                k = max(k - decrease, minimum)
                counter = 0
            }
        }
        return out
    }
}

/// L∞ Auto-PGD, sample by sample as `autoattack/autopgd_base.py` (`APGDAttack`,
/// `APGDAttack_targeted`): random start x₀ = x + ε·t/‖t‖∞ with t ~ U(−1, 1)ᵈ, step size
/// η = 2ε, momentum 0.75, and at each checkpoint the step size of a sample is halved, and
/// its iterate reset to its best point so far, when (1) at most ρ of its steps since the
/// last checkpoint increased the loss, or (2) the step size was not halved at the last
/// checkpoint and the best loss has not improved since. All state (step size, best point,
/// loss history) is per sample, and random starts are keyed by (seed, loss, test index,
/// target rank, restart), so the result for a sample does not depend on its batch.
///
/// A sample is fooled as soon as an iterate is misclassified; it then leaves the batch
/// (the reference keeps iterating but the outcome is already decided). Only input
/// gradients are computed.
public final class APGDAttack: RobustnessAttack {
    public let network: Network
    public var settings: APGDSettings
    public var seed: UInt64
    public var name: String { settings.loss == .targetedDLR ? "apgd-t" : "apgd-\(settings.loss.rawValue)" }

    private let batch: ActiveBatch
    private var capacity = 0
    private var xAdv = FloatBuffer(count: 0), xOld = FloatBuffer(count: 0), xBest = FloatBuffer(count: 0)
    private var grad = FloatBuffer(count: 0), gradBest = FloatBuffer(count: 0)
    private var step: [Float] = [], lossBest: [Float] = [], lossLastCheck: [Float] = []
    private var reducedLastCheck: [Bool] = [], lossSteps: [Float] = []
    private var target: [Int] = []
    private var losses: [Float] = [], correct: [Bool] = []

    public init(network: Network, settings: APGDSettings, seed: UInt64 = 0) {
        self.network = network
        self.settings = settings
        self.seed = seed
        batch = ActiveBatch(network: network)
    }

    /// Stream constant of the random starts, distinct per loss.
    var stream: UInt64 {
        switch settings.loss {
        case .crossEntropy: return 0xA9D6_0001
        case .dlr: return 0xA9D6_0002
        case .targetedDLR: return 0xA9D6_0003
        }
    }

    private func reserve(_ n: Int) {
        guard n > capacity || lossSteps.count < n * settings.iterations else { return }
        let d = network.inputShape.count, c = max(n, capacity)
        xAdv = FloatBuffer(count: c * d); xOld = FloatBuffer(count: c * d); xBest = FloatBuffer(count: c * d)
        grad = FloatBuffer(count: c * d); gradBest = FloatBuffer(count: c * d)
        step = .init(repeating: 0, count: c); lossBest = step; lossLastCheck = step; losses = step
        reducedLastCheck = .init(repeating: false, count: c); correct = reducedLastCheck
        lossSteps = .init(repeating: 0, count: c * settings.iterations)
        target = .init(repeating: 0, count: c)
        batch.reserve(c)
        capacity = c
    }

    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, indices: UnsafePointer<Int64>, n: Int,
                        output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        guard n > 0 else { return }
        precondition(settings.iterations >= 1 && settings.restarts >= 1)
        reserve(n)
        let d = network.inputShape.count, k = network.classes
        output.update(from: x, count: n * d)
        // Only samples classified correctly at x are attacked.
        let logits = network.forward(x, batch: n)
        var order: [[Int]] = []
        for i in 0..<n {
            fooled[i] = Energy.argmax(logits + i * k, k) != Int(labels[i])
            if settings.loss == .targetedDLR { order.append(DLR.classesByLogit(logits + i * k, k)) }
        }
        let ranks = settings.loss == .targetedDLR ? Array(2...(min(settings.targetClasses, k - 1) + 1)) : [0]
        for rank in ranks {
            for restart in 0..<settings.restarts {
                let slots = (0..<n).filter { !fooled[$0] }
                if slots.isEmpty { return }
                if rank > 0 { for s in slots { target[s] = order[s][rank - 1] } }
                singleRun(slots, x: x, labels: labels, indices: indices, rank: rank, restart: restart,
                          output: output, fooled: fooled)
            }
        }
    }

    /// Loss, dLoss/dx and correctness at the current iterates of `active`.
    private func evaluate(_ active: [Int], labels: UnsafePointer<Int32>) {
        let d = batch.d, k = batch.k
        batch.gather(xAdv.pointer, slots: active)
        let logits = batch.forward(active.count)
        for (j, s) in active.enumerated() {
            let row = logits + j * k, g = batch.dLogits.pointer + j * k, y = Int(labels[s])
            switch settings.loss {
            case .crossEntropy: losses[j] = Energy.crossEntropyGradient(row, k, label: y, scale: 1, into: g)
            case .dlr: losses[j] = DLR.loss(row, k, label: y, gradient: g)
            case .targetedDLR: losses[j] = DLR.targetedLoss(row, k, label: y, target: target[s], gradient: g)
            }
            correct[j] = Energy.argmax(row, k) == y
        }
        batch.backward()
        for (j, s) in active.enumerated() { (grad.pointer + s * d).update(from: batch.gradient.pointer + j * d, count: d) }
    }

    private func singleRun(_ slots: [Int], x: UnsafePointer<Float>, labels: UnsafePointer<Int32>,
                           indices: UnsafePointer<Int64>, rank: Int, restart: Int,
                           output: UnsafeMutablePointer<Float>, fooled: UnsafeMutablePointer<Bool>) {
        let d = network.inputShape.count, eps = settings.epsilon, iterations = settings.iterations
        // x₀ = clip(x + ε·t/(‖t‖∞ + 10⁻¹²), 0, 1), t ~ U(−1, 1)ᵈ keyed per sample.
        for s in slots {
            var rng = KeyedRandom(seed: seed, keys: stream, UInt64(bitPattern: indices[s]), UInt64(rank), UInt64(restart))
            let xa = xAdv.pointer + s * d, xs = x + s * d
            var m: Float = 0
            for j in 0..<d { xa[j] = rng.uniform(1); m = max(m, abs(xa[j])) }
            for j in 0..<d { xa[j] = clip01(xs[j] + eps * (xa[j] / (m + 1e-12))) }
        }
        evaluate(slots, labels: labels)
        var active: [Int] = []
        for (j, s) in slots.enumerated() {
            let o = s * d
            (xBest.pointer + o).update(from: xAdv.pointer + o, count: d)
            (gradBest.pointer + o).update(from: grad.pointer + o, count: d)
            (xOld.pointer + o).update(from: xAdv.pointer + o, count: d)
            lossBest[s] = losses[j]; lossLastCheck[s] = losses[j]; reducedLastCheck[s] = true
            step[s] = 2 * eps
            for i in 0..<iterations { lossSteps[s * iterations + i] = 0 }
            if correct[j] { active.append(s) } else { fooled[s] = true; (output + o).update(from: xAdv.pointer + o, count: d) }
        }
        // The step-size checkpoints, in iteration order; `next` is the first one not reached yet.
        let checkpoints = settings.checkpoints
        var next = 0
        for i in 0..<iterations {
            if active.isEmpty { return }
            let a: Float = i > 0 ? settings.momentum : 1
            for s in active {
                let xa = xAdv.pointer + s * d, xo = xOld.pointer + s * d, xs = x + s * d, g = grad.pointer + s * d
                let eta = step[s]
                for j in 0..<d {
                    let cur = xa[j], momentum = cur - xo[j]
                    xo[j] = cur
                    let lo = xs[j] - eps, hi = xs[j] + eps
                    let z = clip01(min(max(cur + eta * sign(g[j]), lo), hi))
                    xa[j] = clip01(min(max(cur + (z - cur) * a + momentum * (1 - a), lo), hi))
                }
            }
            evaluate(active, labels: labels)
            for (j, s) in active.enumerated() {
                let o = s * d
                if !correct[j] { fooled[s] = true; (output + o).update(from: xAdv.pointer + o, count: d) }
                lossSteps[s * iterations + i] = losses[j]
                if losses[j] > lossBest[s] {
                    (xBest.pointer + o).update(from: xAdv.pointer + o, count: d)
                    (gradBest.pointer + o).update(from: grad.pointer + o, count: d)
                    lossBest[s] = losses[j]
                }
            }
            active.removeAll { fooled[$0] }
            if next < checkpoints.count && checkpoints[next].iteration == i {
                let interval = checkpoints[next].interval
                next += 1
                for s in active {
                    let h = s * iterations
                    var increases = 0
                    for c in 0..<interval {
                        // The reference indexes loss_steps[i − c − 1]; at the first checkpoint that
                        // is index −1, i.e. the last row, which still holds its initial 0.
                        let prev = i - c - 1 >= 0 ? lossSteps[h + i - c - 1] : lossSteps[h + iterations - 1]
                        if lossSteps[h + i - c] > prev { increases += 1 }
                    }
                    let oscillating = Float(increases) <= Float(interval) * settings.rho
                    let stalled = !reducedLastCheck[s] && lossLastCheck[s] >= lossBest[s]
                    let reduce = oscillating || stalled
                    reducedLastCheck[s] = reduce
                    lossLastCheck[s] = lossBest[s]
                    if reduce {
                        step[s] /= 2
                        (xAdv.pointer + s * d).update(from: xBest.pointer + s * d, count: d)
                        (grad.pointer + s * d).update(from: gradBest.pointer + s * d, count: d)
                    }
                }
            }
        }
    }
}
