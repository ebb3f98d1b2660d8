import Adversarial
import DataIO
import Distributed
import Foundation
import NeuralCore
import Observatory

public enum TrainingError: Error, CustomStringConvertible {
    case nonFinite(String)
    /// Stopped on a signal after writing a checkpoint (exit code 75).
    case preempted(signal: String, checkpoint: String)
    case resumeMismatch(checkpoint: String, reason: String)
    case shapeMismatch(String)
    case io(String)

    public var description: String {
        switch self {
        case .nonFinite(let s): return s
        case .preempted(let signal, let path):
            return "stopped on \(signal) at a step boundary; checkpoint \(path) written; continue with --resume auto"
        case .resumeMismatch(let path, let reason):
            return "cannot resume from \(path): \(reason)"
        case .shapeMismatch(let s): return s
        case .io(let s): return s
        }
    }
}

/// The data-parallel training loop. Every rank runs the same code on its shard of each
/// global batch; gradients (with the loss in the buffer's tail) are summed with one
/// allreduce, so every rank applies the same SGD update. Rank 0 alone writes files.
public final class Trainer {
    public let config: TrainConfig
    public let comm: any Communicator
    public let train: Dataset
    public let test: Dataset
    public let network: Network
    public let step: TrainStep
    public let optimizer: SGD
    public let evaluator: Evaluator
    public let sharding: Sharding
    public let files: RunFiles
    public var log: (String) -> Void = { print($0) }
    public var warn: (String) -> Void = { FileHandle.standardError.write(Data(($0 + "\n").utf8)) }

    /// Version and BLAS threads, recorded in config.json.
    public var record: (version: String, blasThreads: Int) = ("", 1)
    public private(set) var epoch = 0
    public private(set) var stepInEpoch = 0
    public private(set) var globalStep = 0
    public private(set) var skippedSteps = 0
    /// Set by the command to stop all ranks at a step boundary on SIGTERM, SIGINT or SIGUSR1.
    public var signals: StopSignals?
    /// Set by `restore` from a mid-epoch checkpoint, on rank 0: the epoch's statistics so far.
    var resumedEpochStatistics: EnergyStatistics?
    /// True while the parameters are exactly what the last update wrote, so that the update's
    /// kernel measured their largest magnitude (`SGD.parameterMagnitude`) and the next step needs
    /// no scan. False at the start of `run` (a fresh start or a resume), after a skipped step
    /// and after an injected fault.
    var parametersFromLastUpdate = false
    var metricsLines: [String] = []
    var tensorBoard: TensorBoardWriter?
    var alarms: Alarms
    public let probes: ProbeSet
    public let reducer: GradientReducer
    /// Read once from the environment (see `injectedFault(from:)`).
    let injectedFault = Trainer.injectedFault(from: ProcessInfo.processInfo.environment)

    public init(config: TrainConfig, comm: any Communicator, train: Dataset, test: Dataset) throws {
        self.config = config
        self.comm = comm
        self.train = config.trainSamples > 0 ? train.prefix(config.trainSamples) : train
        self.test = config.evalSamples > 0 ? test.prefix(config.evalSamples) : test
        let shape = Shape(train.channels, train.height, train.width)
        network = config.model.build(input: shape, classes: train.classes)
        if shape.height < 4 || shape.width < 4 {
            throw TrainingError.shapeMismatch("images of \(shape) are too small for \(config.model.rawValue)")
        }
        step = TrainStep(network: network, attack: config.attack, der: config.der, beta: config.beta,
                         gamma: config.gamma, aaeReference: config.aaeReference, seed: config.seed)
        optimizer = SGD(parameterCount: network.parameterCount, momentum: config.momentum,
                        weightDecay: config.weightDecay)
        evaluator = Evaluator(network: network, epsilon: config.attack.epsilon, pgdSteps: config.evalPGDSteps,
                              seed: config.seed)
        sharding = Sharding(sampleCount: self.train.count, batchSize: config.batchSize,
                            rank: comm.rank, ranks: comm.size)
        files = RunFiles(directory: config.outputDirectory)
        alarms = Alarms(thresholds: config.alarms)
        reducer = GradientReducer(network: network, comm: comm,
                                  bucketBytes: config.bucketMiB > 0 ? Int(config.bucketMiB * 1_048_576) : nil)
        probes = ProbeSet(trainCount: self.train.count, testCount: self.test.count, trainSamples: config.probeSamples,
                          testSamples: config.testProbeSamples, seed: config.seed)
    }

