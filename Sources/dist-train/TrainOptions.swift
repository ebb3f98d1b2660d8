import Adversarial
import ArgumentParser
import DataIO
import NeuralCore
import Training

extension ModelKind: ExpressibleByArgument {}
extension DatasetKind: ExpressibleByArgument {}
extension LearningRateSchedule: ExpressibleByArgument {}
extension AttackKind: ExpressibleByArgument {}
extension AAEReference: ExpressibleByArgument {}
extension StopCondition: ExpressibleByArgument {}
extension NaNPolicy: ExpressibleByArgument {}

enum DERChoice: String, CaseIterable, ExpressibleByArgument {
    case auto, off, all, aae
}

/// The training options. Every one is optional so that an option given on the command line
/// can override a `--config` file while the others keep the file's (or the default) value;
/// the defaults shown in the help are `TrainConfig()`'s.
struct TrainOptions: ParsableArguments {
    private static let d = TrainConfig()

    @Option(help: "Dataset: \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")) (default \(d.dataset.rawValue)).")
    var dataset: DatasetKind?
    @Option(help: "Directory with the dataset files: IDX (raw or .gz) or CIFAR-10 binary batches (default \(d.dataDirectory)).")
    var dataDir: String?
    @Option(help: "Architecture: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")) (default \(d.model.rawValue)).")
    var model: ModelKind?
    @Option(help: "Number of epochs (default \(d.epochs)).")
    var epochs: Int?
    @Option(help: "Global batch size, split across ranks (default \(d.batchSize)).")
    var batchSize: Int?
    @Option(help: "Learning rate; the peak for the cyclic schedule (default \(d.learningRate)).")
    var lr: Float?
    @Option(help: "Learning-rate schedule: cyclic (0 → peak at 40% → 0), piecewise (×0.1 at 50% and 75%), constant (default \(d.schedule.rawValue)).")
    var lrSchedule: LearningRateSchedule?
    @Option(help: "SGD momentum (default \(d.momentum)).")
    var momentum: Float?
    @Option(help: "L2 weight decay (default \(d.weightDecay)).")
    var weightDecay: Float?
    @Option(help: "Adversarial training attack: none, fgsm, fgsm-rs (random start), pgd (default \(d.attack.kind.rawValue)).")
    var at: AttackKind?
    @Option(help: "L∞ radius in [0,1] pixel units; fractions such as 8/255 are accepted (default \(d.attack.epsilon)).")
    var eps: Fraction?
    @Option(help: "Attack step size (default: ε for fgsm, 1.25ε for fgsm-rs, 2.5ε/steps for pgd).")
    var alpha: Fraction?
    @Option(help: "PGD steps for training (default \(d.attack.steps)).")
    var pgdSteps: Int?
    @Option(help: "PGD restarts for training; the highest-loss restart is kept per sample (default 1).")
    var pgdRestarts: Int?
    @Option(help: "Delta Energy Regularisation: auto (aae for fgsm/fgsm-rs, all for pgd, off for none), off, all, aae (default auto).")
    var der: DERChoice?
    @Option(help: "DER weight β (default \(d.beta)).")
    var beta: Float?
    @Option(help: "DER margin γ: energy gaps with norm ≤ γ are not penalised (default \(d.gamma)).")
    var gamma: Float?
    @Option(help: "AAE reference loss: start (the attack's random start; x for fgsm) or clean (x) (default \(d.aaeReference.rawValue)).")
    var aaeRef: AAEReference?
    @Option(help: "Seed for initialisation, data order and random starts (default \(d.seed)).")
    var seed: UInt64?
    @Option(help: "Train on the first N training samples only; 0: all (default 0).")
    var trainSamples: Int?
    @Option(help: "Evaluate on the first N test samples; 0: all (default \(d.evalSamples)).")
    var evalSamples: Int?
    @Option(help: "PGD steps for evaluation, step 2.5ε/steps, one random start (default \(d.evalPGDSteps)).")
    var evalPgdSteps: Int?
    @Option(help: "Evaluate every N epochs and after the last; 0 disables (default \(d.evalEvery)).")
    var evalEvery: Int?
    @Option(help: "Write a checkpoint every N epochs and after the last; 0 disables (default \(d.checkpointEvery)).")
    var checkpointEvery: Int?
    @Option(help: "Keep the newest K checkpoints, besides checkpoints/best.dtck (default \(d.keepCheckpoints)).")
    var keepCheckpoints: Int?
    @Option(help: "Progress line, and a metrics.jsonl line, every N steps; 0: progress only, 5 lines per epoch off a terminal (default 0).")
    var logEvery: Int?
    @Option(help: "Training samples whose per-sample energies go to energies/epoch-N.csv every epoch (default \(d.probeSamples)).")
    var probeSamples: Int?
    @Option(help: "Test samples in the energy probe (default \(d.testProbeSamples)).")
    var testProbeSamples: Int?
    @Option(help: "Stop when an alarm fires: co (catastrophic overfitting), ro (robust overfitting), never (default never).")
    var stopOn: StopCondition?
    @Option(help: "CO alarm: test FGSM accuracy above test PGD accuracy by more than this fraction (default \(d.alarms.coGap)).")
    var coGap: Double?
    @Option(help: "CO alarm: test PGD accuracy falling by more than this fraction between evaluations (default \(d.alarms.coDrop)).")
    var coDrop: Double?
    @Option(help: "CO alarm: training AAE rate above this factor times its running median (default \(d.alarms.coAAEFactor)).")
    var coAaeFactor: Double?
    @Option(help: "RO alarm: test PGD accuracy this fraction below its best while training robust accuracy rises (default \(d.alarms.roDrop)).")
    var roDrop: Double?

    @Option(help: "On a NaN or infinite loss, gradient or parameter: stop (every rank, at that step, naming the ranks and quantity) or skip-step (every rank skips that update) (default stop).")
    var nanPolicy: NaNPolicy?
    @Option(help: "Seconds a collective may wait before this rank concludes a peer died and exits with code 4; 0 disables the watchdog (default \(Int(d.collectiveTimeout))).")
    var collectiveTimeout: Double?
    @Option(help: "Reduce gradients in buckets of this many MiB with non-blocking allreduces overlapped with the backward pass; 0: one blocking allreduce after it, faster with Open MPI 4.1 on one host (default 0).")
    var bucketMib: Double?
    @Option(help: "Start from these weights (safetensors with PyTorch state_dict names, e.g. from `dist-train export` or `safetensors.torch.save_file`) instead of the seeded initialisation.")
    var weights: String?

    /// Overrides the fields of `base` that were given on the command line.
    func apply(to base: TrainConfig) -> TrainConfig {
        var c = base
        if let dataset { c.dataset = dataset }
        if let dataDir { c.dataDirectory = dataDir }
        if let model { c.model = model }
        if let epochs { c.epochs = epochs }
        if let batchSize { c.batchSize = batchSize }
        if let lr { c.learningRate = lr }
        if let lrSchedule { c.schedule = lrSchedule }
        if let momentum { c.momentum = momentum }
        if let weightDecay { c.weightDecay = weightDecay }
        let kind = at ?? c.attack.kind
        let epsilon = eps?.value ?? c.attack.epsilon
        let steps = pgdSteps ?? c.attack.steps
        // Keep an explicit α from the file unless the attack or ε changed; else the default.
        let keepAlpha = at == nil && eps == nil && pgdSteps == nil
        c.attack = AttackSettings(kind: kind, epsilon: epsilon, alpha: alpha?.value ?? (keepAlpha ? c.attack.alpha : nil),
                                  steps: steps, restarts: pgdRestarts ?? c.attack.restarts)
        switch der {
        case .auto: c.der = kind == .none ? .off : (kind == .pgd ? .all : .aae)
        case .off: c.der = .off
        case .all: c.der = .all
        case .aae: c.der = .aae
        case nil: if at != nil { c.der = kind == .none ? .off : (kind == .pgd ? .all : .aae) }
        }
        if let beta { c.beta = beta }
        if let gamma { c.gamma = gamma }
        if let aaeRef { c.aaeReference = aaeRef }
        if let seed { c.seed = seed }
        if let trainSamples { c.trainSamples = trainSamples }
        if let evalSamples { c.evalSamples = evalSamples }
        if let evalPgdSteps { c.evalPGDSteps = evalPgdSteps }
        if let evalEvery { c.evalEvery = evalEvery }
        if let checkpointEvery { c.checkpointEvery = checkpointEvery }
        if let keepCheckpoints { c.keepCheckpoints = keepCheckpoints }
        if let logEvery { c.logEvery = logEvery }
        if let probeSamples { c.probeSamples = probeSamples }
        if let testProbeSamples { c.testProbeSamples = testProbeSamples }
        if let stopOn { c.stopOn = stopOn }
        if let coGap { c.alarms.coGap = coGap }
        if let coDrop { c.alarms.coDrop = coDrop }
        if let coAaeFactor { c.alarms.coAAEFactor = coAaeFactor }
        if let roDrop { c.alarms.roDrop = roDrop }
        if let weights { c.weights = weights }
        if let bucketMib { c.bucketMiB = bucketMib }
        if let nanPolicy { c.nanPolicy = nanPolicy }
        if let collectiveTimeout { c.collectiveTimeout = collectiveTimeout }
        return c
    }
}

