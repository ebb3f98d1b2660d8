import Adversarial
import DataIO
import NeuralCore

/// Where the AAE test takes its reference loss.
public enum AAEReference: String, CaseIterable, Sendable, Codable {
    /// CE at the attack's starting point: the random start for FGSM-RS and PGD, x for FGSM.
    case start
    /// CE at the clean sample x.
    case clean
}

/// Every resolved option of a training run. Written to `config.json` and into each
/// checkpoint; a resumed run checks that the options that shape the trajectory agree.
public struct TrainConfig: Codable, Sendable, Equatable {
    public var dataset: DatasetKind = .fashionMNIST
    public var dataDirectory = "/usr/share/datasets/fashion-mnist"
    public var model: ModelKind = .cnnSmall
    public var epochs = 10
    /// Global batch size, split across ranks.
    public var batchSize = 128
    public var learningRate: Float = 0.05
    public var schedule: LearningRateSchedule = .cyclic
    public var momentum: Float = 0.9
    public var weightDecay: Float = 5e-4
    public var attack = AttackSettings(kind: .fgsmRS, epsilon: 0.1)
    public var der: DERMode = .aae
    public var beta: Float = 1
    public var gamma: Float = 0
    public var aaeReference: AAEReference = .start
    public var seed: UInt64 = 0
    /// Use only the first N training samples (0: all).
    public var trainSamples = 0
    /// Evaluate on the first N test samples (0: all).
    public var evalSamples = 1000
    public var evalPGDSteps = 10
    public var evalEvery = 1
    public var checkpointEvery = 1
    public var keepCheckpoints = 3
    public var logEvery = 0
    public var outputDirectory = ""
    /// Training samples whose per-sample energies are written every epoch (0: none).
    public var probeSamples = 1024
    /// Test samples whose per-sample energies are written every epoch (0: none).
    public var testProbeSamples = 256
    /// Stop training when this alarm fires.
    public var stopOn: StopCondition = .never
    public var alarms = AlarmThresholds()
    /// What to do when a loss, gradient or parameter is NaN or infinite.
    public var nanPolicy: NaNPolicy = .stop
    /// Seconds a collective may take before the watchdog ends the rank (0: no watchdog).
    public var collectiveTimeout = 120.0
    /// Gradient buckets (MiB) reduced with non-blocking allreduces during the backward pass;
    /// 0: one blocking allreduce after it (faster with Open MPI 4.1 on one host).
    public var bucketMiB = 0.0
    /// Initial weights (a safetensors file, PyTorch names) instead of the seeded initialisation.
    public var weights = ""

    public init() {}

    /// The fields a resumed run must share with its checkpoint.
    public func resumeMismatch(with other: TrainConfig) -> String? {
        if other.model != model { return "model \(other.model.rawValue) ≠ \(model.rawValue)" }
        if other.dataset != dataset { return "dataset \(other.dataset.rawValue) ≠ \(dataset.rawValue)" }
        if other.batchSize != batchSize { return "global batch size \(other.batchSize) ≠ \(batchSize)" }
        if other.trainSamples != trainSamples { return "train samples \(other.trainSamples) ≠ \(trainSamples)" }
        return nil
    }
}

extension DatasetKind: Codable {
    /// The per-sample input shape of the dataset's images.
    public var inputShape: Shape {
        switch self {
        case .fashionMNIST, .mnist: return Shape(1, 28, 28)
        case .cifar10: return Shape(3, 32, 32)
        }
    }
}

public enum NaNPolicy: String, CaseIterable, Sendable, Codable {
    /// Stop every rank at the step, with a message naming the step, ranks and quantity.
    case stop
    /// Every rank skips the update of that step and goes on.
    case skipStep = "skip-step"
}

public enum StopCondition: String, CaseIterable, Sendable, Codable {
    case co, ro, never
}

/// Thresholds of the overfitting alarms (accuracies as fractions in [0, 1]).
public struct AlarmThresholds: Codable, Sendable, Equatable {
    /// CO: test FGSM accuracy exceeds test PGD accuracy by more than this.
    public var coGap = 0.2
    /// CO: test PGD accuracy falls by more than this from one evaluation to the next.
    public var coDrop = 0.2
    /// CO: the training AAE rate exceeds this factor times its running median (of earlier epochs).
    public var coAAEFactor = 10.0
    /// RO: test PGD accuracy is this far below its best while training adversarial accuracy still rises.
    public var roDrop = 0.03
    public init() {}
}
