import Adversarial
import DataIO
import Distributed
import NeuralCore
import TestSupport
import Training

#if canImport(Glibc)
import Glibc
#endif

/// Shared fixtures of the training tests: an easy synthetic image set, a model trained on it
/// with the real TrainStep and SGD, Double-precision references, and a communicator that
/// plays one rank of several (collectives are the identity, so a test sums ranks itself).
enum Fixtures {
    static let shape = Shape(1, 6, 6)

    /// Two classes on 1×6×6 images: class 0 bright on the left half, class 1 on the right,
    /// with uniform noise; values in [0, 1].
    static func toyDataset(count: Int, seed: UInt64, classes: Int = 2) -> Dataset {
        var rng = KeyedRandom(seed: seed, keys: 78)
        var images: [Float] = [], labels: [Int32] = []
        for i in 0..<count {
            let y = Int32(i % 2)
            labels.append(y)
            for _ in 0..<6 {
                for c in 0..<6 {
                    let bright = (c < 3) == (y == 0)
                    images.append(min(max((bright ? 0.7 : 0.3) + rng.uniform(0.25), 0), 1))
                }
            }
        }
        return Dataset(name: "toy", channels: 1, height: 6, width: 6, classes: classes, images: images, labels: labels)
    }

    /// Random images in [0, 1] with labels cycling through `classes`.
    static func randomDataset(count: Int, shape: Shape, classes: Int, seed: UInt64) -> Dataset {
        Dataset(name: "random", channels: shape.channels, height: shape.height, width: shape.width, classes: classes,
                images: randomFloats(count * shape.count, seed: seed, low: 0, high: 1),
                labels: (0..<count).map { Int32(($0 * 7 + 3) % classes) })
    }

    /// An mlp trained on `toyDataset(count: 64, seed: 1)` with clean full-batch SGD steps.
    static func trainedMLP(steps: Int = 40) -> Network {
        let net = ModelKind.mlp.build(input: shape, classes: 2)
        net.initialize(seed: 3)
        let data = toyDataset(count: 64, seed: 1)
        let step = TrainStep(network: net, attack: AttackSettings(kind: .none, epsilon: 0), der: .off, beta: 0,
                             gamma: 0, aaeReference: .clean, seed: 0)
        let sgd = SGD(parameterCount: net.parameterCount, momentum: 0.9, weightDecay: 0)
        step.load(data, indices: 0..<data.count)
        for _ in 0..<steps {
            step.computeGradients(globalBatch: data.count, epoch: 0)
            sgd.step(parameters: net.parameters.pointer, gradients: net.gradients.pointer, learningRate: 0.05)
        }
        return net
    }

    static func logSumExp(_ f: ArraySlice<Double>) -> Double {
        let m = f.max()!
        return m + log(f.reduce(0) { $0 + exp($1 - m) })
    }

    static func argmax(_ f: ArraySlice<Float>) -> Int {
        var best = f.startIndex
        for j in f.indices where f[j] > f[best] { best = j }
        return best - f.startIndex
    }

    /// Logits of `net` for `count` samples of `images`, copied out.
    static func logits(_ net: Network, _ images: [Float], count: Int) -> [Float] {
        images.withUnsafeBufferPointer {
            Array(UnsafeBufferPointer(start: net.forward($0.baseAddress!, batch: count), count: count * net.classes))
        }
    }

    /// Per-sample CE(x, y) in Double from the logits.
    static func crossEntropies(_ logits: [Float], labels: [Int32], classes k: Int) -> [Double] {
        labels.indices.map { i in
            let f = logits[(i * k)..<(i * k + k)].map(Double.init)
            return logSumExp(f[...]) - f[Int(labels[i])]
        }
    }

    static func gradients(_ net: Network) -> [Float] { Array(net.gradients.buffer.prefix(net.parameterCount)) }

    static func images(_ data: Dataset, _ indices: [Int]) -> [Float] {
        indices.flatMap { data.images[($0 * data.sampleSize)..<(($0 + 1) * data.sampleSize)] }
    }
}

/// One rank of `size`, for single-process tests of rank-sharded code: collectives are the
/// identity, so the test sums the ranks' results itself.
final class SoloRankCommunicator: Communicator {
    let rank: Int, size: Int
    init(rank: Int, size: Int) { self.rank = rank; self.size = size }
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Float>) throws {}
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Double>) throws {}
    func allreduceSum(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    func allreduceMax(_ buffer: UnsafeMutableBufferPointer<Int64>) throws {}
    func broadcast(_ buffer: UnsafeMutableRawBufferPointer, root: Int) throws {}
    func gather(_ bytes: [UInt8], root: Int) throws -> [UInt8]? { bytes }
    func barrier() throws {}
    func abort(code: Int32) -> Never { fatalError("abort \(code)") }
}
