import Adversarial
import DataIO
import Distributed
import NeuralCore

/// Clean, FGSM and PGD-k accuracy on a test set, sharded across ranks (contiguous
/// slices) and summed with one allreduce. PGD random starts are keyed by test index.
public final class Evaluator {
    public struct Result: Sendable, Equatable {
        public var samples: Int
        public var clean: Int
        public var fgsm: Int
        public var pgd: Int
        public func accuracy(_ correct: Int) -> Double { samples > 0 ? Double(correct) / Double(samples) : 0 }
    }

    public let network: Network
    public let attacker: Attacker
    public var epsilon: Float
    public var pgdSteps: Int
    public var seed: UInt64
    public let chunk: Int

    private let x: FloatBuffer, xAdv: FloatBuffer
    private var labels: [Int32], indices: [Int64]

    public init(network: Network, epsilon: Float, pgdSteps: Int, seed: UInt64, chunk: Int = 256) {
        self.network = network
        attacker = Attacker(network: network)
        self.epsilon = epsilon
        self.pgdSteps = pgdSteps
        self.seed = seed
        self.chunk = chunk
        x = FloatBuffer(count: chunk * network.inputShape.count)
        xAdv = FloatBuffer(count: chunk * network.inputShape.count)
        labels = [Int32](repeating: 0, count: chunk)
        indices = [Int64](repeating: 0, count: chunk)
    }

    public func evaluate(_ data: Dataset, comm: any Communicator) throws -> Result {
        let mine = Sharding.shard(of: data.count, rank: comm.rank, ranks: comm.size)
        var counts: [Int64] = [Int64(mine.count), 0, 0, 0]
        let d = network.inputShape.count, k = network.classes
        let fgsm = AttackSettings(kind: .fgsm, epsilon: epsilon)
        let pgd = AttackSettings(kind: .pgd, epsilon: epsilon, steps: pgdSteps)
        var start = mine.lowerBound
        while start < mine.upperBound {
            let n = min(chunk, mine.upperBound - start)
            data.images.withUnsafeBufferPointer { img in
                x.pointer.update(from: img.baseAddress! + start * d, count: n * d)
            }
            for i in 0..<n { labels[i] = data.labels[start + i]; indices[i] = Int64(start + i) }
            func correct(_ input: UnsafePointer<Float>) -> Int64 {
                let logits = network.forward(input, batch: n)
                var c: Int64 = 0
                for i in 0..<n where Energy.argmax(logits + i * k, k) == Int(labels[i]) { c += 1 }
                return c
            }
            counts[1] += correct(x.pointer)
            for (slot, settings) in [(2, fgsm), (3, pgd)] {
                labels.withUnsafeBufferPointer { l in
                    indices.withUnsafeBufferPointer { ix in
                        attacker.perturb(x.pointer, labels: l.baseAddress!, n: n, settings: settings, seed: seed,
                                         stream: .evaluation, epoch: 0, indices: ix.baseAddress!, output: xAdv.pointer)
                    }
                }
                counts[slot] += correct(xAdv.pointer)
            }
            start += n
        }
        try comm.allreduceSum(&counts)
        return Result(samples: Int(counts[0]), clean: Int(counts[1]), fgsm: Int(counts[2]), pgd: Int(counts[3]))
    }
}
