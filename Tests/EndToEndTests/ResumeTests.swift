import DataIO
import Foundation
import XCTest

/// Stopping after an epoch and resuming from its checkpoint ends where an uninterrupted
/// run ends: the schedule, data order and random starts are functions of (seed, epoch, step).
final class ResumeTests: XCTestCase {
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--train-samples", "512",
                "--batch-size", "64", "--epochs", "3", "--eval-samples", "64", "--eval-pgd-steps", "2",
                "--seed", "5", "--threads", "1"]

    func testResumeFromEpochCheckpointMatchesUninterruptedRun() throws {
        let full = Launcher.temporaryDirectory("full")
        let r = try Launcher.train(ranks: 1, args + ["--out", full])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: full + "/checkpoints").sorted()
        XCTAssertEqual(names, ["best.dtck", "step-00000008.dtck", "step-00000016.dtck", "step-00000024.dtck"])
        let final = try Launcher.finalCheckpoint(full)
        XCTAssertEqual(final.epoch, 3)
        XCTAssertEqual(final.globalStep, 24)

        // Resume from the end of epoch 1 in a fresh directory.
        let resumed = Launcher.temporaryDirectory("resumed")
        let r2 = try Launcher.train(ranks: 1, args + ["--out", resumed, "--resume", full + "/checkpoints/step-00000008.dtck"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssert(r2.stdout.contains("resumed from"), r2.stdout)
        let again = try Launcher.finalCheckpoint(resumed)
        XCTAssertEqual(again.globalStep, 24)
        XCTAssertEqual(again.parameters, final.parameters, "resumed run differs from the uninterrupted one")
        XCTAssertEqual(again.momentum, final.momentum)

        // The same checkpoint resumed with 2 ranks gives the same result within rounding.
        let resumed2 = Launcher.temporaryDirectory("resumed2")
        let r3 = try Launcher.train(ranks: 2, args + ["--out", resumed2, "--resume", full + "/checkpoints/step-00000008.dtck"])
        XCTAssertEqual(r3.status, 0, r3.stderr)
        XCTAssertLessThanOrEqual(Launcher.relativeDifference(final.parameters, try Launcher.finalCheckpoint(resumed2).parameters), 1e-5)

        // --resume auto in a finished run directory continues from its newest checkpoint: nothing left to do.
        let r4 = try Launcher.train(ranks: 1, args + ["--out", full, "--resume", "auto"])
        XCTAssertEqual(r4.status, 0, r4.stderr)
        XCTAssert(r4.stdout.contains("step-00000024.dtck"), r4.stdout)
        // metrics.jsonl holds one line per epoch.
        let lines = try String(contentsOfFile: full + "/metrics.jsonl", encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(lines.count, 3)
        for path in [full, resumed, resumed2] { try? FileManager.default.removeItem(atPath: path) }
    }

    func testResumeAutoWithoutCheckpointStartsFresh() throws {
        let dir = Launcher.temporaryDirectory("auto")
        let r = try Launcher.train(ranks: 1, args + ["--epochs", "1", "--out", dir, "--resume", "auto"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("starting fresh"), r.stdout)
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testResumeRefusesADifferentModel() throws {
        let dir = Launcher.temporaryDirectory("mismatch")
        let r = try Launcher.train(ranks: 1, args + ["--epochs", "1", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let ckpt = dir + "/checkpoints/step-00000008.dtck"
        let r2 = try Launcher.train(ranks: 1, args + ["--model", "cnn-small", "--out", dir + "/b", "--resume", ckpt])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssert(r2.stderr.contains("cannot resume") && r2.stderr.contains("model"), r2.stderr)
        let r3 = try Launcher.train(ranks: 1, args + ["--batch-size", "32", "--out", dir + "/c", "--resume", ckpt])
        XCTAssertNotEqual(r3.status, 0)
        XCTAssert(r3.stderr.contains("global batch size"), r3.stderr)
        // Another dataset: MNIST files have the same names and shapes, so only the checkpoint can tell.
        let r4 = try Launcher.train(ranks: 1, args + ["--dataset", "mnist", "--out", dir + "/d", "--resume", ckpt])
        XCTAssertNotEqual(r4.status, 0)
        XCTAssert(r4.stderr.contains("cannot resume from \(ckpt): dataset fashion-mnist ≠ mnist"), r4.stderr)
        for sub in ["b", "c", "d"] {
            XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/\(sub)/checkpoints/step-00000016.dtck"), "refused runs train nothing")
        }
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A checkpoint whose stored configuration no longer matches its config_digest (edited, with
    /// a fresh CRC) is refused with a message naming the file and the digest.
    func testResumeRefusesACheckpointWhoseConfigurationWasEdited() throws {
        let dir = Launcher.temporaryDirectory("digest")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Launcher.train(ranks: 1, args + ["--epochs", "1", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let path = dir + "/checkpoints/step-00000008.dtck"
        var ckpt = try Checkpoint.read(from: path)
        XCTAssertNotNil(ckpt.extra["config_digest"])
        let edited = ckpt.configJSON.replacingOccurrences(of: "\"seed\":5", with: "\"seed\":6")
        XCTAssertNotEqual(edited, ckpt.configJSON, ckpt.configJSON)
        ckpt.configJSON = edited
        let forged = dir + "/forged.dtck"
        try ckpt.write(to: forged)
        let r2 = try Launcher.train(ranks: 1, args + ["--out", dir + "/b", "--resume", forged])
        XCTAssertEqual(r2.status, 1, r2.stderr)
        XCTAssert(r2.stderr.contains("\(forged): checkpoint configuration does not match its config_digest"), r2.stderr)
    }

    /// `--keep-checkpoints 2` over 4 epochs: only the 2 newest step checkpoints remain, besides best.dtck.
    func testKeepCheckpointsKeepsTheNewestK() throws {
        let dir = Launcher.temporaryDirectory("keep")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let r = try Launcher.train(ranks: 1, args + ["--epochs", "4", "--keep-checkpoints", "2", "--out", dir])
        XCTAssertEqual(r.status, 0, r.stderr)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir + "/checkpoints").sorted()
        XCTAssertEqual(names, ["best.dtck", "step-00000024.dtck", "step-00000032.dtck"])
        for name in names { XCTAssertNoThrow(try Checkpoint.read(from: dir + "/checkpoints/" + name), name) }
    }

    /// A checkpoint written mid-epoch by 2 ranks (stopped by SIGUSR1) resumed on 1 and on 3 ranks
    /// ends within 1e-5 of the uninterrupted 2-rank run. The run is short (20 steps), so the
    /// drift from another float summation order (~2e-8 here) stays far below that.
    func testMidEpochCheckpointOfTwoRanksResumesOnOneAndThreeRanks() throws {
        let options = args.replacingOption("--train-samples", with: "1280").replacingOption("--epochs", with: "1")
            + ["--log-every", "1"]
        let full = Launcher.temporaryDirectory("nm-full")
        let stopped = Launcher.temporaryDirectory("nm-stopped")
        defer { for d in [full, stopped] { try? FileManager.default.removeItem(atPath: d) } }
        let r = try Launcher.train(ranks: 2, options + ["--out", full])
        XCTAssertEqual(r.status, 0, r.stderr)
        let reference = try Launcher.finalCheckpoint(full)
        XCTAssertEqual(reference.globalStep, 20)

        let run = try Launcher.start(ranks: 2, options + ["--out", stopped])
        XCTAssert(run.waitFor("step 5/20", timeout: 120), run.stdout + run.stderr)
        kill(run.process.processIdentifier, SIGUSR1)
        XCTAssertEqual(run.wait(timeout: 120), 75, run.stderr)
        let partial = try Launcher.finalCheckpoint(stopped)
        XCTAssertEqual(partial.extra["ranks"], "2")
        XCTAssertNotEqual(partial.stepInEpoch, 0, "a mid-epoch checkpoint (global step \(partial.globalStep))")
        let path = stopped + "/checkpoints/step-" + String(format: "%08d", partial.globalStep) + ".dtck"
        for ranks in [1, 3] {
            let out = Launcher.temporaryDirectory("nm-\(ranks)")
            defer { try? FileManager.default.removeItem(atPath: out) }
            let r2 = try Launcher.train(ranks: ranks, options + ["--out", out, "--resume", path])
            XCTAssertEqual(r2.status, 0, r2.stderr)
            XCTAssert(r2.stdout.contains("\(ranks) rank(s)") && r2.stdout.contains("global step \(partial.globalStep)"), r2.stdout)
            let resumed = try Launcher.finalCheckpoint(out)
            XCTAssertEqual(resumed.globalStep, 20)
            let diff = Launcher.relativeDifference(reference.parameters, resumed.parameters)
            print("2-rank checkpoint at global step \(partial.globalStep) resumed on \(ranks) rank(s): relative difference \(diff)")
            XCTAssertLessThanOrEqual(diff, 1e-5)
        }
    }
}