    /// Initial parameters: seeded PyTorch-style initialisation, or the `weights` file, on
    /// rank 0, broadcast to all.
    public func initialize() throws {
        network.initialize(seed: config.seed)
        if !config.weights.isEmpty && comm.isRoot { try Weights.load(path: config.weights, into: network) }
        try comm.broadcast(UnsafeMutableRawBufferPointer(start: network.parameters.pointer,
                                                         count: network.parameterCount * 4), root: 0)
        optimizer.resetVelocity()
        epoch = 0; stepInEpoch = 0; globalStep = 0
    }

    /// Restores parameters, momentum and position from a checkpoint (the same on every rank).
    public func restore(_ ckpt: Checkpoint, path: String) throws {
        let saved: TrainConfig
        do { saved = try TrainConfig.decode(Data(ckpt.configJSON.utf8), source: path) } catch {
            throw TrainingError.resumeMismatch(checkpoint: path, reason: "its configuration does not decode: \(error)")
        }
        if let reason = config.resumeMismatch(with: saved) {
            throw TrainingError.resumeMismatch(checkpoint: path, reason: reason)
        }
        guard ckpt.parameters.count == network.parameterCount, ckpt.momentum.count == network.parameterCount else {
            throw TrainingError.resumeMismatch(checkpoint: path,
                reason: "it holds \(ckpt.parameters.count) parameters, the model has \(network.parameterCount)")
        }
        _ = network.parameters.buffer.update(fromContentsOf: ckpt.parameters)
        _ = optimizer.velocity.buffer.update(fromContentsOf: ckpt.momentum)
        optimizer.velocityChanged()
        epoch = ckpt.epoch; stepInEpoch = ckpt.stepInEpoch; globalStep = ckpt.globalStep
        // The alarm rules' memory (best test PGD accuracy, AAE-rate history, previous PGD
        // accuracy); checkpoints written before it was recorded resume with none.
        // The interrupted epoch's statistics so far (summed over the ranks that wrote it): rank 0
        // starts the epoch from them, the others from zero, so the epoch's reduction adds up.
        resumedEpochStatistics = nil
        if ckpt.stepInEpoch > 0, let state = ckpt.extra[EnergyStatistics.checkpointKey] {
            let stats: EnergyStatistics
            do { stats = try EnergyStatistics(stateJSON: state) } catch {
                throw TrainingError.resumeMismatch(checkpoint: path, reason: "its epoch statistics do not decode: \(error)")
            }
            if comm.isRoot { resumedEpochStatistics = stats }
        }
        alarms = Alarms(thresholds: config.alarms)
        if let state = ckpt.extra[Alarms.checkpointKey] {
            do { try alarms.restore(stateJSON: state) } catch {
                throw TrainingError.resumeMismatch(checkpoint: path, reason: "its alarm state does not decode: \(error)")
            }
        }
    }

    /// `epochStatistics`: for a checkpoint written mid-epoch, the epoch's statistics so far,
    /// summed over ranks, so that a resumed run reports the whole epoch.
    public func checkpoint(epochStatistics: EnergyStatistics? = nil) throws -> Checkpoint {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let json = String(decoding: try encoder.encode(config), as: UTF8.self)
        var extra = ["model": config.model.rawValue, "dataset": config.dataset.rawValue,
                     "ranks": String(comm.size), "config_digest": Self.digest(json),
                     Alarms.checkpointKey: alarms.stateJSON]
        if stepInEpoch > 0, let state = epochStatistics?.stateJSON { extra[EnergyStatistics.checkpointKey] = state }
        return Checkpoint(configJSON: json, epoch: epoch, stepInEpoch: stepInEpoch, globalStep: globalStep,
                          parameters: network.parameters.array.prefix(network.parameterCount).map { $0 },
                          momentum: optimizer.velocity.array, extra: extra)
    }

