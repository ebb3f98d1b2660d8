import Adversarial
import NeuralCore
import TestSupport

/// Small shared fixtures of the adversarial tests: a reference objective in Double, an easy
/// synthetic two-class image set and a model trained on it for a few dozen SGD steps.
enum Fixtures {
    /// Per-sample results and loss of the CE + DER objective, computed directly in Double.
    struct Objective {
        var energyClean: [Double] = [], jointClean: [Double] = []
        var energyAdv: [Double] = [], jointAdv: [Double] = []
        var ceClean: [Double] = [], ceAdv: [Double] = [], der: [Double] = []
        var aae: [Float] = [], predictedClean: [Float] = [], predictedAdv: [Float] = []
        /// Unscaled Σ_i [CE(x*_i) + β·m_i·DER_i].
        var loss = 0.0
        /// Scaled dLoss/dlogits, (2n, k).
        var dLogits: [Double] = []
    }

    static func logSumExp(_ f: ArraySlice<Double>) -> Double {
        let m = f.max()!
        return m + log(f.reduce(0) { $0 + exp($1 - m) })
    }

    static func softmax(_ f: ArraySlice<Double>) -> [Double] {
        let l = logSumExp(f)
        return f.map { exp($0 - l) }
    }

    static func argmax(_ f: ArraySlice<Float>) -> Int {
        var best = f.startIndex
        for j in f.indices where f[j] > f[best] { best = j }
        return best - f.startIndex
    }

    /// The objective of `EnergyObjective.compute` written out from its definition.
    static func objective(logits: [Float], n: Int, k: Int, labels: [Int32], reference: [Float]?,
                          mode: DERMode, beta: Double, gamma: Double, scale: Double) -> Objective {
        var o = Objective()
        o.dLogits = [Double](repeating: 0, count: 2 * n * k)
        let f = logits.map(Double.init)
        for i in 0..<n {
            let y = Int(labels[i])
            let fc = f[(i * k)..<(i * k + k)], fa = f[((n + i) * k)..<((n + i) * k + k)]
            let eC = -logSumExp(fc), eA = -logSumExp(fa)
            let eyC = -fc[fc.startIndex + y], eyA = -fa[fa.startIndex + y]
            let ceC = eyC - eC, ceA = eyA - eA
            let ref = reference.map { Double($0[i]) } ?? ceC
            let isAAE = ceA < ref
            let a = eC - eA, b = eyC - eyA
            let r = (a * a + b * b).squareRoot()
            let der = max(r - gamma, 0)
            let m = mode == .all || (mode == .aae && isAAE) ? 1.0 : 0.0
            o.loss += ceA + beta * m * der
            let pC = softmax(fc), pA = softmax(fa)
            for j in 0..<k {
                let onehot = j == y ? 1.0 : 0.0
                var gc = 0.0, ga = pA[j] - onehot
                if m == 1, r > gamma, r > 0 {
                    // ∂r/∂f(x) = −(a/r)·softmax − (b/r)·onehot; ∂r/∂f(x*) the opposite, with x*'s softmax.
                    gc += beta * (-(a / r) * pC[j] - (b / r) * onehot)
                    ga += beta * ((a / r) * pA[j] + (b / r) * onehot)
                }
                o.dLogits[i * k + j] = scale * gc
                o.dLogits[(n + i) * k + j] = scale * ga
            }
            o.energyClean.append(eC); o.jointClean.append(eyC); o.energyAdv.append(eA); o.jointAdv.append(eyA)
            o.ceClean.append(ceC); o.ceAdv.append(ceA); o.der.append(der); o.aae.append(isAAE ? 1 : 0)
            o.predictedClean.append(Float(argmax(logits[(i * k)..<(i * k + k)])))
            o.predictedAdv.append(Float(argmax(logits[((n + i) * k)..<((n + i) * k + k)])))
        }
        return o
    }

