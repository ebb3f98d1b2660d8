import Adversarial
import DataIO
import NeuralCore

/// One training step on this rank's shard, up to (and excluding) the allreduce:
/// attack (input gradients only), one batched forward of [x; x*], the CE + DER
/// objective, and one backward that accumulates parameter gradients scaled by 1/B
/// for the global batch B. Workspaces grow once and are reused.
public final class TrainStep {
    public let network: Network
    public let attacker: Attacker
    public let objective: EnergyObjective
    public var attack: AttackSettings
    public var aaeReference: AAEReference
    public var seed: UInt64

    private var capacity = 0
    private var pair = FloatBuffer(count: 0)       // (2n, d): x then x*
    private var dLogits = FloatBuffer(count: 0)    // (2n, k)
    private var labelBuffer: [Int32] = []
    private var indexBuffer: [Int64] = []
    public private(set) var count = 0

    public init(network: Network, attack: AttackSettings, der: DERMode, beta: Float, gamma: Float,
                aaeReference: AAEReference, seed: UInt64) {
        self.network = network
        attacker = Attacker(network: network)
        objective = EnergyObjective(mode: der, beta: beta, gamma: gamma)
        self.attack = attack
        self.aaeReference = aaeReference
        self.seed = seed
    }

    private func reserve(_ n: Int) {
        guard n > capacity else { return }
        pair = FloatBuffer(count: 2 * n * network.inputShape.count)
        dLogits = FloatBuffer(count: 2 * n * network.classes)
        labelBuffer = [Int32](repeating: 0, count: n)
        indexBuffer = [Int64](repeating: 0, count: n)
        network.reserve(batch: 2 * n)
        capacity = n
    }

    /// Copies the samples `dataset[indices]` into the workspace.
    public func load(_ dataset: Dataset, indices: some Collection<Int>) {
        let d = network.inputShape.count
        precondition(dataset.sampleSize == d, "dataset samples have \(dataset.sampleSize) values, the model takes \(d)")
        reserve(max(indices.count, 1))
        count = indices.count
        dataset.images.withUnsafeBufferPointer { images in
            for (slot, i) in indices.enumerated() {
                (pair.pointer + slot * d).update(from: images.baseAddress! + i * d, count: d)
                labelBuffer[slot] = dataset.labels[i]
                indexBuffer[slot] = Int64(i)
            }
        }
    }

    /// Zeroes the gradients, then accumulates this shard's share of dLoss/dθ.
    /// - Returns: the unscaled local loss sum Σ_i [CE(x*_i) + β·m_i·DER_i].
    @discardableResult
    public func computeGradients(globalBatch: Int, epoch: Int) -> Double {
        network.zeroGradients()
        let n = count
        guard n > 0 else { objective.reset(); return 0 }
        let d = network.inputShape.count, k = network.classes
        let scale = 1 / Float(globalBatch)
        return labelBuffer.withUnsafeBufferPointer { labels in
            indexBuffer.withUnsafeBufferPointer { indices in
                let x = pair.pointer, xAdv = pair.pointer + n * d
                if attack.kind == .none {
                    let logits = network.forward(x, batch: n)
                    let loss = objective.computeClean(logits: logits, n: n, classes: k, labels: labels.baseAddress!,
                                                      scale: scale, dLogits: dLogits.pointer)
                    network.backward(dLogits.pointer, parameterGradients: true)
                    return loss
                }
                attacker.perturb(x, labels: labels.baseAddress!, n: n, settings: attack, seed: seed,
                                 stream: .training, epoch: epoch, indices: indices.baseAddress!, output: xAdv)
                let logits = network.forward(x, batch: 2 * n)
                let reference = aaeReference == .start ? UnsafePointer(attacker.startLoss.pointer) : nil
                let loss = objective.compute(logits: logits, n: n, classes: k, labels: labels.baseAddress!,
                                             reference: reference, scale: scale, dLogits: dLogits.pointer)
                network.backward(dLogits.pointer, parameterGradients: true)
                return loss
            }
        }
    }

    public var labels: [Int32] { Array(labelBuffer.prefix(count)) }
}
