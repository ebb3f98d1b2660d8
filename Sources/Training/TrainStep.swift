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
    /// Runs of clean samples with a gradient, found anew each step (capacity kept).
    private var runs: [Range<Int>] = []
    public private(set) var count = 0
    /// Skip clean samples with a zero gradient in the backward pass (see `backward`); off only
    /// to check that skipping changes nothing.
    public var skipsInactiveSamples = true
    /// Clean samples that went backward in the last step (under an attack; all when not skipping).
    public private(set) var activeCleanSamples = 0
    /// Time per phase of the steps run so far (the trainer adds allreduce and optimizer).
    public var times = PhaseTimes()
    /// Of the attack phase, the seconds in the network's forward and backward passes (the rest is
    /// random starts, sign steps, projections and losses); measured when `network.passClock` is set.
    public var attackPasses = (forward: 0.0, backward: 0.0)

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
        runs.reserveCapacity(n)
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
    /// `reducer`, when given, learns the loss before the backward pass and each finished
    /// layer during it, to start reducing gradient buckets early.
    @discardableResult
    public func computeGradients(globalBatch: Int, epoch: Int, reducer: GradientReducer? = nil) -> Double {
        network.zeroGradients()
        guard count > 0 else {
            objective.reset()
            reducer?.willBackward(loss: 0)
            for i in stride(from: network.layers.count - 1, through: 0, by: -1) { reducer?.layerDone(i) }
            return 0
        }
        let loss = forward(scale: 1 / Float(globalBatch), epoch: epoch, stream: .training)
        reducer?.willBackward(loss: loss)
        times.time(.backward) { backward(reducer: reducer) }
        return loss
    }

    /// The backward pass of [x; x*], skipping clean samples whose dLoss/dlogits is zero: with an
    /// attack, a clean sample has a gradient only through an active DER term (`--der all`, or an
    /// AAE under `--der aae`), so under `--der aae` or `off` most of the clean half adds nothing.
    /// When at most a quarter of the clean samples are active, each run of active ones goes back
    /// on its own, then the adversarial half; otherwise the whole batch at once.
    private func backward(reducer: GradientReducer?) {
        let layerDone = reducer.map { r in { r.layerDone($0) } }
        let n = count, k = network.classes
        guard attack.kind != .none else {
            network.backward(dLogits.pointer, parameterGradients: true, layerDone: layerDone)
            return
        }
        let g = dLogits.pointer
        runs.removeAll(keepingCapacity: true)
        var active = 0
        var i = 0
        while i < n {
            if !(0..<k).contains(where: { g[i * k + $0] != 0 }) { i += 1; continue }
            let start = i
            while i < n && (0..<k).contains(where: { g[i * k + $0] != 0 }) { i += 1 }
            runs.append(start..<i)
            active += i - start
        }
        activeCleanSamples = skipsInactiveSamples ? active : n
        if !skipsInactiveSamples || active * 4 > n {
            network.backward(g, parameterGradients: true, layerDone: layerDone)
            return
        }
        for run in runs {
            network.backward(g + run.lowerBound * k, parameterGradients: true, samples: run)
        }
        network.backward(g + n * k, parameterGradients: true, samples: n..<(2 * n), layerDone: layerDone)
    }

    /// The same attack, forward pass and objective as a training step, without the
    /// backward pass: per-sample energies for the probe set. `stream` keys the random
    /// starts (`.training` reproduces the noise the samples get in training).
    @discardableResult
    public func computeEnergies(epoch: Int, stream: NoiseStream) -> Double {
        guard count > 0 else { objective.reset(); return 0 }
        return forward(scale: 0, epoch: epoch, stream: stream)
    }

    /// Attack (if any), one forward pass of [x; x*], and the objective into `dLogits`.
    private func forward(scale: Float, epoch: Int, stream: NoiseStream) -> Double {
        let n = count
        let d = network.inputShape.count, k = network.classes
        return labelBuffer.withUnsafeBufferPointer { labels in
            indexBuffer.withUnsafeBufferPointer { indices in
                let x = pair.pointer, xAdv = pair.pointer + n * d
                if attack.kind == .none {
                    let logits = times.time(.forward) { network.forward(x, batch: n) }
                    return times.time(.objective) {
                        objective.computeClean(logits: logits, n: n, classes: k, labels: labels.baseAddress!,
                                               scale: scale, dLogits: dLogits.pointer)
                    }
                }
                let passes = (network.forwardSeconds, network.backwardSeconds)
                times.time(.attack) {
                    attacker.perturb(x, labels: labels.baseAddress!, n: n, settings: attack, seed: seed,
                                     stream: stream, epoch: epoch, indices: indices.baseAddress!, output: xAdv)
                }
                attackPasses.forward += network.forwardSeconds - passes.0
                attackPasses.backward += network.backwardSeconds - passes.1
                let logits = times.time(.forward) { network.forward(x, batch: 2 * n) }
                let reference = aaeReference == .start ? UnsafePointer(attacker.startLoss.pointer) : nil
                return times.time(.objective) {
                    objective.compute(logits: logits, n: n, classes: k, labels: labels.baseAddress!,
                                      reference: reference, scale: scale, dLogits: dLogits.pointer)
                }
            }
        }
    }

    public var indices: [Int64] { Array(indexBuffer.prefix(count)) }
    public var labels: [Int32] { Array(labelBuffer.prefix(count)) }
}
