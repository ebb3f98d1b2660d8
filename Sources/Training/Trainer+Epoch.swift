import DataIO
import Distributed
import Foundation
import Observatory

extension Trainer {
    /// Rank 0 creates the run directory, writes config.json, keeps the metrics lines written
    /// up to the resume point (a run resumed into its own directory keeps each line once)
    /// and opens the TensorBoard writer.
    func prepareOutputs() throws {
        guard comm.isRoot else { return }
        try files.create()
        try AtomicFile.write(try config.recordJSON(version: record.version, ranks: comm.size,
                                                   blasThreads: record.blasThreads), to: files.configPath)
        metricsLines = files.metricsLines(throughStep: globalStep)
        if globalStep == 0 {
            tensorBoard = try TensorBoardWriter(directory: files.directory + "/tb")
        } else {
            // A resumed run: its own file (sorted after the earlier ones even within the same
            // second), opened with a START that hides what the earlier run wrote past the checkpoint.
            let writer = try TensorBoardWriter(directory: files.directory + "/tb", fileSuffix: ".resumed-\(globalStep)")
            writer.sessionStart(step: globalStep + 1)
            try writer.flush()
            tensorBoard = writer
        }
    }

    /// A metrics.jsonl line (and TensorBoard scalars) for the steps since the last one.
    /// Called at the same step on every rank (it reduces the interval's statistics). Its
    /// "epoch" is the running epoch, 1-based, as on the epoch line that will follow.
    func logInterval(_ interval: inout EnergyStatistics, progress: Double, lr: Float) throws {
        try interval.reduce(comm)
        defer { interval = EnergyStatistics() }
        guard comm.isRoot else { return }
        let line: [(String, JSONValue)] = [
            ("epoch", .integer(epoch + 1)), ("interval", .bool(true)), ("epoch_progress", .number(progress)),
            ("step", .integer(globalStep)), ("lr", .number(Double(lr))), ("train", interval.json),
        ]
        metricsLines.append(JSONValue.object(line).text)
        try AtomicFile.write(metricsLines.joined(separator: "\n") + "\n", to: files.metricsPath)
        for (key, value) in interval.summary() { tensorBoard?.scalar("interval/" + key, value, step: globalStep) }
        try tensorBoard?.flush()
    }

