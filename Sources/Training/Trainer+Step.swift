import Distributed
import Foundation

extension Trainer {
    /// What every rank learns from a step's one allreduce.
    struct StepOutcome {
        var loss: Float
        var stop: Bool
        var nonFinite: String?
    }

    /// Computes this rank's gradients and sums them over ranks: buckets of layers are
    /// reduced with non-blocking allreduces while the backward pass goes on (see
    /// `GradientReducer`); the loss, this rank's stop request and its non-finite flag travel
    /// in the same reductions, so every rank takes the same decision at the same step. Only
    /// when some rank saw a non-finite value does a second collective find out which.
    func runStep(globalBatch: Int) throws -> (loss: Double, outcome: StepOutcome) {
        reducer.stopRequested = signals?.requested ?? false
        if let fault = injectedFault { reducer.injectNaN = fault.rank == comm.rank && fault.step == globalStep }
        let loss = step.computeGradients(globalBatch: globalBatch, epoch: epoch, reducer: reducer)
        try step.times.time(.allreduce) { try reducer.finish() }
        let g = network.gradients.pointer, p = network.parameterCount
        var outcome = StepOutcome(loss: g[p + GradientReducer.Tail.loss.rawValue] / Float(max(globalBatch, 1)),
                                  stop: g[p + GradientReducer.Tail.stop.rawValue] > 0, nonFinite: nil)
        if reducer.sawNonFinite {
            var codes = [Int64](repeating: 0, count: comm.size)
            codes[comm.rank] = reducer.localCode
            try comm.allreduceSum(&codes)
            let parts = codes.enumerated().filter { $0.element != 0 }.map { rank, c in
                let what = [(1, "loss"), (2, "gradients")].filter { c & Int64($0.0) != 0 }.map(\.1).joined(separator: " and ")
                return "rank \(rank): \(what)"
            }
            outcome.nonFinite = "non-finite values at global step \(globalStep) (epoch \(epoch + 1)): \(parts.joined(separator: "; "))"
        }
        return (loss, outcome)
    }

    /// Fault injection for the reliability tests: `DIST_TRAIN_INJECT_NAN=RANK:STEP` puts a NaN
    /// in that rank's gradients at that global step (documented in docs/reliability.md).
    static func injectedFault(from environment: [String: String]) -> (rank: Int, step: Int)? {
        guard let spec = environment["DIST_TRAIN_INJECT_NAN"] else { return nil }
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
