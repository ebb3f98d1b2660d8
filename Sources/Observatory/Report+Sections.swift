import Foundation

extension Report {
    // MARK: curves

    /// The per-epoch charts, each with the alarms as markers so cause and alarm line up.
    static func curvesSection(_ run: RunRecords) -> String {
        var s = "<section id=\"curves\"><h2>Curves per epoch</h2>\n"
        guard !run.epochs.isEmpty else {
            let why = run.metricsPresent ? "no finished epoch in metrics.jsonl" : "no metrics.jsonl"
            return s + "<p class=\"empty\">not yet available: \(why)</p></section>\n"
        }
        let markers = run.alarms.map { LineChart.Marker(x: Double($0.epoch), label: $0.kind.uppercased()) }
        let p = LineChart.palette
        func series(_ name: String, _ key: String, _ section: String?, _ color: String, dashed: Bool = false) -> LineChart.Series {
            .init(name: name, color: color, points: run.curve(key, in: section), dashed: dashed)
        }
        func figure(_ svg: String, _ caption: String) -> String {
            "<figure>\(svg)<figcaption>\(caption)</figcaption></figure>\n"
        }
        let accuracy = [series("train clean", "clean_acc", "train", p[0], dashed: true),
                        series("train adversarial", "adv_acc", "train", p[1], dashed: true),
                        series("test clean", "clean_acc", "test", p[0]),
                        series("test FGSM", "fgsm_acc", "test", p[2]),
                        series("test PGD", "pgd_acc", "test", p[1])]
        let fractions = accuracy.allSatisfy { $0.points.allSatisfy { (0...1).contains($0.y) } }
        s += "<div class=\"grid\">\n"
        s += figure(LineChart.svg(series: accuracy, title: "Accuracy", xTitle: "epoch", yTitle: "accuracy",
                                  yRange: fractions ? 0...1 : nil, markers: markers),
                    "Catastrophic overfitting: FGSM accuracy rises while PGD accuracy collapses. "
                    + "Robust overfitting: test PGD accuracy falls while train adversarial accuracy keeps rising.")
        let energies = [series("E(x)", "E_x", "train", p[0]), series("E(x*)", "E_xadv", "train", p[0], dashed: true),
                        series("E(x,y)", "E_xy", "train", p[1]), series("E(x*,y)", "E_xadv_y", "train", p[1], dashed: true)]
        s += figure(LineChart.svg(series: energies, title: "Mean energies (train)", xTitle: "epoch",
                                  yTitle: "energy", markers: markers),
                    "E(x) = −logsumexp f(x), E(x,y) = −f(x)[y]; dashed: at the adversarial x*. "
                    + "Their gap E(x,y) − E(x) is the cross-entropy.")
        let deltas = [series("‖ΔE‖", "norm_dE", "train", p[3]), series("|ΔE(x)|", "abs_dE_x", "train", p[0]),
                      series("|ΔE(x,y)|", "abs_dE_xy", "train", p[1])]
        s += figure(LineChart.svg(series: deltas, title: "Mean energy shift |ΔE| (train)", xTitle: "epoch",
                                  yTitle: "|ΔE|", markers: markers),
                    "ΔE = [E(x) − E(x*), E(x,y) − E(x*,y)]; a jump marks the samples that DER regularises.")
        s += figure(LineChart.svg(series: [series("AAE count", "aae_count", "train", p[3])],
                                  title: "Abnormal adversarial examples (train)", xTitle: "epoch", yTitle: "count",
                                  logY: true, markers: markers),
                    "Samples whose loss the perturbation lowered; they multiply when catastrophic overfitting sets in.")
        s += figure(LineChart.svg(series: [series("learning rate", "lr", nil, p[0])], title: "Learning rate",
                                  xTitle: "epoch", yTitle: "lr", markers: markers),
                    "The schedule's rate at the end of each epoch.")
        let losses = [series("loss", "loss", "train", p[0]), series("CE clean", "ce_clean", "train", p[2]),
                      series("CE adversarial", "ce_adv", "train", p[1]), series("DER", "der", "train", p[3])]
        s += figure(LineChart.svg(series: losses, title: "Losses (train)", xTitle: "epoch", yTitle: "loss",
                                  markers: markers),
                    "Training loss and its parts: cross-entropy on clean and adversarial inputs, the DER term.")
        return s + "</div></section>\n"
    }

    // MARK: quiver plots

