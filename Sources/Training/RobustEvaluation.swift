import Adversarial
import DataIO
import Distributed
import NeuralCore

/// Robust accuracy of a network under a list of attacks (`dist-train eval`): the samples are
/// sharded across ranks in contiguous slices, each rank runs `AttackSuite` on its slice in
/// chunks, and the per-attack counts are summed with one allreduce. Every attack is per
/// sample with randomness keyed by the test index, so the counts do not depend on the number
/// of ranks or on the chunk size.
public final class RobustEvaluation {
    public struct Result: Sendable {
        public var samples: Int
        public var epsilon: Float
        /// Robust samples per attack, in the order requested (clean first).
        public var correct: [(RobustAttack, Int)]
        /// Wall-clock seconds per attack, the maximum over ranks.
        public var seconds: [(RobustAttack, Double)]

        public func accuracy(_ attack: RobustAttack) -> Double? {
            guard let c = correct.first(where: { $0.0 == attack })?.1 else { return nil }
            return samples > 0 ? Double(c) / Double(samples) : 0
        }

        /// {"samples":N,"eps":ε,"clean":…,"<attack>":…} with accuracies as fractions.
        public var json: String {
            // ε through its shortest decimal form, so 0.1 prints as 0.1, not 0.10000000149.
            var pairs: [(String, JSONValue)] = [("samples", .integer(samples)), ("eps", .number(Double("\(epsilon)") ?? Double(epsilon)))]
            for (a, _) in correct { pairs.append((a.rawValue, .number(accuracy(a) ?? 0))) }
            return JSONValue.object(pairs).text
        }
    }

    public let network: Network
    public let suite: AttackSuite
    public let attacks: [RobustAttack]
    public let chunk: Int
    /// Called on rank 0 only, with a line per finished chunk.
    public var log: ((String) -> Void)?

    public init(network: Network, settings: AttackSuiteSettings, attacks: [RobustAttack], chunk: Int = 250) {
        precondition(chunk >= 1)
        self.network = network
        suite = AttackSuite(network: network, settings: settings)
        var list: [RobustAttack] = [.clean]
        for a in attacks where !list.contains(a) { list.append(a) }
        self.attacks = list
        self.chunk = chunk
    }

    public func run(_ data: Dataset, comm: any Communicator) throws -> Result {
        precondition(data.sampleSize == network.inputShape.count, "dataset samples do not match the network input")
        let mine = Sharding.shard(of: data.count, rank: comm.rank, ranks: comm.size)
        let d = data.sampleSize
        var counts = [Int64](repeating: 0, count: attacks.count + 1)
        counts[0] = Int64(mine.count)
        let x = FloatBuffer(count: chunk * d)
        var labels = [Int32](repeating: 0, count: chunk), indices = [Int64](repeating: 0, count: chunk)
        var start = mine.lowerBound
        while start < mine.upperBound {
            let n = min(chunk, mine.upperBound - start)
            data.images.withUnsafeBufferPointer { x.pointer.update(from: $0.baseAddress! + start * d, count: n * d) }
            for i in 0..<n { labels[i] = data.labels[start + i]; indices[i] = Int64(start + i) }
            let flags = labels.withUnsafeBufferPointer { y in
                indices.withUnsafeBufferPointer { ix in
                    suite.evaluate(x.pointer, labels: y.baseAddress!, indices: ix.baseAddress!, n: n, attacks: attacks)
                }
            }
            for (slot, a) in attacks.enumerated() { counts[slot + 1] += Int64(flags[a]!.filter { $0 }.count) }
            start += n
            if comm.isRoot, let log {
                log("rank 0: \(start - mine.lowerBound)/\(mine.count) samples: " +
                    attacks.enumerated().map { "\($0.element.rawValue) \(counts[$0.offset + 1])" }.joined(separator: ", "))
            }
        }
        try comm.allreduceSum(&counts)
        var millis = attacks.map { Int64(((suite.seconds[$0] ?? 0) * 1000).rounded()) }
        try millis.withUnsafeMutableBufferPointer { try comm.allreduceMax($0) }
        return Result(samples: Int(counts[0]), epsilon: suite.settings.epsilon,
                      correct: attacks.enumerated().map { ($0.element, Int(counts[$0.offset + 1])) },
                      seconds: attacks.enumerated().map { ($0.element, Double(millis[$0.offset]) / 1000) })
    }
}