    /// FNV-1a of the configuration's canonical JSON (sorted keys), in the checkpoint header so
    /// that a checkpoint names the exact configuration that wrote it; `Checkpoint.decode`
    /// refuses a checkpoint whose configuration no longer matches it.
    static func digest(_ text: String) -> String { Checkpoint.configDigest(of: text) }

    /// Runs the remaining epochs. Returns the last evaluation, if any.
    @discardableResult
    public func run() throws -> Evaluator.Result? {
        try prepareOutputs()
        var last: Evaluator.Result?
        let steps = sharding.stepsPerEpoch
        var progress = Progress(stepsPerEpoch: steps, every: config.logEvery, launchedByMPI: Communicators.launchedByMPI)
        parametersFromLastUpdate = false
        while epoch < config.epochs {
            let started = Date()
            let perm = sharding.permutation(seed: config.seed, epoch: epoch)
            var stats = resumedEpochStatistics ?? EnergyStatistics(), interval = EnergyStatistics()
            resumedEpochStatistics = nil
            var seen = 0
            var lr: Float = 0
            while stepInEpoch < steps {
                let range = sharding.localRange(step: stepInEpoch)
                let global = sharding.globalRange(step: stepInEpoch).count
                step.load(train, indices: perm[range])
                let (loss, outcome) = try runStep(globalBatch: global)
                let t = Double(epoch) + Double(stepInEpoch + 1) / Double(steps)
                lr = config.schedule.rate(peak: config.learningRate, epoch: t, epochs: config.epochs)
                var problem = outcome.nonFinite
                if problem == nil && !optimizer.stepIfFinite(network, learningRate: lr,
                                                            parameterMagnitude: outcome.parameterMagnitude,
                                                            gradientMagnitude: reducer.gradientMagnitude) {
                    problem = "non-finite parameters after the update at global step \(globalStep) (epoch \(epoch + 1), every rank)"
                }
                // A skipped step scans the parameters at the next one: a parameter that went
                // non-finite some other way must stop the run, not skip every step after.
                parametersFromLastUpdate = problem == nil
                if let problem {
                    guard config.nanPolicy == .skipStep else {
                        throw TrainingError.nonFinite(problem + "; stopped before the update, checkpoints written earlier are intact")
                    }
                    if comm.isRoot { warn("dist-train: warning: \(problem); skipping this step on every rank (--nan-policy skip-step)") }
                    skippedSteps += 1
                } else {
                    stats.accumulate(step.objective, labels: step.labels, loss: loss)
                    interval.accumulate(step.objective, labels: step.labels, loss: loss)
                }
                stepInEpoch += 1; globalStep += 1; seen += global
                if comm.isRoot {
                    let elapsed = Date().timeIntervalSince(started)
                    let rate = Double(seen) / max(elapsed, 1e-9)
                    let aaeRate = stats.counter(.aae) / max(stats.counter(.count), 1)
                    progress.update(step: stepInEpoch, String(format:
                        "epoch %d/%d  step %d/%d  %.0f samples/s  ETA %@  loss %.4f  AAE %.1f%% (rank 0)  lr %.4g",
                        epoch + 1, config.epochs, stepInEpoch, steps, rate,
                        formatDuration(Double(train.count - seen) / rate), outcome.loss, 100 * aaeRate, lr))
                }
                if config.logEvery > 0 && stepInEpoch % config.logEvery == 0 && stepInEpoch < steps {
                    try logInterval(&interval, progress: Double(stepInEpoch) / Double(steps), lr: lr)
                }
                if outcome.stop { try preempt(epochStatistics: stats) }
            }
            try stats.reduce(comm)
            let seconds = Date().timeIntervalSince(started)
            let isLast = epoch + 1 == config.epochs
            var eval: Evaluator.Result?
            if config.evalEvery > 0 && ((epoch + 1) % config.evalEvery == 0 || isLast) && test.count > 0 {
                eval = try evaluator.evaluate(test, comm: comm)
                last = eval
            }
            epoch += 1; stepInEpoch = 0
            if comm.isRoot { progress.finishLine() }
            if try endEpoch(stats: stats, eval: eval, seconds: seconds, samples: seen, lr: lr) { break }
        }
        return last
    }
}