    /// Quiver pairs (random subset, AAEs only) per probe epoch, one epoch shown at a time.
    /// Without JS the newest is shown (the others carry `hidden`); the script switches epochs.
    static func quiverSection(_ run: RunRecords) -> String {
        var s = "<section id=\"quiver\"><h2>Energy quiver plots (train probes)</h2>\n"
        guard !run.probeEpochs.isEmpty else {
            return s + "<p class=\"empty\">not yet available: no energies/epoch-NNNN.csv</p></section>\n"
        }
        let epochs = quiverEpochs(run.probeEpochs, alarms: Set(run.alarms.map(\.epoch)))
        let newest = epochs.last!
        let alarmEpochs = Set(run.alarms.map(\.epoch))
        s += "<div class=\"selector\"><label for=\"epoch-select\">Epoch </label><select id=\"epoch-select\">"
        for e in epochs.reversed() {
            s += "<option value=\"\(e)\"\(e == newest ? " selected=\"selected\"" : "")>\(e)"
                + (alarmEpochs.contains(e) ? " (alarm)" : "") + "</option>"
        }
        s += "</select>"
        if epochs.count < run.probeEpochs.count {
            s += " <span class=\"note\">showing \(epochs.count) of \(run.probeEpochs.count) epochs: "
                + "the first, the newest, alarm epochs and an even spread</span>"
        }
        s += "</div>\n"
        let seed = run.configValue("seed").flatMap { UInt64($0) } ?? 0
        for e in epochs {
            s += "<div class=\"quiver-epoch\" id=\"quiver-epoch-\(e)\" data-epoch=\"\(e)\""
                + (e == newest ? "" : " hidden=\"hidden\"") + ">\n"
            s += quiverPair(run.probes(epoch: e), epoch: e, seed: seed, energiesDirectory: run.directory + "/energies")
            s += "</div>\n"
        }
        s += "<p class=\"caption\">Each arrow starts at a clean sample's energies (E(x), E(x,y)) and ends at its "
            + "adversarial example's (E(x*), E(x*,y)); its colour is ‖ΔE‖. The dashed line is E(x,y) = E(x), "
            + "zero cross-entropy. Left: a fixed random subset of the probes (the same samples at every epoch); "
            + "right: the abnormal adversarial examples only.</p>\n"
        return s + "</section>\n"
    }

    /// One epoch's pair of plots and its facts; links to the plots' SVG files when they
    /// exist in `energiesDirectory`.
    static func quiverPair(_ table: ProbeTable?, epoch: Int, seed: UInt64, energiesDirectory: String? = nil) -> String {
        guard let table else { return "<p class=\"empty\">epoch \(epoch): probe file vanished while reading</p>\n" }
        if let problem = table.problem {
            return "<p class=\"empty\">epoch \(epoch): probe file unreadable (\(SVG.escape(problem)))</p>\n"
        }
        let all = table.arrows(split: "train"), abnormal = table.arrows(split: "train", aaeOnly: true)
        guard let plots = quiverPlots(table, epoch: epoch, seed: seed) else {
            return "<p class=\"empty\">epoch \(epoch): no train probe rows</p>\n"
        }
        let (subset, aaeSubset) = (plots.subset, plots.aaeSubset)
        var s = "<div class=\"pair\">"
        s += "<figure>" + plots.subsetSVG + "</figure>"
        s += "<figure>" + plots.aaeSVG + "</figure>"
        s += "</div>\n"
        var facts = ["\(all.count) train probes", "\(abnormal.count) AAE\(abnormal.count == 1 ? "" : "s")"
            + String(format: " (%.2f%%)", 100 * Double(abnormal.count) / Double(all.count))]
        if subset.count < all.count { facts.append("subset of \(subset.count) drawn") }
        if aaeSubset.count < abnormal.count { facts.append("\(aaeSubset.count) AAEs drawn") }
        let test = table.samples.filter { $0.split == "test" }.count
        if test > 0 { facts.append("\(test) test probes in the file") }
        if table.skippedRows > 0 { facts.append("\(table.skippedRows) unreadable row(s) skipped") }
        let names = QuiverFiles.names(epoch: epoch)
        if let directory = energiesDirectory,
           FileManager.default.fileExists(atPath: directory + "/" + names.subset),
           FileManager.default.fileExists(atPath: directory + "/" + names.aae) {
            facts.append("as files: <a href=\"energies/\(names.subset)\">\(names.subset)</a>, "
                         + "<a href=\"energies/\(names.aae)\">\(names.aae)</a>")
        }
        return s + "<p class=\"facts\">" + facts.joined(separator: " · ") + "</p>\n"
    }

    /// All probe epochs when few; otherwise the first, the newest, the alarm epochs and an
    /// even spread, `maxQuiverEpochs` in all (more only when alarms alone exceed it).
    static func quiverEpochs(_ epochs: [Int], alarms: Set<Int>) -> [Int] {
        guard epochs.count > maxQuiverEpochs else { return epochs }
        var chosen = Set([epochs.first!, epochs.last!]).union(epochs.filter(alarms.contains))
        let rest = epochs.filter { !chosen.contains($0) }
        let room = min(maxQuiverEpochs - chosen.count, rest.count)
        if room == 1 { chosen.insert(rest[rest.count / 2]) }
        if room > 1 {
            // Spacing ≥ 1 between picked indices, so they are distinct.
            let spacing = Double(rest.count - 1) / Double(room - 1)
            for i in 0..<room { chosen.insert(rest[Int(Double(i) * spacing)]) }
        }
        return chosen.sorted()
    }
}
