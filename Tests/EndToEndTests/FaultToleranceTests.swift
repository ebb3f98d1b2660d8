import DataIO
import Foundation
import XCTest

/// Real signals and injected non-finite values against real processes.
final class FaultToleranceTests: XCTestCase {
    /// Enough steps that a signal lands mid-epoch: 40 steps per epoch, 2 epochs.
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--train-samples", "2560",
                "--batch-size", "64", "--epochs", "2", "--eval-samples", "64", "--eval-pgd-steps", "2",
                "--seed", "9", "--threads", "1", "--log-every", "1"]

    func preemptAndResume(ranks: Int, signal: Int32) throws {
        let full = Launcher.temporaryDirectory("full")
        let r = try Launcher.train(ranks: ranks, args + ["--out", full])
        XCTAssertEqual(r.status, 0, r.stderr)
        let reference = try Launcher.finalCheckpoint(full)

        let dir = Launcher.temporaryDirectory("preempted")
        let run = try Launcher.start(ranks: ranks, args + ["--out", dir])
        XCTAssert(run.waitFor("step 5/40", timeout: 120), "no progress: \(run.stdout) \(run.stderr)")
        kill(run.process.processIdentifier, signal)
        let status = run.wait(timeout: 120)
        XCTAssertEqual(status, 75, "expected exit code 75 after the signal:\n\(run.stdout)\n\(run.stderr)")
        XCTAssert(run.stderr.contains("checkpoint"), run.stderr)
        let partial = try Launcher.finalCheckpoint(dir)
        XCTAssertLessThan(partial.globalStep, 80, "the signal should stop the run early")
        XCTAssertGreaterThan(partial.globalStep, 0)

        let r2 = try Launcher.train(ranks: ranks, args + ["--out", dir, "--resume", "auto"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        let resumed = try Launcher.finalCheckpoint(dir)
        XCTAssertEqual(resumed.globalStep, reference.globalStep)
        XCTAssertEqual(resumed.parameters, reference.parameters, "preempted + resumed run differs from the uninterrupted one")
        for d in [full, dir] { try? FileManager.default.removeItem(atPath: d) }
    }

    func testSIGTERMCheckpointsAndResumesExactly() throws {
        try preemptAndResume(ranks: 1, signal: SIGTERM)
    }

    func testSIGUSR1UnderMPIRunCheckpointsAndResumesExactly() throws {
        // mpirun forwards SIGUSR1 to every rank; the ranks agree at the next step boundary.
        try preemptAndResume(ranks: 2, signal: SIGUSR1)
    }

    func testNaNOnOneRankStopsEveryRankNamingIt() throws {
        let dir = Launcher.temporaryDirectory("nan")
        let run = try Launcher.start(ranks: 2, args + ["--out", dir], environment: ["DIST_TRAIN_INJECT_NAN": "1:45"])
        let status = run.wait(timeout: 180)
        XCTAssertEqual(status.map { $0 != 0 }, true, "expected a non-zero exit")
        XCTAssert(run.stderr.contains("global step 45") && run.stderr.contains("rank 1: gradients"), run.stderr)
        XCTAssertFalse(run.stderr.contains("rank 0: gradients"), run.stderr)
        // The epoch-1 checkpoint (step 40) is intact and nothing was written after.
        let ckpt = try Launcher.finalCheckpoint(dir)
        XCTAssertEqual(ckpt.globalStep, 40)
        XCTAssert(ckpt.parameters.allSatisfy(\.isFinite))
        try? FileManager.default.removeItem(atPath: dir)
    }

    func testNaNSkipStepPolicySkipsOnEveryRank() throws {
        let dir = Launcher.temporaryDirectory("skip")
        let run = try Launcher.start(ranks: 2, args + ["--out", dir, "--nan-policy", "skip-step"],
                                     environment: ["DIST_TRAIN_INJECT_NAN": "0:7"])
        XCTAssertEqual(run.wait(timeout: 180), 0, run.stderr)
        XCTAssert(run.stderr.contains("skipping this step"), run.stderr)
        let ckpt = try Launcher.finalCheckpoint(dir)
        XCTAssertEqual(ckpt.globalStep, 80)
        XCTAssert(ckpt.parameters.allSatisfy(\.isFinite))
        try? FileManager.default.removeItem(atPath: dir)
    }
}
