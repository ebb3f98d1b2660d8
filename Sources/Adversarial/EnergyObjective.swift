import NeuralCore

/// Which samples DER applies to.
public enum DERMode: String, CaseIterable, Sendable, Codable {
    /// No regulariser: loss = CE(x*, y).
    case off
    /// Every sample (multi-step AT).
    case all
    /// Only abnormal adversarial examples (single-step AT).
    case aae
}

/// The training objective over a forward pass of [x; x*] (2n rows of logits):
///
///   loss = scale · Σ_i [ CE(x*_i, y_i) + β · m_i · DER_i ]
///   DER_i = max(‖[E(x_i) − E(x*_i), E(x_i,y_i) − E(x*_i,y_i)]‖₂ − γ, 0)
///
/// with m_i = 1 for `.all`, m_i = [sample i is an AAE] for `.aae`, and `scale` = 1/B for
/// the global batch B. x* is a constant; the DER gradient flows into both halves:
///   ∂DER/∂f(x)  = −(a/r)·softmax(f(x))  − (b/r)·onehot(y)
///   ∂DER/∂f(x*) = +(a/r)·softmax(f(x*)) + (b/r)·onehot(y)
/// where a, b are the two energy gaps and r their norm; zero when r ≤ γ or r = 0
/// (the subgradient chosen at the kink, so the gradient is finite at zero norm).
///
/// An AAE is a sample whose loss the attack lowered: CE(x*_i) < CE_ref,i, with the
/// reference CE at the clean point or at the attack's random start, under the
/// pre-update model. Per-sample results stay readable after `compute` (statistics,
/// probes, parity tests); buffers grow once and are reused.
public final class EnergyObjective {
    public var mode: DERMode
    public var beta: Float
    public var gamma: Float

    public private(set) var count = 0
    public private(set) var energyClean = FloatBuffer(count: 0)   // E(x)
    public private(set) var jointClean = FloatBuffer(count: 0)    // E(x, y)
    public private(set) var energyAdv = FloatBuffer(count: 0)     // E(x*)
    public private(set) var jointAdv = FloatBuffer(count: 0)      // E(x*, y)
    public private(set) var ceClean = FloatBuffer(count: 0)       // CE(x, y)
    public private(set) var ceAdv = FloatBuffer(count: 0)         // CE(x*, y)
    public private(set) var ceReference = FloatBuffer(count: 0)   // CE at the AAE reference point
    public private(set) var der = FloatBuffer(count: 0)           // DER_i (before β and the mask)
    public private(set) var aae = FloatBuffer(count: 0)           // 1 if AAE else 0
    public private(set) var predictedClean = FloatBuffer(count: 0)
    public private(set) var predictedAdv = FloatBuffer(count: 0)
    /// One row of softmax(f(x*)), scratch for `compute`.
    private var probabilities = FloatBuffer(count: 0)

    public init(mode: DERMode, beta: Float, gamma: Float) {
        self.mode = mode
        self.beta = beta
        self.gamma = gamma
    }

    /// Forgets the last batch (a rank with an empty shard has no per-sample results).
    public func reset() { count = 0 }

    private func reserve(_ n: Int) {
        guard n > energyClean.count else { return }
        energyClean = FloatBuffer(count: n); jointClean = FloatBuffer(count: n)
        energyAdv = FloatBuffer(count: n); jointAdv = FloatBuffer(count: n)
        ceClean = FloatBuffer(count: n); ceAdv = FloatBuffer(count: n)
        ceReference = FloatBuffer(count: n); der = FloatBuffer(count: n); aae = FloatBuffer(count: n)
        predictedClean = FloatBuffer(count: n); predictedAdv = FloatBuffer(count: n)
    }

