import CKernels
import NeuralCore

/// L∞ attacks in the [0, 1] box.
public enum AttackKind: String, CaseIterable, Sendable, Codable {
    case none
    /// x* = clip(x + ε·sign(∇ₓCE(x)), 0, 1)  (Goodfellow et al. 2015).
    case fgsm
    /// FGSM from a uniform random start, step α, projected to the ε-ball (Wong et al. 2020).
    case fgsmRS = "fgsm-rs"
    /// PGD-k from a uniform random start, step α, with restarts (Madry et al. 2018).
    case pgd
}

public struct AttackSettings: Sendable, Codable, Equatable {
    public var kind: AttackKind
    public var epsilon: Float
    public var alpha: Float
    public var steps: Int
    public var restarts: Int

    public init(kind: AttackKind, epsilon: Float, alpha: Float? = nil, steps: Int = 10, restarts: Int = 1) {
        self.kind = kind
        self.epsilon = epsilon
        self.steps = kind == .pgd ? steps : 1
        self.restarts = kind == .pgd ? max(1, restarts) : 1
        self.alpha = alpha ?? AttackSettings.defaultAlpha(kind, epsilon: epsilon, steps: steps)
    }

    /// ε for FGSM, 1.25ε for FGSM-RS (Wong et al.), 2.5ε/k for PGD-k (Madry et al.).
    public static func defaultAlpha(_ kind: AttackKind, epsilon: Float, steps: Int) -> Float {
        switch kind {
        case .none, .fgsm: return epsilon
        case .fgsmRS: return 1.25 * epsilon
        case .pgd: return 2.5 * epsilon / Float(max(steps, 1))
        }
    }
}

/// Purposes that key the random starts, so training and evaluation never share noise.
public enum NoiseStream: UInt64, Sendable {
    case training = 1, evaluation = 2, probe = 3
}

/// Runs attacks on a network; only input gradients are computed (the parameter
/// gradients are left untouched). Random starts are keyed by (seed, stream, epoch,
/// sample index, restart), so results do not depend on how samples are sharded.
public final class Attacker {
    public let network: Network
    private var capacity = 0
    private var delta = FloatBuffer(count: 0)
    private var gradient = FloatBuffer(count: 0)
    private var dLogits = FloatBuffer(count: 0)
    private var best = FloatBuffer(count: 0)
    private var bestLoss = FloatBuffer(count: 0)
    /// Per-sample CE at the attack's starting point (x itself for FGSM; the random start
    /// of the first restart otherwise): the AAE reference for `--aae-ref start`.
    public private(set) var startLoss = FloatBuffer(count: 0)

    public init(network: Network) { self.network = network }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        let d = network.inputShape.count, k = network.classes
        delta = FloatBuffer(count: n * d); gradient = FloatBuffer(count: n * d)
        best = FloatBuffer(count: n * d); dLogits = FloatBuffer(count: n * k)
        bestLoss = FloatBuffer(count: n); startLoss = FloatBuffer(count: n)
        capacity = n
    }

    /// Writes ∇ₓ Σ_i CE(x_i, y_i) into `gradient` and per-sample CE into `losses`.
    private func inputGradient(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, n: Int,
                               losses: UnsafeMutablePointer<Float>?) {
        let k = network.classes
        let logits = network.forward(x, batch: n)
        for i in 0..<n {
            let ce = Energy.crossEntropyGradient(logits + i * k, k, label: Int(labels[i]), scale: 1,
                                                 into: dLogits.pointer + i * k)
            losses?[i] = ce
        }
        network.backward(dLogits.pointer, parameterGradients: false, inputGradient: gradient.pointer)
    }

    /// Per-sample CE of the network at x.
    private func losses(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, n: Int,
                        into out: UnsafeMutablePointer<Float>) {
        let k = network.classes
        let logits = network.forward(x, batch: n)
        for i in 0..<n { out[i] = Energy.logSumExp(logits + i * k, k) - logits[i * k + Int(labels[i])] }
    }

    /// Produces x* for n samples of `x` (NCHW, values in [0, 1]) into `output`.
    /// - Parameters:
    ///   - indices: each sample's index in its dataset, keying its random start.
    ///   - restartOffset: added to the restart key (evaluation runs restarts one at a time).
    public func perturb(_ x: UnsafePointer<Float>, labels: UnsafePointer<Int32>, n: Int,
                        settings: AttackSettings, seed: UInt64, stream: NoiseStream, epoch: Int,
                        indices: UnsafePointer<Int64>, restartOffset: Int = 0,
                        output: UnsafeMutablePointer<Float>) {
        reserve(max(n, 1))
        let d = network.inputShape.count
        let eps = settings.epsilon, alpha = settings.alpha
        let total = n * d
        switch settings.kind {
        case .none:
            output.update(from: x, count: total)
            for i in 0..<n { startLoss.pointer[i] = .nan }
        case .fgsm:
            inputGradient(x, labels: labels, n: n, losses: startLoss.pointer)
            let g = gradient.pointer
            for j in 0..<total { output[j] = clip01(x[j] + eps * sign(g[j])) }
        case .fgsmRS, .pgd:
            let restarts = settings.restarts
            let steps = settings.kind == .pgd ? settings.steps : 1
            for r in 0..<restarts {
                randomStart(x, n: n, d: d, eps: eps, seed: seed, stream: stream, epoch: epoch,
                            indices: indices, restart: restartOffset + r, into: output)
                for t in 0..<steps {
                    inputGradient(output, labels: labels, n: n,
                                  losses: (r == 0 && t == 0) ? startLoss.pointer : nil)
                    // output = clip01(x + clamp(output + α·sign(g) − x, ±ε))
                    dtk_sign_step_project(output, x, gradient.pointer, total, alpha, eps)
                }
                if restarts > 1 {
                    // Keep, per sample, the restart with the highest loss.
                    let current = delta.pointer   // reuse as a loss buffer (n ≤ n·d)
                    losses(output, labels: labels, n: n, into: current)
                    for i in 0..<n where r == 0 || current[i] > bestLoss.pointer[i] {
                        bestLoss.pointer[i] = current[i]
                        (best.pointer + i * d).update(from: output + i * d, count: d)
                    }
                }
            }
            if restarts > 1 { output.update(from: best.pointer, count: total) }
        }
    }

    /// x₀ = clip(x + δ₀, 0, 1) with δ₀ ~ U(−ε, ε) keyed per sample (`KeyedRandom.uniform`'s
    /// stream, drawn in C).
    private func randomStart(_ x: UnsafePointer<Float>, n: Int, d: Int, eps: Float, seed: UInt64,
                             stream: NoiseStream, epoch: Int, indices: UnsafePointer<Int64>,
                             restart: Int, into out: UnsafeMutablePointer<Float>) {
        for i in 0..<n {
            let rng = KeyedRandom(seed: seed, keys: stream.rawValue, UInt64(epoch),
                                  UInt64(bitPattern: indices[i]), UInt64(restart))
            dtk_uniform_start(x + i * d, out + i * d, d, rng.counter, eps)
        }
    }
}

@inline(__always) func clip01(_ v: Float) -> Float { min(max(v, 0), 1) }
/// sign with sign(0) = 0, as torch.sign.
@inline(__always) func sign(_ v: Float) -> Float { v > 0 ? 1 : (v < 0 ? -1 : 0) }
