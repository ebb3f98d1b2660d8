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
        try? FileManager.default.removeItem(atPath: dir)
    }
}