    /// Runs `compute` on arrays; returns the unscaled loss and dLogits.
    static func compute(_ objective: EnergyObjective, logits: [Float], n: Int, k: Int, labels: [Int32],
                        reference: [Float]? = nil, scale: Float) -> (loss: Double, dLogits: [Float]) {
        var d = [Float](repeating: .nan, count: 2 * n * k)
        let loss = logits.withUnsafeBufferPointer { l in
            labels.withUnsafeBufferPointer { y in
                d.withUnsafeMutableBufferPointer { g in
                    if let reference {
                        return reference.withUnsafeBufferPointer { r in
                            objective.compute(logits: l.baseAddress!, n: n, classes: k, labels: y.baseAddress!,
                                              reference: r.baseAddress!, scale: scale, dLogits: g.baseAddress!)
                        }
                    }
                    return objective.compute(logits: l.baseAddress!, n: n, classes: k, labels: y.baseAddress!,
                                             reference: nil, scale: scale, dLogits: g.baseAddress!)
                }
            }
        }
        return (loss, d)
    }

    static func values(_ b: FloatBuffer, _ n: Int) -> [Float] { Array(b.buffer.prefix(n)) }

    // MARK: - A trained toy model

    /// Two classes on 1×6×6 images: class 0 is bright on the left half, class 1 on the right,
    /// with uniform noise; every value in [0, 1].
    static func toyImages(count: Int, seed: UInt64) -> (images: [Float], labels: [Int32]) {
        var rng = KeyedRandom(seed: seed, keys: 77)
        var images: [Float] = [], labels: [Int32] = []
        for i in 0..<count {
            let y = Int32(i % 2)
            labels.append(y)
            for _ in 0..<6 {
                for c in 0..<6 {
                    let bright = (c < 3) == (y == 0)
                    let v = (bright ? 0.7 : 0.3) + rng.uniform(0.25)
                    images.append(min(max(v, 0), 1))
                }
            }
        }
        return (images, labels)
    }

    static let toyShape = Shape(1, 6, 6)

    /// An mlp trained with plain SGD (lr 0.1, full batch) on `toyImages(count: 64, seed: 1)`.
    static func trainedMLP(steps: Int = 40) -> Network {
        let net = ModelKind.mlp.build(input: toyShape, classes: 2)
        net.initialize(seed: 3)
        let data = toyImages(count: 64, seed: 1)
        let n = data.labels.count
        let objective = EnergyObjective(mode: .off, beta: 0, gamma: 0)
        var dLogits = [Float](repeating: 0, count: n * 2)
        data.images.withUnsafeBufferPointer { x in
            data.labels.withUnsafeBufferPointer { y in
                for _ in 0..<steps {
                    let logits = net.forward(x.baseAddress!, batch: n)
                    dLogits.withUnsafeMutableBufferPointer { g in
                        objective.computeClean(logits: logits, n: n, classes: 2, labels: y.baseAddress!,
                                               scale: 1 / Float(n), dLogits: g.baseAddress!)
                        net.zeroGradients()
                        net.backward(g.baseAddress!, parameterGradients: true)
                    }
                    for j in 0..<net.parameterCount { net.parameters.pointer[j] -= 0.1 * net.gradients.pointer[j] }
                }
            }
        }
        return net
    }

    /// Per-sample CE(x, y) of `net`, in Double from its logits.
    static func crossEntropies(_ net: Network, _ x: [Float], labels: [Int32]) -> [Double] {
        let n = labels.count, k = net.classes
        let logits = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: n), count: n * k)) }
        return (0..<n).map { i in
            let f = logits[(i * k)..<(i * k + k)].map(Double.init)
            return logSumExp(f[...]) - f[Int(labels[i])]
        }
    }

    static func accuracy(_ net: Network, _ x: [Float], labels: [Int32]) -> Double {
        let n = labels.count, k = net.classes
        let logits = x.withUnsafeBufferPointer { Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: n), count: n * k)) }
        let correct = (0..<n).filter { argmax(logits[($0 * k)..<($0 * k + k)]) == Int(labels[$0]) }.count
        return Double(correct) / Double(n)
    }
}

#if canImport(Glibc)
import Glibc
#endif