    /// - Parameters:
    ///   - logits: (2n, k): rows 0..<n from x, rows n..<2n from x*.
    ///   - reference: per-sample CE at the AAE reference point, or nil to use CE(x).
    ///   - scale: 1/B for the global batch size B.
    ///   - dLogits: (2n, k) output, dLoss/dlogits.
    /// - Returns: the unscaled local loss sum Σ_i [CE(x*_i) + β·m_i·DER_i].
    @discardableResult
    public func compute(logits: UnsafePointer<Float>, n: Int, classes k: Int, labels: UnsafePointer<Int32>,
                        reference: UnsafePointer<Float>?, scale: Float,
                        dLogits: UnsafeMutablePointer<Float>) -> Double {
        reserve(n)
        if probabilities.count < k { probabilities = FloatBuffer(count: k) }
        count = n
        var total: Double = 0
        for i in 0..<n {
            let y = Int(labels[i])
            let fc = logits + i * k, fa = logits + (n + i) * k
            let gc = dLogits + i * k, ga = dLogits + (n + i) * k
            // softmax(f(x*)) and softmax(f(x)), one exp per logit; the adversarial half then
            // gets the CE(x*) gradient with the operations of `crossEntropyGradient`.
            let p = probabilities.pointer
            let lseA = Energy.softmax(fa, k, into: p)
            for j in 0..<k { ga[j] = p[j] * scale }
            ga[y] -= scale
            let lseC = Energy.softmax(fc, k, into: gc)
            let eC = -lseC, eyC = -fc[y], eA = -lseA, eyA = -fa[y]
            let ceC = eyC - eC, ceA = eyA - eA
            let ref = reference?[i] ?? ceC
            let isAAE = ceA < ref
            let a = eC - eA, b = eyC - eyA
            let r = (a * a + b * b).squareRoot()
            let derValue = max(r - gamma, 0)
            let active = mode == .all || (mode == .aae && isAAE)

            var sampleLoss = Double(ceA)
            if active && derValue > 0 && r > 0 {
                sampleLoss += Double(beta * derValue)
                let ca = scale * beta * a / r, cb = scale * beta * b / r
                for j in 0..<k {
                    gc[j] = -ca * gc[j]
                    ga[j] += ca * p[j]
                }
                gc[y] -= cb
                ga[y] += cb
            } else {
                for j in 0..<k { gc[j] = 0 }
            }
            total += sampleLoss

            energyClean.pointer[i] = eC; jointClean.pointer[i] = eyC
            energyAdv.pointer[i] = eA; jointAdv.pointer[i] = eyA
            ceClean.pointer[i] = ceC; ceAdv.pointer[i] = ceA; ceReference.pointer[i] = ref
            der.pointer[i] = derValue; aae.pointer[i] = isAAE ? 1 : 0
            predictedClean.pointer[i] = Float(Energy.argmax(fc, k))
            predictedAdv.pointer[i] = Float(Energy.argmax(fa, k))
        }
        return total
    }

    /// Plain training: loss = scale · Σ_i CE(x_i, y_i) over n rows of clean logits. Fills the
    /// per-sample buffers with the clean values on both sides (no attack: x* = x, DER = 0).
    @discardableResult
    public func computeClean(logits: UnsafePointer<Float>, n: Int, classes k: Int, labels: UnsafePointer<Int32>,
                             scale: Float, dLogits: UnsafeMutablePointer<Float>) -> Double {
        reserve(n)
        count = n
        var total: Double = 0
        for i in 0..<n {
            let y = Int(labels[i])
            let f = logits + i * k
            let lse = Energy.logSumExpAndCrossEntropyGradient(f, k, label: y, scale: scale, into: dLogits + i * k)
            let e = -lse, ey = -f[y], ce = ey - e
            total += Double(ce)
            energyClean.pointer[i] = e; jointClean.pointer[i] = ey
            energyAdv.pointer[i] = e; jointAdv.pointer[i] = ey
            ceClean.pointer[i] = ce; ceAdv.pointer[i] = ce; ceReference.pointer[i] = ce
            der.pointer[i] = 0; aae.pointer[i] = 0
            let p = Float(Energy.argmax(f, k))
            predictedClean.pointer[i] = p; predictedAdv.pointer[i] = p
        }
        return total
    }
}

#if canImport(Glibc)
import Glibc
#endif
