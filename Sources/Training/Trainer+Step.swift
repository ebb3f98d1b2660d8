import Distributed
import Foundation

extension Trainer {
    /// What every rank learns from a step's one allreduce.
    struct StepOutcome {
        var loss: Float
        var stop: Bool
        var nonFinite: String?
    }

    /// Tail slots of the gradient buffer, summed together with the gradients.
    enum Tail: Int { case loss = 0, stop = 1, nonFinite = 2 }

    /// Sums gradients, the loss, this rank's stop request and its non-finite flag over all
    /// ranks in one allreduce, so every rank takes the same decision at the same step. Only
    /// when some rank saw a non-finite value does a second collective find out which.
    func reduceStep(loss: Double, globalBatch: Int) throws -> StepOutcome {
        let p = network.parameterCount
        let g = network.gradients.pointer
        if let fault = injectedFault, fault.rank == comm.rank, fault.step == globalStep { g[0] = .nan }
        var code: Int64 = 0
        if !loss.isFinite { code |= 1 }
        var probe: Float = 0
        for i in 0..<p { probe += g[i] * 0 }   // NaN iff some gradient is NaN or ±∞
        if !probe.isFinite { code |= 2 }
        g[p + Tail.loss.rawValue] = code == 0 ? Float(loss) : 0
        g[p + Tail.stop.rawValue] = (signals?.requested ?? false) ? 1 : 0
        g[p + Tail.nonFinite.rawValue] = code != 0 ? 1 : 0
        try comm.allreduceSum(network.gradients.buffer)
        var outcome = StepOutcome(loss: g[p + Tail.loss.rawValue] / Float(max(globalBatch, 1)),
                                  stop: g[p + Tail.stop.rawValue] > 0, nonFinite: nil)
        if g[p + Tail.nonFinite.rawValue] > 0 {
            var codes = [Int64](repeating: 0, count: comm.size)
            codes[comm.rank] = code
            try comm.allreduceSum(&codes)
            let parts = codes.enumerated().filter { $0.element != 0 }.map { rank, c in
                let what = [(1, "loss"), (2, "gradients")].filter { c & Int64($0.0) != 0 }.map(\.1).joined(separator: " and ")
                return "rank \(rank): \(what)"
            }
            outcome.nonFinite = "non-finite values at global step \(globalStep) (epoch \(epoch + 1)): \(parts.joined(separator: "; "))"
        }
        return outcome
    }

    /// Fault injection for the reliability tests: `DIST_TRAIN_INJECT_NAN=RANK:STEP` puts a NaN
    /// in that rank's gradients at that global step (documented in docs/reliability.md).
    var injectedFault: (rank: Int, step: Int)? {
        guard let spec = ProcessInfo.processInfo.environment["DIST_TRAIN_INJECT_NAN"] else { return nil }
        let parts = spec.split(separator: ":").compactMap { Int($0) }
        return parts.count == 2 ? (parts[0], parts[1]) : nil
    }

    /// Every rank stops after the same step: rank 0 writes a checkpoint, all wait for it.
    func preempt() throws -> Never {
        let path = files.checkpointPath(globalStep: globalStep)
        if comm.isRoot {
            try checkpoint().write(to: path)
            files.prune(keep: config.keepCheckpoints)
        }
        try comm.barrier()
        let name = signals.map { StopSignals.name($0.lastSignal) } ?? "a signal"
        throw TrainingError.preempted(signal: comm.isRoot ? name : "a peer's signal", checkpoint: path)
    }
}
