import Adversarial
import DataIO
import Distributed
import NeuralCore

/// Clean, FGSM and PGD-k accuracy on a test set, sharded across ranks (contiguous
/// slices) and summed with one allreduce, with the energy statistics of (x, x*) for both
/// evaluation attacks. PGD random starts are keyed by test index, so results do not
/// depend on the rank count.
public final class Evaluator {
    public struct Result: Sendable, Equatable {
        public var samples: Int
        public var clean: Int
        public var fgsm: Int
        public var pgd: Int
        /// Energies of x and its PGD adversarial example; AAE means CE(x*) < CE(x).
        public var statistics = EnergyStatistics()
        /// The same with the FGSM adversarial example.
        public var fgsmStatistics = EnergyStatistics()
        public func accuracy(_ correct: Int) -> Double { samples > 0 ? Double(correct) / Double(samples) : 0 }
    }

    public let network: Network
    public let attacker: Attacker
    public var epsilon: Float
    public var pgdSteps: Int
    public var seed: UInt64
    public let chunk: Int

    private let objective = EnergyObjective(mode: .off, beta: 0, gamma: 0)
    /// (2·chunk, d) each: x then its PGD example, and x then its FGSM example, so that one
    /// forward pass gives the clean and adversarial logits the objective takes.
    private let pair: FloatBuffer, pairFGSM: FloatBuffer, dLogits: FloatBuffer
    private var labels: [Int32], indices: [Int64]

    public init(network: Network, epsilon: Float, pgdSteps: Int, seed: UInt64, chunk: Int = 256) {
        self.network = network
        attacker = Attacker(network: network)
        self.epsilon = epsilon
        self.pgdSteps = pgdSteps
        self.seed = seed
        self.chunk = chunk
        pair = FloatBuffer(count: 2 * chunk * network.inputShape.count)
        pairFGSM = FloatBuffer(count: 2 * chunk * network.inputShape.count)
        dLogits = FloatBuffer(count: 2 * chunk * network.classes)
        labels = [Int32](repeating: 0, count: chunk)
        indices = [Int64](repeating: 0, count: chunk)
    }

    public func evaluate(_ data: Dataset, comm: any Communicator) throws -> Result {
        let mine = Sharding.shard(of: data.count, rank: comm.rank, ranks: comm.size)
        var counts: [Int64] = [Int64(mine.count), 0, 0, 0]
        var stats = EnergyStatistics(), fgsmStats = EnergyStatistics()
        let d = network.inputShape.count, k = network.classes
        let fgsm = AttackSettings(kind: .fgsm, epsilon: epsilon)
        let pgd = AttackSettings(kind: .pgd, epsilon: epsilon, steps: pgdSteps)
        var start = mine.lowerBound
        while start < mine.upperBound {
            let n = min(chunk, mine.upperBound - start)
            let x = pair.pointer, xPGD = pair.pointer + n * d
            let xF = pairFGSM.pointer, xFGSM = pairFGSM.pointer + n * d
            data.images.withUnsafeBufferPointer { img in x.update(from: img.baseAddress! + start * d, count: n * d) }
            xF.update(from: x, count: n * d)
            for i in 0..<n { labels[i] = data.labels[start + i]; indices[i] = Int64(start + i) }
            labels.withUnsafeBufferPointer { l in
                indices.withUnsafeBufferPointer { ix in
                    for (settings, out) in [(fgsm, xFGSM), (pgd, xPGD)] {
                        attacker.perturb(x, labels: l.baseAddress!, n: n, settings: settings, seed: seed,
                                         stream: .evaluation, epoch: 0, indices: ix.baseAddress!, output: out)
                    }
                    let y = Array(l.prefix(n))
                    // Clean and adversarial rows in one pass per attack; the objective gives
                    // per-sample energies and predictions.
                    let fgsmLogits = network.forward(xF, batch: 2 * n)
                    let fgsmLoss = objective.compute(logits: fgsmLogits, n: n, classes: k, labels: l.baseAddress!,
                                                     reference: nil, scale: 0, dLogits: dLogits.pointer)
                    for i in 0..<n where objective.predictedAdv.pointer[i] == Float(l[i]) { counts[2] += 1 }
                    fgsmStats.accumulate(objective, labels: y, loss: fgsmLoss)
                    let both = network.forward(x, batch: 2 * n)
                    let loss = objective.compute(logits: both, n: n, classes: k, labels: l.baseAddress!,
                                                 reference: nil, scale: 0, dLogits: dLogits.pointer)
                    for i in 0..<n {
                        if objective.predictedClean.pointer[i] == Float(l[i]) { counts[1] += 1 }
                        if objective.predictedAdv.pointer[i] == Float(l[i]) { counts[3] += 1 }
                    }
                    stats.accumulate(objective, labels: y, loss: loss)
                }
            }
            start += n
        }
        try comm.allreduceSum(&counts)
        try stats.reduce(comm)
        try fgsmStats.reduce(comm)
        return Result(samples: Int(counts[0]), clean: Int(counts[1]), fgsm: Int(counts[2]), pgd: Int(counts[3]),
                      statistics: stats, fgsmStatistics: fgsmStats)
    }
}
