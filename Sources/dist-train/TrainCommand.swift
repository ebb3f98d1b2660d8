import Adversarial
import ArgumentParser
import DataIO
import Distributed
import Foundation
import NeuralCore
import Training

struct TrainCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "train",
        abstract: "Train a classifier with FGSM or PGD adversarial training and DER.",
        discussion: """
            Loss per global batch B: (1/B) Σ_i [CE(x*_i, y_i) + β·m_i·DER_i], with
            DER_i = max(‖[E(x_i) − E(x*_i), E(x_i,y_i) − E(x*_i,y_i)]‖₂ − γ, 0),
            E(x) = −logsumexp f(x), E(x,y) = −f(x)_y; m_i = 1 for --der all, and 1 only for
            abnormal adversarial examples (CE(x*) < CE at the reference point) for --der aae.
            Rank 0 writes OUT/config.json, OUT/metrics.jsonl (one JSON line per epoch, and per \
            --log-every N steps), OUT/checkpoints/step-N.dtck and best.dtck (best test PGD \
            accuracy), OUT/energies/ (probe energies and quiver plots per epoch), OUT/tb/ \
            (TensorBoard) and OUT/report.html; see docs/energy.md.
            """)

    @OptionGroup var options: TrainOptions

    @Option(help: "Read options from a JSON file such as a run's config.json; options given here override it.")
    var config: String?
    @Option(help: "Run directory (default runs/<date-time>-<model>-<at>[-<slurm job id>]).")
    var out: String?
    @Option(help: "Resume from a checkpoint file, or `auto`: the newest valid checkpoint in --out (fresh start if none).")
    var resume: String?
    @Option(help: "OpenBLAS threads per rank (default $OPENBLAS_NUM_THREADS, else cores / ranks per node).")
    var threads: Int?

    func validate() throws {
        if let t = threads, t < 1 { throw ValidationError("--threads must be at least 1, got \(t)") }
        if resume == "auto" && out == nil { throw ValidationError("--resume auto needs --out DIR (the run directory to resume)") }
        // Checked here too: AttackSettings keeps steps and restarts only for PGD.
        if let s = options.pgdSteps, s < 1 { throw ValidationError("--pgd-steps must be at least 1, got \(s)") }
        if let r = options.pgdRestarts, r < 1 { throw ValidationError("--pgd-restarts must be at least 1, got \(r)") }
        if config == nil { try options.apply(to: TrainConfig()).validate() }
    }

    /// The configuration: defaults, then the --config file, then the command line.
    func makeConfig(outputDirectory: String) throws -> TrainConfig {
        var c = try config.map { try TrainConfig.load(path: $0) } ?? TrainConfig()
        c = options.apply(to: c)
        c.outputDirectory = outputDirectory
        try c.validate()
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
        let signals = StopSignals()
        let comm: any Communicator
        do { comm = try Communicators.make() } catch { Runtime.fail("\(error)", comm: nil) }
        do {
            try train(comm, signals: signals)
        } catch TrainingError.preempted(let signal, let checkpoint) {
            if comm.isRoot { Runtime.note("stopped on \(signal); checkpoint \(checkpoint) written; continue with --resume auto") }
            Runtime.finish(comm, code: Runtime.preemptedExitCode)
        } catch let error as TrainingError {
            // Every rank reached the same decision at the same step: end together, quietly.
            if comm.isRoot { Runtime.note("error: \(error)") }
            Runtime.finish(comm, code: 1)
        } catch {
            Runtime.fail("\(error)", comm: comm)
        }
        (comm as? MPICommunicator)?.finalize()
    }

    private func train(_ rawComm: any Communicator, signals: StopSignals) throws {
        let threads = Runtime.configureThreads(self.threads, localRanks: Runtime.localRanks)
        try Runtime.checkBLAS()
        var config = try makeConfig(outputDirectory: "")
        let comm: any Communicator = WatchedCommunicator(rawComm, timeout: config.collectiveTimeout,
                                                         stopRequested: { signals.requested })
        guard config.batchSize >= comm.size else {
            throw ValidationError("--batch-size \(config.batchSize) is smaller than the number of ranks (\(comm.size))")
        }
        // Rank 0 decides the run directory; every rank uses the same one.
        let chosen = out ?? TrainCommand.defaultOutput(model: config.model, at: config.attack.kind)
        let directory = String(decoding: try comm.broadcast(bytes: Array(chosen.utf8), root: 0), as: UTF8.self)
        config.outputDirectory = directory

        let trainSet = try DatasetLoader.load(config.dataset, directory: config.dataDirectory, split: .train)
        let testSet = try DatasetLoader.load(config.dataset, directory: config.dataDirectory, split: .test)
        let trainer = try Trainer(config: config, comm: comm, train: trainSet, test: testSet)
        trainer.record = (DistTrainVersion.string, threads)
        trainer.signals = signals
        if !comm.isRoot { trainer.log = { _ in } }

        try trainer.initialize()
        if let resume { try restore(trainer, from: resume, comm: comm) }
        if comm.isRoot {
            print("dist-train \(DistTrainVersion.string): \(config.model.rawValue) on \(config.dataset.rawValue) " +
                  "(\(trainer.train.count) train, \(trainer.test.count) test), \(comm.size) rank(s) × \(threads) BLAS thread(s) " +
                  "(\(BLASKernels.description)), " +
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