    /// End of an epoch (`epoch` already counts it): probes, alarms, metrics, TensorBoard,
    /// report and checkpoints. Returns true when `--stop-on` asks to stop. Collectives
    /// (the probe gather) come first and run on every rank. `samples` were trained in `seconds`
    /// by this process: all of the epoch's, unless it resumed mid-epoch (the statistics then
    /// still cover the whole epoch).
    func endEpoch(stats: EnergyStatistics, eval: Evaluator.Result?, seconds: Double, samples: Int, lr: Float) throws -> Bool {
        if !probes.isEmpty {
            // `epoch` names the file; the probes get the random starts of the 0-based epoch
            // `epoch - 1` that training just used.
            try probes.write(step: step, train: train, test: test, epoch: epoch, comm: comm,
                             chunk: max(config.batchSize / comm.size, 32), directory: files.directory + "/energies")
        }
        let n = max(stats.counter(.count), 1)
        let raised = alarms.update(epoch: epoch, trainAAERate: stats.counter(.aae) / n,
                                   trainAdvAcc: stats.counter(.correctAdv) / n,
                                   testFGSM: eval.map { $0.accuracy($0.fgsm) }, testPGD: eval.map { $0.accuracy($0.pgd) })
        let stop = Alarms.shouldStop(raised, on: config.stopOn)
        guard comm.isRoot else { return stop }

        for a in raised { warn("dist-train: ALARM (\(a.kind == .co ? "catastrophic" : "robust") overfitting) at epoch \(a.epoch): \(a.message)") }
        var line: [(String, JSONValue)] = [
            ("epoch", .integer(epoch)), ("step", .integer(globalStep)), ("lr", .number(Double(lr))),
            ("seconds", .number(seconds)), ("samples_per_s", .number(Double(samples) / max(seconds, 1e-9))),
            ("ranks", .integer(comm.size)), ("train", stats.json),
        ]
        var text = String(format: "epoch %d/%d  %.1fs  loss %.4f  train clean %.2f%% adv %.2f%%  AAE %d (%.2f%%)  ‖ΔE‖ %.3f",
                          epoch, config.epochs, seconds, stats.counter(.loss) / n, 100 * stats.counter(.correctClean) / n,
                          100 * stats.counter(.correctAdv) / n, Int(stats.counter(.aae)), 100 * stats.counter(.aae) / n,
                          stats.mean(.deltaNorm))
        if let e = eval {
            var test: [(String, JSONValue)] = [
                ("samples", .integer(e.samples)), ("clean_acc", .number(e.accuracy(e.clean))),
                ("fgsm_acc", .number(e.accuracy(e.fgsm))), ("pgd_acc", .number(e.accuracy(e.pgd))),
                ("pgd_steps", .integer(config.evalPGDSteps)), ("eps", .number(Double(config.attack.epsilon))),
            ]
            // x* = the PGD example under `energies` (as before), the FGSM example under `energies_fgsm`.
            test.append(("energies", e.statistics.json))
            test.append(("energies_fgsm", e.fgsmStatistics.json))
            line.append(("test", .object(test)))
            text += String(format: "  | test clean %.2f%% FGSM %.2f%% PGD-%d %.2f%%", 100 * e.accuracy(e.clean),
                           100 * e.accuracy(e.fgsm), config.evalPGDSteps, 100 * e.accuracy(e.pgd))
        }
        if !raised.isEmpty {
            line.append(("alarms", .array(raised.map { .object([("kind", .string($0.kind.rawValue)),
                                                               ("epoch", .integer($0.epoch)), ("message", .string($0.message))]) })))
        }
        log(text)
        metricsLines.append(JSONValue.object(line).text)
        try AtomicFile.write(metricsLines.joined(separator: "\n") + "\n", to: files.metricsPath)
        try writeTensorBoard(stats: stats, eval: eval, lr: lr, rate: Double(samples) / max(seconds, 1e-9))
        // The seed from config.json, as the report reads it, so the files hold the report's plots.
        if !probes.isEmpty { try QuiverFiles.write(runDirectory: files.directory, epoch: epoch) }
        try Report.write(runDirectory: files.directory)

        let isLast = epoch == config.epochs
        if config.checkpointEvery > 0 && (epoch % config.checkpointEvery == 0 || isLast || stop) {
            try checkpoint().write(to: files.checkpointPath(globalStep: globalStep))
            files.prune(keep: config.keepCheckpoints)
        }
        if eval != nil && alarms.isBest(epoch: epoch) {
            // Early stopping as in Rice et al. (2020): keep the best test-PGD model.
            try checkpoint().write(to: files.checkpointDirectory + "/best.dtck")
        }
        if stop { log("stopping: --stop-on \(config.stopOn.rawValue) and the alarm fired at epoch \(epoch)") }
        return stop
    }

    func writeTensorBoard(stats: EnergyStatistics, eval: Evaluator.Result?, lr: Float, rate: Double) throws {
        guard let tb = tensorBoard else { return }
        let step = globalStep
        tb.scalar("epoch", Double(epoch), step: step)
        tb.scalar("lr", Double(lr), step: step)
        tb.scalar("samples_per_s", rate, step: step)
        // All samples under `prefix`, those whose x* is classified correctly / wrongly under
        // `prefix + "correct/"` / `"wrong/"`.
        func energies(_ prefix: String, _ s: EnergyStatistics) {
            for g in EnergyStatistics.Group.allCases {
                energies(g == .all ? prefix : prefix + g.key + "/", s, g)
            }
        }
        func energies(_ prefix: String, _ s: EnergyStatistics, _ g: EnergyStatistics.Group) {
            for (key, value) in s.summary(g) { tb.scalar(prefix + key, value, step: step) }
            for (h, (q, edges)) in EnergyStatistics.histogrammed.enumerated() {
                let counts = s.histogram(h, g)
                let limits = edges + [Double.greatestFiniteMagnitude]
                let filled = counts.indices.filter { counts[$0] > 0 }
                guard let first = filled.first, let last = filled.last else { continue }
                // Min and max are known to the bin: the edges of the outermost filled bins.
                let low = first == 0 ? edges[0] : edges[first - 1], high = last >= edges.count ? edges.last! : edges[last]
                tb.histogram(prefix + q.key, bucketLimits: limits, counts: counts, min: low, max: high,
                             sum: s.sum(q, g), sumSquares: s.sumOfSquares(q, g), step: step)
            }
        }
        energies("train/", stats)
        if let e = eval {
            tb.scalar("test/clean_acc", e.accuracy(e.clean), step: step)
            tb.scalar("test/fgsm_acc", e.accuracy(e.fgsm), step: step)
            tb.scalar("test/pgd_acc", e.accuracy(e.pgd), step: step)
            energies("test_energies/", e.statistics)
            energies("test_energies_fgsm/", e.fgsmStatistics)
        }
        try tb.flush()
    }
}
