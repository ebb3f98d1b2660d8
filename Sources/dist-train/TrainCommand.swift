import Adversarial
import ArgumentParser
import DataIO
import Distributed
import Foundation
import NeuralCore
import Training

extension ModelKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
extension AttackKind: ExpressibleByArgument {}
extension AAEReference: ExpressibleByArgument {}

enum DERChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, off, all, aae
}

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a classifier with FGSM or PGD adversarial training and DER.",
        discussion: """
            Loss per global batch B: (1/B) Σ_i [CE(x*_i, y_i) + β·m_i·DER_i], with
            DER_i = max(‖[E(x_i) − E(x*_i), E(x_i,y_i) − E(x*_i,y_i)]‖₂ − γ, 0),
            E(x) = −logsumexp f(x), E(x,y) = −f(x)_y; m_i = 1 for --der all, and 1 only for
            abnormal adversarial examples (CE(x*) < CE at the reference point) for --der aae.
            Rank 0 writes OUT/config.json, OUT/metrics.jsonl (one JSON line per epoch) and
            OUT/checkpoints/step-N.dtck.
            """)

    @Option(help: "Dataset format and classes: \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var dataset: DatasetKind = .fashionMNIST
    @Option(help: "Directory with the dataset files (IDX, raw or .gz; CIFAR-10 binary batches).")
    var dataDir: String = "/usr/share/datasets/fashion-mnist"
    @Option(help: "Architecture: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")).")
    var model: ModelKind = .cnnSmall
    @Option(help: "Number of epochs.")
    var epochs: Int = 10
    @Option(help: "Global batch size, split across ranks.")
    var batchSize: Int = 128
    @Option(help: "Learning rate (the peak for the cyclic schedule).")
    var lr: Float = 0.05
    @Option(help: "Learning-rate schedule: cyclic (0 → peak at 40% → 0), piecewise (×0.1 at 50% and 75%), constant.")
    var lrSchedule: LearningRateSchedule = .cyclic
    @Option(help: "SGD momentum.")
    var momentum: Float = 0.9
    @Option(help: "L2 weight decay.")
    var weightDecay: Float = 5e-4
    @Option(help: "Adversarial training attack: none, fgsm, fgsm-rs (random start), pgd.")
    var at: AttackKind = .fgsmRS
    @Option(help: "L∞ radius in [0,1] pixel units; fractions such as 8/255 are accepted.")
    var eps: Fraction = Fraction(0.1)
    @Option(help: "Attack step size (default: ε for fgsm, 1.25ε for fgsm-rs, 2.5ε/steps for pgd).")
    var alpha: Fraction?
    @Option(help: "PGD steps for training.")
    var pgdSteps: Int = 10
    @Option(help: "PGD restarts for training (the highest-loss restart is kept per sample).")
    var pgdRestarts: Int = 1
    @Option(help: "Delta Energy Regularisation: auto (aae for fgsm/fgsm-rs, all for pgd, off for none), off, all, aae.")
    var der: DERChoice = .auto
    @Option(help: "DER weight β.")
    var beta: Float = 1
    @Option(help: "DER margin γ: energy gaps with norm ≤ γ are not penalised.")
    var gamma: Float = 0
    @Option(help: "AAE reference loss: start (the attack's random start; x for fgsm) or clean (x).")
    var aaeRef: AAEReference = .start
    @Option(help: "Seed for initialisation, data order and random starts.")
    var seed: UInt64 = 0
    @Option(help: "Run directory (default runs/<date-time>-<model>-<at>[-<slurm job id>]).")
    var out: String?
    @Option(help: "Resume from a checkpoint file, or `auto`: the newest valid checkpoint in --out (fresh start if none).")
    var resume: String?
    @Option(help: "Train on the first N training samples only (0: all).")
    var trainSamples: Int = 0
    @Option(help: "Evaluate on the first N test samples (0: all).")
    var evalSamples: Int = 1000
    @Option(help: "PGD steps for evaluation (step 2.5ε/steps, one random start).")
    var evalPgdSteps: Int = 10
    @Option(help: "Evaluate every N epochs (and after the last); 0 disables evaluation.")
    var evalEvery: Int = 1
    @Option(help: "Write a checkpoint every N epochs (and after the last); 0 disables.")
    var checkpointEvery: Int = 1
    @Option(help: "Keep the newest K checkpoints.")
    var keepCheckpoints: Int = 3
    @Option(help: "OpenBLAS threads per rank (default $OPENBLAS_NUM_THREADS, else cores / ranks per node).")
    var threads: Int?
    @Option(help: "Progress line every N steps (default: every step on a terminal, 5 per epoch otherwise).")
    var logEvery: Int = 0

    func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        try check(eps.value >= 0 && eps.value <= 1, "--eps must be in [0, 1], got \(eps.value)")
        if let a = alpha { try check(a.value > 0, "--alpha must be positive, got \(a.value)") }
        try check(epochs >= 1, "--epochs must be at least 1, got \(epochs)")
        try check(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        try check(lr > 0 && lr.isFinite, "--lr must be positive, got \(lr)")
        try check(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got \(momentum)")
        try check(weightDecay >= 0, "--weight-decay must be ≥ 0, got \(weightDecay)")
        try check(pgdSteps >= 1, "--pgd-steps must be at least 1, got \(pgdSteps)")
        try check(pgdRestarts >= 1, "--pgd-restarts must be at least 1, got \(pgdRestarts)")
        try check(beta >= 0 && beta.isFinite, "--beta must be ≥ 0, got \(beta)")
        try check(gamma >= 0 && gamma.isFinite, "--gamma must be ≥ 0, got \(gamma)")
        try check(trainSamples >= 0, "--train-samples must be ≥ 0, got \(trainSamples)")
        try check(evalSamples >= 0, "--eval-samples must be ≥ 0, got \(evalSamples)")
        try check(evalPgdSteps >= 1, "--eval-pgd-steps must be at least 1, got \(evalPgdSteps)")
        try check(evalEvery >= 0, "--eval-every must be ≥ 0, got \(evalEvery)")
        try check(checkpointEvery >= 0, "--checkpoint-every must be ≥ 0, got \(checkpointEvery)")
        try check(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1, got \(keepCheckpoints)")
        if let t = threads { try check(t >= 1, "--threads must be at least 1, got \(t)") }
        try check(logEvery >= 0, "--log-every must be ≥ 0, got \(logEvery)")
        if der == .aae || der == .all { try check(at != .none, "--der \(der.rawValue) needs an attack (--at fgsm, fgsm-rs or pgd)") }
        if resume == "auto" { try check(out != nil, "--resume auto needs --out DIR (the run directory to resume)") }
    }

    func makeConfig(outputDirectory: String) -> TrainConfig {
        var c = TrainConfig()
        c.dataset = dataset; c.dataDirectory = dataDir; c.model = model
        c.epochs = epochs; c.batchSize = batchSize; c.learningRate = lr; c.schedule = lrSchedule
        c.momentum = momentum; c.weightDecay = weightDecay
        c.attack = AttackSettings(kind: at, epsilon: eps.value, alpha: alpha?.value, steps: pgdSteps, restarts: pgdRestarts)
        switch der {
        case .auto: c.der = at == .none ? .off : (at == .pgd ? .all : .aae)
        case .off: c.der = .off
        case .all: c.der = .all
        case .aae: c.der = .aae
        }
        c.beta = beta; c.gamma = gamma; c.aaeReference = aaeRef; c.seed = seed
        c.trainSamples = trainSamples; c.evalSamples = evalSamples; c.evalPGDSteps = evalPgdSteps
        c.evalEvery = evalEvery; c.checkpointEvery = checkpointEvery; c.keepCheckpoints = keepCheckpoints
        c.logEvery = logEvery; c.outputDirectory = outputDirectory
        return c
    }

    static func defaultOutput(model: ModelKind, at: AttackKind) -> String {
        let f = DateFormatter()
        f.dateFormat = "yyyyMMdd-HHmmss"
        f.timeZone = TimeZone(identifier: "UTC")
        var name = "runs/\(f.string(from: Date()))-\(model.rawValue)-\(at.rawValue)"
        if let job = ProcessInfo.processInfo.environment["SLURM_JOB_ID"] { name += "-\(job)" }
        return name
    }

    func run() throws {
        let comm: any Communicator
        do { comm = try Communicators.make() } catch { Runtime.fail("\(error)", comm: nil) }
        do {
            try train(comm)
        } catch {
            Runtime.fail("\(error)", comm: comm)
        }
        (comm as? MPICommunicator)?.finalize()
    }

    private func train(_ comm: any Communicator) throws {
        let threads = Runtime.configureThreads(self.threads, localRanks: Runtime.localRanks)
        guard batchSize >= comm.size else {
            throw ValidationError("--batch-size \(batchSize) is smaller than the number of ranks (\(comm.size))")
        }
        // Rank 0 decides the run directory; every rank uses the same one.
        let chosen = out ?? TrainCommand.defaultOutput(model: model, at: at)
        let directory = String(decoding: try comm.broadcast(bytes: Array(chosen.utf8), root: 0), as: UTF8.self)
        let config = makeConfig(outputDirectory: directory)

        let trainSet = try DatasetLoader.load(dataset, directory: dataDir, split: .train)
        let testSet = try DatasetLoader.load(dataset, directory: dataDir, split: .test)
        let trainer = try Trainer(config: config, comm: comm, train: trainSet, test: testSet)
        if !comm.isRoot { trainer.log = { _ in } }

        try trainer.initialize()
        if let resume { try restore(trainer, from: resume, comm: comm) }
        if comm.isRoot {
            print("dist-train \(DistTrainVersion.string): \(config.model.rawValue) on \(config.dataset.rawValue) " +
                  "(\(trainer.train.count) train, \(trainer.test.count) test), \(comm.size) rank(s) × \(threads) BLAS thread(s), " +
                  "at \(config.attack.kind.rawValue) ε=\(config.attack.epsilon) α=\(config.attack.alpha), DER \(config.der.rawValue) " +
                  "β=\(config.beta) γ=\(config.gamma), global batch \(config.batchSize) → \(directory)")
        }
        try trainer.run()
        if comm.isRoot { print("done: \(trainer.files.directory)") }
    }

    /// Rank 0 reads the checkpoint; its bytes are broadcast so every rank restores the same state.
    private func restore(_ trainer: Trainer, from spec: String, comm: any Communicator) throws {
        var bytes: [UInt8] = []
        var path = spec
        if comm.isRoot {
            if spec == "auto" {
                if let found = trainer.files.newestValidCheckpoint(warn: { trainer.warn($0) }) {
                    path = found.path
                    bytes = found.checkpoint.encoded()
                }
            } else {
                bytes = try Checkpoint.read(from: spec).encoded()
            }
        }
        bytes = try comm.broadcast(bytes: bytes, root: 0)
        path = String(decoding: try comm.broadcast(bytes: Array(path.utf8), root: 0), as: UTF8.self)
        guard !bytes.isEmpty else {
            if comm.isRoot { print("resume auto: no checkpoint in \(trainer.files.checkpointDirectory), starting fresh") }
            return
        }
        let ckpt = try Checkpoint.decode(bytes, file: path)
        try trainer.restore(ckpt, path: path)
        if comm.isRoot { print("resumed from \(path) at epoch \(ckpt.epoch + 1), step \(ckpt.stepInEpoch), global step \(ckpt.globalStep)") }
    }
}
