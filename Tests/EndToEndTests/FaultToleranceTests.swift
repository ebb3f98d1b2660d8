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

/// Damaged checkpoints and dead ranks.
final class CheckpointAndDeadRankTests: XCTestCase {
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--train-samples", "1280",
                "--batch-size", "64", "--epochs", "3", "--eval-samples", "64", "--eval-pgd-steps", "2",
                "--seed", "13", "--threads", "1", "--log-every", "1"]

    func testCorruptNewestCheckpointIsSkippedForThePreviousOne() throws {
        let full = Launcher.temporaryDirectory("ck-full")
        XCTAssertEqual(try Launcher.train(ranks: 1, args + ["--out", full]).status, 0)
        let reference = try Launcher.finalCheckpoint(full)

        // Keep epochs 1 and 2, then damage epoch 2's checkpoint: one flipped byte in the payload.
        let dir = Launcher.temporaryDirectory("ck-damaged")
        try FileManager.default.createDirectory(atPath: dir + "/checkpoints", withIntermediateDirectories: true)
        for name in ["step-00000020.dtck", "step-00000040.dtck"] {
            try FileManager.default.copyItem(atPath: full + "/checkpoints/" + name, toPath: dir + "/checkpoints/" + name)
        }
        let damaged = dir + "/checkpoints/step-00000040.dtck"
        var bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: damaged)))
        bytes[bytes.count / 2] ^= 0x40
        try Data(bytes).write(to: URL(fileURLWithPath: damaged))

        let r = try Launcher.train(ranks: 1, args + ["--out", dir, "--resume", "auto"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stderr.contains("skipping checkpoint") && r.stderr.contains("step-00000040.dtck"), r.stderr)
        XCTAssert(r.stdout.contains("resumed from \(dir)/checkpoints/step-00000020.dtck"), r.stdout)
        XCTAssertEqual(try Launcher.finalCheckpoint(dir).parameters, reference.parameters)

        // A truncated checkpoint given explicitly is an error naming it.
        let truncated = dir + "/truncated.dtck"
        try Data(bytes.prefix(100)).write(to: URL(fileURLWithPath: truncated))
        let r2 = try Launcher.train(ranks: 1, args + ["--out", dir + "/x", "--resume", truncated])
        XCTAssertNotEqual(r2.status, 0)
        XCTAssert(r2.stderr.contains(truncated), r2.stderr)
        for d in [full, dir] { try? FileManager.default.removeItem(atPath: d) }
    }

    /// SIGKILL one rank mid-epoch 2 under mpirun: the job ends non-zero within 30 s, the
    /// epoch-1 checkpoint is intact, and resuming from it reproduces the uninterrupted run.
    func killRank(_ victim: Int) throws {
        let full = Launcher.temporaryDirectory("dead-full")
        XCTAssertEqual(try Launcher.train(ranks: 2, args + ["--out", full]).status, 0)
        let reference = try Launcher.finalCheckpoint(full)

        let dir = Launcher.temporaryDirectory("dead")
        let run = try Launcher.start(ranks: 2, args + ["--out", dir])
        XCTAssert(run.waitFor("epoch 2/3  step 5/20", timeout: 120), run.stdout + run.stderr)
        // mpirun starts the local ranks as its children, in rank order.
        let children = try Launcher.run("/usr/bin/pgrep", ["-P", String(run.process.processIdentifier)]).stdout
            .split(separator: "\n").compactMap { Int32($0) }.sorted()
        XCTAssertEqual(children.count, 2, "rank processes: \(children)")
        guard children.count == 2 else { _ = run.wait(timeout: 60); return }
        let killed = Date()
        kill(children[victim], SIGKILL)
        let status = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(killed)
        print("rank \(victim) killed: job ended with \(String(describing: status)) after \(String(format: "%.2f", seconds)) s")
        XCTAssertNotNil(status, "the job did not end within 60 s of the SIGKILL")
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 30)
        XCTAssertEqual(try Launcher.finalCheckpoint(dir).globalStep, 20, "the epoch-1 checkpoint is the newest")

        let r = try Launcher.train(ranks: 2, args + ["--out", dir, "--resume", "auto"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssertLessThanOrEqual(Launcher.relativeDifference(reference.parameters, try Launcher.finalCheckpoint(dir).parameters), 1e-6)
        for d in [full, dir] { try? FileManager.default.removeItem(atPath: d) }
    }

    func testKilledRankZeroEndsTheJobAndResumeReproduces() throws { try killRank(0) }

    /// A rank that hangs (SIGSTOP) leaves its peer blocked in the allreduce: the collective
    /// watchdog ends the peer after --collective-timeout, naming the collective, and the job ends.
    func testWatchdogEndsARankBlockedInACollective() throws {
        let dir = Launcher.temporaryDirectory("hang")
        let run = try Launcher.start(ranks: 2, args + ["--out", dir, "--collective-timeout", "4"])
        XCTAssert(run.waitFor("epoch 1/3  step 5/20", timeout: 120), run.stdout + run.stderr)
        let children = try Launcher.run("/usr/bin/pgrep", ["-P", String(run.process.processIdentifier)]).stdout
            .split(separator: "\n").compactMap { Int32($0) }.sorted()
        guard children.count == 2 else { _ = run.wait(timeout: 60); return XCTFail("rank processes: \(children)") }
        let stopped = Date()
        kill(children[1], SIGSTOP)
        let status = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(stopped)
        print("rank 1 stopped: job ended with \(String(describing: status)) after \(String(format: "%.1f", seconds)) s")
        kill(children[1], SIGKILL)
        XCTAssertNotNil(status, "the job did not end within 60 s")
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 30)
        XCTAssert(run.stderr.contains("rank 0") && run.stderr.contains("did not complete within 4 s"), run.stderr)
        try? FileManager.default.removeItem(atPath: dir)
    }

    /// A second signal ends the process at once, without waiting for a step boundary.
    func testSecondSignalExitsAtOnce() throws {
        let dir = Launcher.temporaryDirectory("twice")
        // Signals arrive while the whole training set is still being read, long before a step.
        let run = try Launcher.start(ranks: 1, ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--out", dir])
        usleep(300_000)
        kill(run.process.processIdentifier, SIGINT)
        usleep(50_000)
        kill(run.process.processIdentifier, SIGINT)
        XCTAssertEqual(run.wait(timeout: 60), 128 + SIGINT, run.stderr)
        XCTAssert(run.stderr.contains("second signal"), run.stderr)
        try? FileManager.default.removeItem(atPath: dir)
    }
    func testKilledRankOneEndsTheJobAndResumeReproduces() throws { try killRank(1) }
}
