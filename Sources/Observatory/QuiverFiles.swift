import DataIO
import Foundation

/// The quiver plots of one probe epoch as they appear in the report — a seeded random subset
/// of the train probes, and their abnormal adversarial examples — and as standalone SVG
/// files next to the probe CSVs (`energies/quiver-epoch-NNNN.svg`,
/// `energies/quiver-aae-epoch-NNNN.svg`), for a paper, a slide or a viewer without the report.
public enum QuiverFiles {
    /// File names of the random-subset and AAE-only plots of `epoch`.
    public static func names(epoch: Int) -> (subset: String, aae: String) {
        let digits = String(epoch)
        let number = String(repeating: "0", count: max(0, 4 - digits.count)) + digits
        return ("quiver-epoch-\(number).svg", "quiver-aae-epoch-\(number).svg")
    }

    /// Writes both files of `epoch` into `runDirectory/energies`, each atomically, from that
    /// epoch's probe CSV. `seed` picks the random subset (as in the report: the run's seed,
    /// read from config.json when not given). Returns false (and writes nothing) when there
    /// is no readable train probe row for that epoch.
    @discardableResult
    public static func write(runDirectory: String, epoch: Int, seed: UInt64? = nil) throws -> Bool {
        let run = RunRecords(directory: runDirectory, metrics: false)
        let seed = seed ?? run.configValue("seed").flatMap { UInt64($0) } ?? 0
        guard let table = run.probes(epoch: epoch), let plots = Report.quiverPlots(table, epoch: epoch, seed: seed)
        else { return false }
        let directory = runDirectory + "/energies", names = names(epoch: epoch)
        try AtomicFile.write(SVG.standalone(plots.subsetSVG), to: directory + "/" + names.subset)
        try AtomicFile.write(SVG.standalone(plots.aaeSVG), to: directory + "/" + names.aae)
        return true
    }

    /// Writes the files of every probe epoch of the run; returns the epochs written.
    @discardableResult
    public static func writeAll(runDirectory: String) throws -> [Int] {
        let run = RunRecords(directory: runDirectory, metrics: false)
        let seed = run.configValue("seed").flatMap { UInt64($0) } ?? 0
        return try run.probeEpochs.filter { try write(runDirectory: runDirectory, epoch: $0, seed: seed) }
    }
}

extension Report {
    /// The two quiver plots of a probe table, or nil when it has no train rows.
    static func quiverPlots(_ table: ProbeTable, epoch: Int, seed: UInt64)
        -> (subset: [QuiverPlot.Arrow], aaeSubset: [QuiverPlot.Arrow], subsetSVG: String, aaeSVG: String)? {
        guard table.problem == nil else { return nil }
        let all = table.arrows(split: "train"), abnormal = table.arrows(split: "train", aaeOnly: true)
        guard !all.isEmpty else { return nil }
        let subset = QuiverPlot.sample(all, seed: seed), aaeSubset = QuiverPlot.sample(abnormal, seed: seed)
        return (subset, aaeSubset,
                QuiverPlot.svg(arrows: subset, title: "Epoch \(epoch): random subset of train probes"),
                QuiverPlot.svg(arrows: aaeSubset, title: "Epoch \(epoch): abnormal adversarial examples",
                               emptyMessage: "no abnormal adversarial examples at this epoch"))
    }
}
