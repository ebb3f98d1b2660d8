import Adversarial
import DataIO
import Distributed
import Foundation
import NeuralCore

/// A fixed, seeded set of training and test samples whose per-sample energies are
/// written every epoch to `energies/epoch-NNNN.csv`. Each rank computes its contiguous
/// share with the training attack (training samples with the same random-start keys as in
/// training), and rank 0 gathers the rows (MPI_Gatherv) in probe order.
public struct ProbeSet {
    public static let header = "split,index,label,pred_clean,pred_adv,E_x,E_xy,E_xadv,E_xadv_y,ce_clean,ce_adv,ce_ref,aae"
    public let trainIndices: [Int]
    public let testIndices: [Int]

    public init(trainCount: Int, testCount: Int, trainSamples: Int, testSamples: Int, seed: UInt64) {
        trainIndices = Array(KeyedRandom.permutation(trainCount, seed: seed, keys: 0x9B0BE, 0).prefix(trainSamples)).sorted()
        testIndices = Array(KeyedRandom.permutation(testCount, seed: seed, keys: 0x9B0BE, 1).prefix(testSamples)).sorted()
    }

    public var isEmpty: Bool { trainIndices.isEmpty && testIndices.isEmpty }

    /// This rank's CSV rows, computed in chunks of `chunk` samples, with the random starts of
    /// `keyEpoch`: the 0-based epoch index that training passes to the attack.
    func rows(step: TrainStep, train: Dataset, test: Dataset, keyEpoch: Int, rank: Int, ranks: Int, chunk: Int) -> String {
        var text = ""
        for (split, data, all, stream) in [("train", train, trainIndices, NoiseStream.training),
                                           ("test", test, testIndices, NoiseStream.probe)] {
            let mine = Array(all[Sharding.shard(of: all.count, rank: rank, ranks: ranks)])
            var start = 0
            while start < mine.count {
                let part = mine[start..<min(start + chunk, mine.count)]
                step.load(data, indices: part)
                step.computeEnergies(epoch: keyEpoch, stream: stream)
                let o = step.objective
                for (i, index) in part.enumerated() {
                    let values: [Float] = [o.energyClean.pointer[i], o.jointClean.pointer[i], o.energyAdv.pointer[i],
                                           o.jointAdv.pointer[i], o.ceClean.pointer[i], o.ceAdv.pointer[i],
                                           o.ceReference.pointer[i]]
                    text += "\(split),\(index),\(data.labels[index]),\(Int(o.predictedClean.pointer[i])),"
                        + "\(Int(o.predictedAdv.pointer[i])),"
                        + values.map { "\($0)" }.joined(separator: ",") + ",\(Int(o.aae.pointer[i]))\n"
                }
                start += part.count
            }
        }
        return text
    }

    /// Computes every rank's rows and writes the CSV on rank 0 (atomically), for the epoch
    /// just finished: `epoch` is 1-based and names the file (`epoch-NNNN.csv`), and the
    /// training samples get the random starts training gave them in that epoch, keyed on its
    /// 0-based index `epoch - 1`.
    public func write(step: TrainStep, train: Dataset, test: Dataset, epoch: Int, comm: any Communicator,
                      chunk: Int, directory: String) throws {
        precondition(epoch >= 1, "probe epochs are 1-based")
        let mine = rows(step: step, train: train, test: test, keyEpoch: epoch - 1, rank: comm.rank, ranks: comm.size,
                        chunk: chunk)
        guard let all = try comm.gather(Array(mine.utf8), root: 0) else { return }
        // Shards are contiguous in each list, but the train rows of every rank come before
        // its test rows: sort train rows before test rows, keeping rank order within each.
        let lines = String(decoding: all, as: UTF8.self).split(separator: "\n")
        let ordered = lines.filter { $0.hasPrefix("train,") } + lines.filter { $0.hasPrefix("test,") }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try AtomicFile.write(([Self.header] + ordered.map(String.init)).joined(separator: "\n") + "\n",
                             to: directory + "/" + Self.fileName(epoch: epoch))
    }

    public static func fileName(epoch: Int) -> String {
        let s = String(epoch)
        return "epoch-" + String(repeating: "0", count: max(0, 4 - s.count)) + s + ".csv"
    }
}
