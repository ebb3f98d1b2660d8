import DataIO
import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif
import XCTest

/// The energy observatory on real runs: statistics and probes do not depend on the number
/// of ranks, TensorBoard's own reader finds the values of metrics.jsonl, and the report's
/// quiver arrows are the probe CSV's rows.
final class ObservatoryRunTests: XCTestCase {
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "cnn-small", "--at", "fgsm-rs", "--train-samples", "640",
                "--batch-size", "64", "--epochs", "2", "--eval-samples", "96", "--eval-pgd-steps", "2",
                "--probe-samples", "50", "--test-probe-samples", "20", "--seed", "4", "--threads", "1", "--log-every", "4"]

    func epochLines(_ dir: String) throws -> [[String: Any]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }.filter { $0["interval"] == nil }
    }

    /// The statistics and probes are sums and rows gathered over ranks; this checks that
    /// gathering, so the two runs must follow the same trajectory. Another rank count rounds
    /// differently (~1e-8: the gradient sums, and sgemm on other batch sizes), and FGSM's sign()
    /// now and then turns that into a whole ±α step of one pixel, which a training step at the
    /// default learning rate then amplifies: with seed 4 and lr 0.05 the runs ended 9e-4 apart
    /// after a numerically neutral change elsewhere (2026-12-02), at 1e-8 for seeds 5–7. A small
    /// learning rate keeps such a flip from compounding (1e-9 to 1e-8 on seeds 4–6, measured).
    func testStatisticsAndProbesAreRankIndependent() throws {
        let one = Launcher.temporaryDirectory("obs1"), two = Launcher.temporaryDirectory("obs2")
        for (ranks, dir) in [(1, one), (2, two)] {
            let r = try Launcher.train(ranks: ranks, args + ["--lr", "0.001", "--out", dir])
            XCTAssertEqual(r.status, 0, r.stderr)
        }
        let a = try epochLines(one), b = try epochLines(two)
        XCTAssertEqual(a.count, 2)
        XCTAssertEqual(b.count, 2)
        for (la, lb) in zip(a, b) {
            for part in ["train", "test", "test_fgsm"] {
                let top = part == "train" ? "train" : "test"
                var ta = la[top] as! [String: Any], tb = lb[top] as! [String: Any]
                // x* = PGD under test.energies, x* = FGSM under test.energies_fgsm.
                if part != "train" {
                    let group = part == "test" ? "energies" : "energies_fgsm"
                    ta = ta[group] as! [String: Any]; tb = tb[group] as! [String: Any]
                }
                for key in ["samples", "E_x", "E_xadv", "E_xy", "E_xadv_y", "norm_dE", "norm_dE_std", "der", "ce_adv",
                            "aae_count", "adv_acc", "clean_acc"] {
                    let x = ta[key] as! Double, y = tb[key] as! Double
                    XCTAssertEqual(x, y, accuracy: 1e-5 * max(1, abs(x)), "\(part) \(key)")
                }
                for group in ["correct", "wrong"] {
                    let ga = ta[group] as! [String: Any], gb = tb[group] as! [String: Any]
                    XCTAssertEqual(ga["samples"] as! Double, gb["samples"] as! Double, "\(part) \(group) samples")
                }
                let ha = (ta["hist"] as! [String: Any])["norm_dE"] as! [String: Any]
                let hb = (tb["hist"] as! [String: Any])["norm_dE"] as! [String: Any]
                XCTAssertEqual(ha["all"] as! [Double], hb["all"] as! [Double], "\(part) histogram of ‖ΔE‖")
                XCTAssertEqual((ha["all"] as! [Double]).reduce(0, +), ta["samples"] as! Double)
            }
        }
        // The probe CSVs: same samples in the same order, values equal within rounding.
        for epoch in ["0001", "0002"] {
            let ra = try String(contentsOfFile: one + "/energies/epoch-\(epoch).csv", encoding: .utf8).split(separator: "\n")
            let rb = try String(contentsOfFile: two + "/energies/epoch-\(epoch).csv", encoding: .utf8).split(separator: "\n")
            XCTAssertEqual(ra.count, 1 + 50 + 20)
            XCTAssertEqual(ra.count, rb.count)
            for (x, y) in zip(ra.dropFirst(), rb.dropFirst()) {
                let fx = x.split(separator: ","), fy = y.split(separator: ",")
                XCTAssertEqual(fx[0...4], fy[0...4], "split, index, label, predictions")
                for j in 5..<12 {
                    let u = Double(fx[j])!, v = Double(fy[j])!
                    XCTAssertEqual(u, v, accuracy: 1e-4 * max(1, abs(u)), "column \(j) of \(x)")
                }
            }
        }
        for d in [one, two] { try? FileManager.default.removeItem(atPath: d) }
    }

    func testTensorBoardAndReportMatchTheRunFiles() throws {
        let dir = Launcher.temporaryDirectory("obs-tb")
        let r = try Launcher.train(ranks: 1, args + ["--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let lines = try epochLines(dir)

        // TensorBoard's EventAccumulator reads the scalars back.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/read_tensorboard.py").path
        let check = try Launcher.run("/usr/bin/env", ["python3", "-c", "import tensorboard"], timeout: 60)
        if check.status != 0 { throw XCTSkip("python3 cannot import tensorboard: launch/install-deps.sh --tests installs it") }
        let tb = try Launcher.run("/usr/bin/env", ["python3", script, dir + "/tb"], timeout: 120)
        XCTAssertEqual(tb.status, 0, tb.stderr)
        let read = try JSONSerialization.jsonObject(with: Data(tb.stdout.utf8)) as! [String: Any]
        let scalars = read["scalars"] as! [String: [[Double]]]
        for line in lines {
            let step = Double(line["step"] as! Int)
            let train = line["train"] as! [String: Any], test = line["test"] as! [String: Any]
            let correct = train["correct"] as! [String: Any], wrong = train["wrong"] as! [String: Any]
            let pgd = test["energies"] as! [String: Any], fgsm = test["energies_fgsm"] as! [String: Any]
            let pgdWrong = pgd["wrong"] as! [String: Any]
            for (tag, expected) in [("train/E_x", train["E_x"] as! Double), ("train/norm_dE", train["norm_dE"] as! Double),
                                    ("train/aae_count", train["aae_count"] as! Double),
                                    ("train/correct/norm_dE", correct["norm_dE"] as! Double),
                                    ("train/wrong/samples", wrong["samples"] as! Double),
                                    ("test_energies/E_xadv", pgd["E_xadv"] as! Double),
                                    ("test_energies/wrong/E_xadv_y", pgdWrong["E_xadv_y"] as! Double),
                                    ("test_energies_fgsm/E_xadv", fgsm["E_xadv"] as! Double),
                                    ("test_energies_fgsm/adv_acc", fgsm["adv_acc"] as! Double),
                                    ("test/pgd_acc", test["pgd_acc"] as! Double), ("lr", line["lr"] as! Double)] {
                let point = scalars[tag]?.first { $0[0] == step }
                XCTAssertNotNil(point, "no \(tag) at step \(step)")
                if let point { XCTAssertEqual(point[1], expected, accuracy: 1e-6 * max(1, abs(expected)), tag) }
            }
        }
        let histograms = read["histograms"] as! [String: Any]
        for tag in ["train/norm_dE", "train/correct/norm_dE", "test_energies_fgsm/dE_x"] {
            XCTAssertNotNil(histograms[tag], "no histogram \(tag): \(histograms.keys.sorted())")
        }

        // FGSM accuracy is the FGSM group's adversarial accuracy.
        for line in lines {
            let test = line["test"] as! [String: Any]
            XCTAssertEqual((test["energies_fgsm"] as! [String: Any])["adv_acc"] as! Double, test["fgsm_acc"] as! Double,
                           accuracy: 1e-12)
        }
        // The quiver plots of each epoch are also files, well-formed SVG documents.
        for name in ["quiver-epoch-0001.svg", "quiver-aae-epoch-0001.svg", "quiver-epoch-0002.svg", "quiver-aae-epoch-0002.svg"] {
            let parser = try XCTUnwrap(XMLParser(contentsOf: URL(fileURLWithPath: dir + "/energies/" + name)), name)
            XCTAssert(parser.parse(), "\(name): \(String(describing: parser.parserError))")
        }

        // Every train probe row of the last epoch is one arrow of the report's random-subset plot.
        let html = try String(contentsOfFile: dir + "/report.html", encoding: .utf8)
        XCTAssertFalse(html.contains("http://") || html.contains("https://"), "external resource in report.html")
        let csv = try String(contentsOfFile: dir + "/energies/epoch-0002.csv", encoding: .utf8).split(separator: "\n").dropFirst()
        let trainRows = csv.filter { $0.hasPrefix("train,") }
        XCTAssertEqual(trainRows.count, 50)
        for row in trainRows {
            let f = row.split(separator: ",")
            // data-id is the sample index; the arrow runs from (E(x), E(x,y)) to (E(x*), E(x*,y)).
            XCTAssert(html.contains("data-id=\"\(f[1])\" data-x0=\"\(f[5])\" data-y0=\"\(f[6])\" data-x1=\"\(f[7])\" data-y1=\"\(f[8])\""),
                      "no arrow for probe row \(row)")
        }
        try renderInChromium(dir)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A CO alarm (forced with a tiny --co-gap) goes to stderr and metrics.jsonl, and
    /// `--stop-on co` ends the run after that epoch with a checkpoint.
    func testStopOnCOEndsTheRunAtTheAlarm() throws {
        let dir = Launcher.temporaryDirectory("stop-on")
        let r = try Launcher.train(ranks: 2, ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm",
                                              "--train-samples", "256", "--batch-size", "64", "--epochs", "4",
                                              "--eval-samples", "64", "--eval-pgd-steps", "5", "--eps", "0.3",
                                              "--co-gap", "0.0001", "--stop-on", "co", "--probe-samples", "0",
                                              "--test-probe-samples", "0", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("ALARM (catastrophic overfitting) at epoch"), r.stderr)
        XCTAssert(r.stdout.contains("stopping: --stop-on co"), r.stdout)
        // The run ends with the first epoch that raised a CO alarm, before the 4th.
        let lines = try epochLines(dir)
        XCTAssertLessThan(lines.count, 4, "the run stops at the alarm")
        XCTAssert(lines.dropLast().allSatisfy { ($0["alarms"] as? [[String: Any]])?.contains { $0["kind"] as? String == "co" } != true })
        let alarms = lines.last?["alarms"] as? [[String: Any]]
        XCTAssertEqual(alarms?.first?["kind"] as? String, "co")
        XCTAssertEqual(try Launcher.finalCheckpoint(dir).globalStep, 4 * lines.count)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/energies"), "no probes were asked for")
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// The real run's report renders in headless Chromium (Debian's `chromium`): the DOM after
    /// the page's script has the plots, the epoch selector and every train probe's arrow.
    func renderInChromium(_ dir: String) throws {
        guard let chromium = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: {
            FileManager.default.isExecutableFile(atPath: $0) }) else {
            throw XCTSkip("no chromium: launch/install-deps.sh --tests installs Debian's package")
        }
        let flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                     "--user-data-dir=\(dir)/chromium-profile"]
        let dom = try Launcher.run(chromium, flags + ["--dump-dom", "file://\(dir)/report.html"], timeout: 120)
        XCTAssertEqual(dom.status, 0, dom.stderr)
        for element in ["<svg", "<select", "class=\"arrow\"", "Curves", "Alarms"] {
            XCTAssert(dom.stdout.contains(element), "rendered DOM lacks \(element)")
        }
        let shot = dir + "/report.png"
        let r = try Launcher.run(chromium, flags + ["--screenshot=\(shot)", "--window-size=1200,1600", "file://\(dir)/report.html"],
                                 timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        let size = (try FileManager.default.attributesOfItem(atPath: shot)[.size] as? NSNumber)?.intValue ?? 0
        XCTAssertGreaterThan(size, 50_000, "the screenshot looks blank (\(size) bytes)")
    }
}
