import Distributed
import Foundation

extension Trainer {
    /// What every rank learns from a step's one allreduce.
    struct StepOutcome {
        var loss: Float
        var stop: Bool
        var nonFinite: String?
        /// The largest |parameter| before the update (the optimizer's bound).
        var parameterMagnitude: Float
    }

    /// Computes this rank's gradients and sums them over ranks: buckets of layers are
    /// reduced with non-blocking allreduces while the backward pass goes on (see
    /// `GradientReducer`); the loss, this rank's stop request and its non-finite flag travel
    /// in the same reductions, so every rank takes the same decision at the same step. Only
    /// when some rank saw a non-finite value does a second collective find out which.
    func runStep(globalBatch: Int) throws -> (loss: Double, outcome: StepOutcome) {
        reducer.stopRequested = signals?.requested ?? false
        let faults = injectedFault?.quantities(rank: comm.rank, step: globalStep) ?? []
        reducer.injectNaN = faults.contains(.gradients)
        reducer.injectLossNaN = faults.contains(.loss)
        if faults.contains(.parameters) { network.parameters.pointer[0] = .nan; parametersFromLastUpdate = false }
        // The parameters' largest magnitude: equal on every rank unless a fault hit one, and then
        // its flag must reach the others with the gradients (a rank that stopped alone would
        // leave its peers waiting in the next collective). Measured by the last update's kernel
        // when it wrote them, else by a pass over them.
        let parameterMagnitude = reducer.scanParameters(known: parametersFromLastUpdate ? optimizer.parameterMagnitude : nil)
        let loss = step.computeGradients(globalBatch: globalBatch, epoch: epoch, reducer: reducer)
        try step.times.time(.allreduce) { try reducer.finish() }
        let g = network.gradients.pointer, p = network.parameterCount
        var outcome = StepOutcome(loss: g[p + GradientReducer.Tail.loss.rawValue] / Float(max(globalBatch, 1)),
                                  stop: g[p + GradientReducer.Tail.stop.rawValue] > 0, nonFinite: nil,
                                  parameterMagnitude: parameterMagnitude)
        if reducer.sawNonFinite {
            var codes = [Int64](repeating: 0, count: comm.size)
            codes[comm.rank] = reducer.localCode
            try comm.allreduceSum(&codes)
            let parts = codes.enumerated().filter { $0.element != 0 }.map { rank, c in
                let what = GradientReducer.codeNames.filter { c & $0.bit != 0 }.map(\.name)
                return "rank \(rank): \(what.count > 1 ? what.dropLast().joined(separator: ", ") + " and " + what.last! : what.joined())"
            }
            let what = "non-finite values at global step \(globalStep) (epoch \(epoch + 1)): \(parts.joined(separator: "; "))"
            // Skipping the step cannot repair parameters: stop, whatever --nan-policy says.
            if codes.contains(where: { $0 & 4 != 0 }) {
                throw TrainingError.nonFinite(what + "; parameters cannot be repaired by skipping the step: "
                    + "stopped before the update, checkpoints written earlier are intact")
            }
            if config.nanPolicy == .skipStep && !comm.isRoot {
                // Rank 0 warns for the job; each other rank notes its own skip, so that the logs
                // show every rank skipping the same step.
                warn("dist-train (rank \(comm.rank)): skipping global step \(globalStep) (--nan-policy skip-step)")
            }
            outcome.nonFinite = what
        }
        return (loss, outcome)
    }

    /// Fault injection for the reliability tests (docs/reliability.md):
    /// `DIST_TRAIN_INJECT_NAN=RANK:STEP[:WHAT][,RANK:STEP[:WHAT]...]` puts a NaN in that rank's
    /// WHAT at that global step: `gradients` (the default), `loss`, or `parameters` (before the
    /// step's forward pass). Malformed entries are ignored.
    struct FaultInjection {
        enum Quantity: String { case gradients, loss, parameters }
        var entries: [(rank: Int, step: Int, what: Quantity)]

        func quantities(rank: Int, step: Int) -> [Quantity] {
            entries.filter { $0.rank == rank && $0.step == step }.map(\.what)
        }
    }

    static func injectedFault(from environment: [String: String]) -> FaultInjection? {
        guard let spec = environment["DIST_TRAIN_INJECT_NAN"] else { return nil }
        let entries = spec.split(separator: ",").compactMap { item -> (Int, Int, FaultInjection.Quantity)? in
            let parts = item.split(separator: ":")
            guard parts.count == 2 || parts.count == 3, let rank = Int(parts[0]), let step = Int(parts[1]),
                  let what = parts.count == 3 ? FaultInjection.Quantity(rawValue: String(parts[2])) : .gradients
            else { return nil }
            return (rank, step, what)
        }
        return entries.isEmpty ? nil : FaultInjection(entries: entries)
    }

    /// Every rank stops after the same step: rank 0 writes a checkpoint, all wait for it.
    func preempt(epochStatistics: EnergyStatistics) throws -> Never {
        let path = files.checkpointPath(globalStep: globalStep)
        var summed = epochStatistics
        try summed.reduce(comm)
        if comm.isRoot {
            try checkpoint(epochStatistics: summed).write(to: path)
            files.prune(keep: config.keepCheckpoints)
        }
        try comm.barrier()
        // Rank 0 reports the stop for the job: the signal it got, or that another rank got one.
        let name = signals.flatMap { $0.requested ? StopSignals.name($0.lastSignal) : nil } ?? "a signal to another rank"
        throw TrainingError.preempted(signal: name, checkpoint: path)
    }
}
