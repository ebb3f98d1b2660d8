import DataIO
import Foundation
import XCTest

/// A run interrupted mid-epoch and resumed into the same run directory ends with the same
/// metrics.jsonl, alarms and best.dtck as an uninterrupted run: every epoch and interval line
/// exactly once, the alarm state (best test PGD accuracy, AAE-rate history, previous PGD
/// accuracy) carried through the checkpoint.
final class ObservatoryResumeTests: XCTestCase {
    /// 8 steps per epoch; interval lines at steps 3 and 6 of every epoch. The alarm thresholds
    /// make the history-dependent alarms fire readily: the AAE-rate rule needs two earlier
    /// epochs, the RO rule the best epoch.
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--train-samples", "512",
                "--batch-size", "64", "--epochs", "4", "--eval-samples", "64", "--eval-pgd-steps", "2",
                "--probe-samples", "16", "--test-probe-samples", "8", "--seed", "3", "--threads", "1",
                "--log-every", "3", "--keep-checkpoints", "10", "--co-aae-factor", "1.05", "--ro-drop", "0.0001"]
    let stepsPerEpoch = 8

    static func lines(_ dir: String) throws -> [[String: Any]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }
    }

    static func isInterval(_ line: [String: Any]) -> Bool { line["interval"] as? Bool == true }

    static func alarms(_ line: [String: Any]) -> [String] {
        ((line["alarms"] as? [[String: Any]]) ?? []).map { "\($0["kind"]!) \($0["epoch"]!) \($0["message"]!)" }
    }

    func testResumeIntoTheSameDirectoryMatchesAnUninterruptedRun() throws {
        let full = Launcher.temporaryDirectory("obs-full"), cut = Launcher.temporaryDirectory("obs-cut")
        defer { for d in [full, cut] { try? FileManager.default.removeItem(atPath: d) } }
        let r = try Launcher.train(ranks: 1, args + ["--out", full])
        XCTAssertEqual(r.status, 0, r.stderr)

        // Interval lines carry the running (1-based) epoch, like the epoch lines.
        let reference = try Self.lines(full)
        let intervals = reference.filter(Self.isInterval), epochs = reference.filter { !Self.isInterval($0) }
        XCTAssertEqual(epochs.map { $0["epoch"] as! Int }, [1, 2, 3, 4])
        XCTAssertEqual(epochs.map { $0["step"] as! Int }, [8, 16, 24, 32])
        XCTAssertEqual(intervals.map { $0["step"] as! Int }, [3, 6, 11, 14, 19, 22, 27, 30])
        for line in intervals {
            let step = line["step"] as! Int
            XCTAssertEqual(line["epoch"] as? Int, (step - 1) / stepsPerEpoch + 1, "interval line at step \(step)")
            let progress = line["epoch_progress"] as! Double
            XCTAssertEqual(progress, Double((step - 1) % stepsPerEpoch + 1) / Double(stepsPerEpoch), accuracy: 1e-12)
        }

        // The same run, stopped by an injected NaN at global step 19 (in epoch 3, after its
        // first interval line), then resumed with --resume auto from the epoch-2 checkpoint.
        let broken = try Launcher.run(Launcher.binary, args + ["--out", cut], environment: ["DIST_TRAIN_INJECT_NAN": "0:19"])
        XCTAssertNotEqual(broken.status, 0, "the injected NaN stops the run")
        XCTAssert(broken.stderr.contains("non-finite values at global step 19"), broken.stderr)
        XCTAssertEqual(try Self.lines(cut).last?["step"] as? Int, 19, "the interval line past the checkpoint was written")
        let resumed = try Launcher.train(ranks: 1, args + ["--out", cut, "--resume", "auto"])
        XCTAssertEqual(resumed.status, 0, resumed.stderr)
        XCTAssert(resumed.stdout.contains("step-00000016.dtck"), resumed.stdout)

        let again = try Self.lines(cut)
        XCTAssertEqual(again.map { $0["step"] as! Int }, reference.map { $0["step"] as! Int },
                       "every epoch and interval line exactly once, in order")
        XCTAssertEqual(again.map { $0["epoch"] as! Int }, reference.map { $0["epoch"] as! Int })
        for (a, b) in zip(reference, again) {
            let step = a["step"] as! Int
            XCTAssertEqual(Self.alarms(b), Self.alarms(a), "alarms at step \(step)")
            let ta = a["train"] as! [String: Any], tb = b["train"] as! [String: Any]
            for key in ["samples", "E_x", "norm_dE", "aae_count"] {
                XCTAssertEqual(tb[key] as? Double, ta[key] as? Double, "train \(key) at step \(step)")
            }
            if let ea = a["test"] as? [String: Any] {
                let eb = try XCTUnwrap(b["test"] as? [String: Any])
                XCTAssertEqual(eb["pgd_acc"] as? Double, ea["pgd_acc"] as? Double, "test PGD accuracy at step \(step)")
            }
        }

        // best.dtck holds the epoch with the best test PGD accuracy (the first, on a tie) in both runs.
        let pgd = epochs.map { ($0["test"] as! [String: Any])["pgd_acc"] as! Double }
        let bestEpoch = pgd.firstIndex(of: pgd.max()!)! + 1
        let bestFull = try Checkpoint.read(from: full + "/checkpoints/best.dtck")
        let bestCut = try Checkpoint.read(from: cut + "/checkpoints/best.dtck")
        XCTAssertEqual(bestFull.epoch, bestEpoch, "test PGD accuracy per epoch: \(pgd)")
        XCTAssertEqual(bestCut.epoch, bestEpoch, "test PGD accuracy per epoch: \(pgd)")
        XCTAssert(bestCut.parameters == bestFull.parameters, "best.dtck of the resumed run holds other parameters")
        XCTAssert(try Launcher.finalCheckpoint(cut).parameters == Launcher.finalCheckpoint(full).parameters,
                  "the resumed run ends elsewhere")

        // TensorBoard, reading both event files of the resumed run, shows each step once with
        // the uninterrupted run's values (the resumed run's SessionLog START drops the rest).
        let check = try Launcher.run("/usr/bin/env", ["python3", "-c", "import tensorboard"], timeout: 60)
        if check.status != 0 { throw XCTSkip("python3 cannot import tensorboard: launch/install-deps.sh --tests installs it") }
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Reference/read_tensorboard.py").path
        func scalars(_ dir: String) throws -> [String: [[Double]]] {
            let tb = try Launcher.run("/usr/bin/env", ["python3", script, dir + "/tb"], timeout: 120)
            XCTAssertEqual(tb.status, 0, tb.stderr)
            let read = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(tb.stdout.utf8)) as? [String: Any])
            return try XCTUnwrap(read["scalars"] as? [String: [[Double]]])
        }
        let tbFull = try scalars(full), tbCut = try scalars(cut)
        XCTAssertEqual(Set(tbCut.keys), Set(tbFull.keys))
        for tag in ["train/E_x", "train/aae_count", "test/pgd_acc", "interval/norm_dE", "lr", "train/wrong/samples"] {
            let a = try XCTUnwrap(tbFull[tag], tag), b = try XCTUnwrap(tbCut[tag], tag)
            XCTAssertEqual(b.map { $0[0] }, a.map { $0[0] }, "\(tag): steps")
            XCTAssertEqual(b.map { $0[1] }, a.map { $0[1] }, "\(tag): values")
        }
    }
}