extension TrainConfig {
    /// Checks every option, naming it in the message.
    func validate() throws {
        func check(_ ok: Bool, _ message: String) throws { if !ok { throw ValidationError(message) } }
        try check(attack.epsilon >= 0 && attack.epsilon <= 1, "--eps must be in [0, 1], got \(attack.epsilon)")
        try check(attack.alpha > 0 || attack.epsilon == 0, "--alpha must be positive, got \(attack.alpha)")
        try check(epochs >= 1, "--epochs must be at least 1, got \(epochs)")
        try check(batchSize >= 1, "--batch-size must be at least 1, got \(batchSize)")
        try check(learningRate > 0 && learningRate.isFinite, "--lr must be positive, got \(learningRate)")
        try check(momentum >= 0 && momentum < 1, "--momentum must be in [0, 1), got \(momentum)")
        try check(weightDecay >= 0, "--weight-decay must be ≥ 0, got \(weightDecay)")
        try check(attack.steps >= 1, "--pgd-steps must be at least 1, got \(attack.steps)")
        try check(attack.restarts >= 1, "--pgd-restarts must be at least 1, got \(attack.restarts)")
        try check(beta >= 0 && beta.isFinite, "--beta must be ≥ 0, got \(beta)")
        try check(gamma >= 0 && gamma.isFinite, "--gamma must be ≥ 0, got \(gamma)")
        try check(trainSamples >= 0, "--train-samples must be ≥ 0, got \(trainSamples)")
        try check(evalSamples >= 0, "--eval-samples must be ≥ 0, got \(evalSamples)")
        try check(evalPGDSteps >= 1, "--eval-pgd-steps must be at least 1, got \(evalPGDSteps)")
        try check(evalEvery >= 0, "--eval-every must be ≥ 0, got \(evalEvery)")
        try check(checkpointEvery >= 0, "--checkpoint-every must be ≥ 0, got \(checkpointEvery)")
        try check(keepCheckpoints >= 1, "--keep-checkpoints must be at least 1, got \(keepCheckpoints)")
        try check(logEvery >= 0, "--log-every must be ≥ 0, got \(logEvery)")
        try check(probeSamples >= 0, "--probe-samples must be ≥ 0, got \(probeSamples)")
        try check(testProbeSamples >= 0, "--test-probe-samples must be ≥ 0, got \(testProbeSamples)")
        try check(alarms.coGap > 0, "--co-gap must be positive, got \(alarms.coGap)")
        try check(alarms.coDrop > 0, "--co-drop must be positive, got \(alarms.coDrop)")
        try check(alarms.coAAEFactor > 1, "--co-aae-factor must be above 1, got \(alarms.coAAEFactor)")
        try check(alarms.roDrop > 0, "--ro-drop must be positive, got \(alarms.roDrop)")
        try check(bucketMiB >= 0, "--bucket-mib must be ≥ 0, got \(bucketMiB)")
        try check(collectiveTimeout >= 0, "--collective-timeout must be ≥ 0, got \(collectiveTimeout)")
        if der != .off { try check(attack.kind != .none, "--der \(der.rawValue) needs an attack (--at fgsm, fgsm-rs or pgd)") }
    }
}
