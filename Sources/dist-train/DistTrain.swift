import ArgumentParser
import Foundation
import Training

@main
struct DistTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dist-train",
        abstract: "Distributed adversarial training (FGSM / PGD) with Delta Energy Regularisation.",
        discussion: """
            Run as a plain process, or under `mpirun -np N` / `srun --mpi=pmix`: every rank takes its \
            shard of each global batch and gradients are summed across ranks, so results do not depend \
            on the number of ranks. See docs/usage.md and docs/maths.md.
            """,
        version: DistTrainVersion.string,
        subcommands: [TrainCommand.self, EvalCommand.self, ExportCommand.self, ReportCommand.self, BenchCommand.self],
        defaultSubcommand: TrainCommand.self)

    static func main() {
        BLASKernels.upgradeIfGeneric()   // may exec this program again: first
        // train (also the default subcommand) turns stop signals into a checkpoint: note one that
        // arrives while the process is still starting.
        let first = CommandLine.arguments.dropFirst().first
        if !["eval", "export", "report", "bench"].contains(first) {
            StopSignals.noteEarly()
            if let delay = ProcessInfo.processInfo.environment["DIST_TRAIN_TEST_START_DELAY"].flatMap(Double.init) {
                // Test hook: widen the start-up window, so a test can signal into it.
                Thread.sleep(forTimeInterval: delay)
            }
        }
        main(nil)
    }
}

enum DistTrainVersion {
    static let string = "0.1.0"
}
