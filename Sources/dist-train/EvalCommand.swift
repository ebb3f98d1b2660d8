import Adversarial
import ArgumentParser
import DataIO
import Distributed
import Foundation
import NeuralCore
import Training

struct EvalCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "eval",
        abstract: "Robust accuracy of saved weights under FGSM, PGD and AutoAttack (L∞).",
        discussion: """
            Attacks the first --samples test images, sharded across ranks, and prints one JSON line: \
            {"samples":N,"eps":ε,"clean":…,"<attack>":…}, accuracies as fractions. A sample counts as \
            robust when it is classified correctly at x and at the attack's x*. Attacks: clean, fgsm, \
            pgd (--pgd-steps, step 2.5ε/steps, random start), apgd-ce, apgd-t (targeted DLR, 9 targets), \
            fab-t (9 targets), square (5000 queries, p_init 0.8), and aa: AutoAttack's standard sequence \
            APGD-CE, APGD-T, FAB-T, Square, each on the samples still robust. Random starts are keyed by \
            (--seed, test index), so the result does not depend on the number of ranks. \
            See docs/evaluation.md.
            """)

    private static let d = TrainConfig()

    @Option(help: "Safetensors file with PyTorch state_dict names (from `dist-train export` or safetensors.torch.save_file).")
    var weights: String
    @Option(help: "Architecture of the weights: \(ModelKind.allCases.map(\.rawValue).joined(separator: ", ")) (default: the file's \"model\" metadata, else \(d.model.rawValue)).")
    var model: ModelKind?
    @Option(help: "Comma-separated attacks: \(RobustAttack.allCases.map(\.rawValue).joined(separator: ", ")).")
    var attack: String = "aa"
    @Option(help: "L∞ radius in [0,1] pixel units; fractions such as 8/255 are accepted.")
    var eps: Fraction = Fraction(d.attack.epsilon)
    @Option(help: "Evaluate the first N test samples; 0: all.")
    var samples: Int = 1000
    @Option(help: "PGD steps for --attack pgd.")
    var pgdSteps: Int = d.evalPGDSteps
    @Option(help: "Restarts of pgd and of every AutoAttack component (AutoAttack standard: 1).")
    var restarts: Int = 1
    @Option(help: "Seed of the random starts and of Square's draws.")
    var seed: UInt64 = 0
    @Option(help: "Dataset: \(DatasetKind.allCases.map(\.rawValue).joined(separator: ", ")) (default \(d.dataset.rawValue)).")
    var dataset: DatasetKind?
    @Option(help: "Directory with the dataset files (default \(d.dataDirectory)).")
    var dataDir: String?
    @Option(help: "OpenBLAS threads per rank (default $OPENBLAS_NUM_THREADS, else cores / ranks per node).")
    var threads: Int?
    @Option(help: "APGD iterations (reference: 100; fewer only for quick checks).")
    var apgdIterations: Int = 100
    @Option(help: "FAB iterations per target class (reference: 100).")
    var fabIterations: Int = 100
    @Option(help: "Square Attack queries (reference: 5000).")
    var squareQueries: Int = 5000

    func validate() throws {
        do { _ = try RobustAttack.parseList(attack) } catch { throw ValidationError("--attack: \(error)") }
        guard eps.value >= 0 && eps.value <= 1 else { throw ValidationError("--eps must be in [0, 1], got \(eps.value)") }
        guard samples >= 0 else { throw ValidationError("--samples must be ≥ 0, got \(samples)") }
        guard pgdSteps >= 1 else { throw ValidationError("--pgd-steps must be at least 1, got \(pgdSteps)") }
        guard restarts >= 1 else { throw ValidationError("--restarts must be at least 1, got \(restarts)") }
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
        guard apgdIterations >= 1 else { throw ValidationError("--apgd-iterations must be at least 1, got \(apgdIterations)") }
        guard fabIterations >= 1 else { throw ValidationError("--fab-iterations must be at least 1, got \(fabIterations)") }
        guard squareQueries >= 0 else { throw ValidationError("--square-queries must be ≥ 0, got \(squareQueries)") }
    }

    /// The attacks' settings from these options; with the defaults, AutoAttack's standard ones.
    var suiteSettings: AttackSuiteSettings {
        AttackSuiteSettings(epsilon: eps.value, seed: seed, restarts: restarts, pgdSteps: pgdSteps,
                            apgdIterations: apgdIterations, fabIterations: fabIterations, squareQueries: squareQueries)
    }

    func run() throws {
        let comm: any Communicator
        do { comm = try Communicators.make() } catch { Runtime.fail("\(error)", comm: nil) }
        do {
            try evaluate(comm)
        } catch {
            Runtime.fail("\(error)", comm: comm)
        }
        (comm as? MPICommunicator)?.finalize()
    }

    private func evaluate(_ comm: any Communicator) throws {
        _ = Runtime.configureThreads(threads, localRanks: Runtime.localRanks)
        try Runtime.checkBLAS()
        let attacks = try RobustAttack.parseList(attack)
        let kind = dataset ?? EvalCommand.d.dataset
        let directory = dataDir ?? EvalCommand.d.dataDirectory

        // Rank 0 reads the weights and decides the model; every rank gets both.
        var file: SafeTensors?
        var modelName = model?.rawValue ?? ""
        if comm.isRoot {
            guard FileManager.default.fileExists(atPath: weights) else { throw CLIError("--weights \(weights): no such file") }
            let st = try SafeTensors.read(from: weights)
            if model == nil { modelName = st.metadata["model"] ?? EvalCommand.d.model.rawValue }
            file = st
        }
        modelName = String(decoding: try comm.broadcast(bytes: Array(modelName.utf8), root: 0), as: UTF8.self)
        guard let modelKind = ModelKind(rawValue: modelName) else {
            throw CLIError("--weights \(weights): its metadata names model '\(modelName)', which dist-train does not know; give --model")
        }
        let testSet = try DatasetLoader.load(kind, directory: directory, split: .test)
        let data = samples > 0 ? testSet.prefix(samples) : testSet
        let network = modelKind.build(input: kind.inputShape, classes: kind.classes)
        if let file {
            do { try Weights.load(file, into: network) } catch {
                let saved = file.metadata["model"].map { " (its metadata says model \($0))" } ?? ""
                throw CLIError("--weights \(weights) does not fit --model \(modelKind.rawValue)\(saved): \(error)")
            }
        }
        try comm.broadcast(UnsafeMutableRawBufferPointer(start: network.parameters.pointer,
                                                         count: network.parameterCount * 4), root: 0)

        let evaluation = RobustEvaluation(network: network, settings: suiteSettings, attacks: attacks)
        if comm.isRoot {
            let note = FileHandle.standardError
            note.write(Data(("dist-train eval: \(modelKind.rawValue) from \(weights), \(data.count) \(kind.rawValue) test samples " +
                             "on \(comm.size) rank(s), ε=\(eps.value), attacks \(evaluation.attacks.map(\.rawValue).joined(separator: ","))\n").utf8))
            evaluation.log = { note.write(Data(($0 + "\n").utf8)) }
        }
        let result = try evaluation.run(data, comm: comm)
        if comm.isRoot {
            let times = result.seconds.map { String(format: "%@ %.1f s", $0.0.rawValue, $0.1) }.joined(separator: ", ")
            FileHandle.standardError.write(Data(("time per attack (max over ranks): \(times)\n").utf8))
            print(result.json)
        }
    }
}
