import DataIO
import Foundation
import XCTest

/// Real signals and injected non-finite values against real processes.
final class FaultToleranceTests: XCTestCase {
    /// Enough steps that a signal lands mid-epoch: 40 steps per epoch, 2 epochs.
    let args = ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--train-samples", "2560",
                "--batch-size", "64", "--epochs", "2", "--eval-samples", "64", "--eval-pgd-steps", "2",
                "--seed", "9", "--threads", "1", "--log-every", "1"]

    /// Uninterrupted runs of `args`, by rank count: several tests compare with them.
    nonisolated(unsafe) private static var references: [Int: (checkpoint: Checkpoint, epochs: [[String: Any]])] = [:]
    private static let referenceLock = NSLock()

    /// The final checkpoint and the epoch lines of metrics.jsonl.
    func reference(ranks: Int) throws -> (checkpoint: Checkpoint, epochs: [[String: Any]]) {
        Self.referenceLock.lock()
        defer { Self.referenceLock.unlock() }
        if let c = Self.references[ranks] { return c }
        let full = Launcher.temporaryDirectory("full")
        defer { try? FileManager.default.removeItem(atPath: full) }
        let r = try Launcher.train(ranks: ranks, args + ["--out", full])
        XCTAssertEqual(r.status, 0, r.stderr)
        let c = (try Launcher.finalCheckpoint(full), try Self.epochLines(full))
        Self.references[ranks] = c
        return c
    }

    static func epochLines(_ dir: String) throws -> [[String: Any]] {
        try String(contentsOfFile: dir + "/metrics.jsonl", encoding: .utf8).split(separator: "\n").map {
            try JSONSerialization.jsonObject(with: Data($0.utf8)) as! [String: Any]
        }.filter { $0["interval"] as? Bool != true && $0["train"] != nil }
    }

    enum Target { case launcher, rank(Int) }

    /// Sends `signal` mid-epoch to the launcher (mpirun forwards it to every rank) or to one rank
    /// only; every rank stops after the same step, rank 0 checkpoints, all exit 75 by themselves,
    /// and `--resume auto` on as many ranks ends bit-identical to the uninterrupted run.
    func preemptAndResume(ranks: Int, signal: Int32, to target: Target = .launcher) throws {
        let (reference, referenceEpochs) = try reference(ranks: ranks)
        let name = [SIGTERM: "SIGTERM", SIGINT: "SIGINT", SIGUSR1: "SIGUSR1"][signal] ?? "?"
        let dir = Launcher.temporaryDirectory("preempted")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Launcher.start(ranks: ranks, args + ["--out", dir])
        XCTAssert(run.waitFor("step 5/40", timeout: 120), "no progress: \(run.stdout) \(run.stderr)")
        let launcher = run.process.processIdentifier
        let pids = ranks == 1 ? [0: launcher] : RankProcesses.ranks(under: launcher)
        XCTAssertEqual(pids.count, ranks, "rank processes (by OMPI_COMM_WORLD_RANK): \(pids)")
        var victim = launcher
        if case .rank(let r) = target {
            guard let pid = pids[r] else { _ = run.wait(timeout: 120); return XCTFail("no process for rank \(r): \(pids)") }
            victim = pid
        }
        kill(victim, signal)
        let status = run.wait(timeout: 120)
        XCTAssertEqual(status, 75, "expected exit code 75 after the signal:\n\(run.stdout)\n\(run.stderr)")
        let err = run.stderr
        XCTAssert(err.contains("checkpoint"), err)
        XCTAssertFalse(err.contains("exited on signal"), "every rank should end by itself:\n\(err)")
        for (r, pid) in pids { XCTAssert(RankProcesses.isGone(pid), "rank \(r) (pid \(pid)) is still running") }
        if case .rank(let r) = target {
            // Only that rank got the signal, and said so; rank 0 stopped because of the flag in the allreduce.
            // (mpirun may still SIGTERM a peer that is finishing after the first rank's exit 75.)
            XCTAssert(err.contains("dist-train (rank \(r)): got \(name)"), err)
            XCTAssert(err.contains(r == 0 ? "stopped on \(name)" : "stopped on a signal to another rank"), err)
        } else {
            XCTAssert(err.contains("stopped on \(name)"), err)
        }
        let partial = try Launcher.finalCheckpoint(dir)
        XCTAssertLessThan(partial.globalStep, 80, "the signal should stop the run early")
        XCTAssertGreaterThan(partial.globalStep, 5)
        XCTAssertNotEqual(partial.stepInEpoch, 0, "a checkpoint written mid-epoch")

        let r2 = try Launcher.train(ranks: ranks, args + ["--out", dir, "--resume", "auto"])
        XCTAssertEqual(r2.status, 0, r2.stderr)
        XCTAssert(r2.stdout.contains("global step \(partial.globalStep)"), r2.stdout)
        let resumed = try Launcher.finalCheckpoint(dir)
        XCTAssertEqual(resumed.globalStep, reference.globalStep)
        XCTAssertEqual(resumed.parameters, reference.parameters, "preempted + resumed run differs from the uninterrupted one")
        // The interrupted epoch's statistics cover the whole epoch: the checkpoint carried the
        // part before the stop. Equal up to the order of the double-precision sums.
        let epochs = try Self.epochLines(dir)
        XCTAssertEqual(epochs.count, referenceEpochs.count)
        for (line, ref) in zip(epochs, referenceEpochs) {
            let t = line["train"] as! [String: Any], u = ref["train"] as! [String: Any]
            XCTAssertEqual(t["samples"] as? Double, u["samples"] as? Double, "epoch \(line["epoch"]!) samples")
            for key in ["loss", "clean_acc", "adv_acc", "aae_count", "E_x", "E_xadv", "E_xy", "E_xadv_y", "norm_dE", "der"] {
                let x = t[key] as! Double, y = u[key] as! Double
                XCTAssertEqual(x, y, accuracy: 1e-9 * max(1, abs(y)), "epoch \(line["epoch"]!) \(key)")
            }
        }
    }

    /// A SIGUSR1 that arrives while the process is still starting (here: held 3 s before argument
    /// parsing by the test hook) is noted and acted on at the first step boundary, instead of
    /// ending the process with 138 and nothing written.
    func testSIGUSR1WhileStartingStopsAtTheFirstStepWithACheckpoint() throws {
        let dir = Launcher.temporaryDirectory("early-signal")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Launcher.start(ranks: 1, args + ["--out", dir], environment: ["DIST_TRAIN_TEST_START_DELAY": "3"])
        Thread.sleep(forTimeInterval: 1)
        kill(run.process.processIdentifier, SIGUSR1)
        let status = run.wait(timeout: 120)
        XCTAssertEqual(status, 75, "expected exit code 75:\n\(run.stdout)\n\(run.stderr)")
        XCTAssert(run.stderr.contains("got SIGUSR1 while starting"), run.stderr)
        let checkpoint = try Launcher.finalCheckpoint(dir)
        XCTAssertEqual(checkpoint.globalStep, 1, "stopped at the first step boundary")
    }

    func testSIGTERMCheckpointsAndResumesExactly() throws {
        try preemptAndResume(ranks: 1, signal: SIGTERM)
    }

    func testSIGINTCheckpointsAndResumesExactly() throws {
        try preemptAndResume(ranks: 1, signal: SIGINT)
    }

    func testSIGUSR1UnderMPIRunCheckpointsAndResumesExactly() throws {
        // mpirun forwards SIGUSR1 to every rank; the ranks agree at the next step boundary.
        try preemptAndResume(ranks: 2, signal: SIGUSR1)
    }

    /// SIGTERM to rank 1 alone (found by its OMPI_COMM_WORLD_RANK): its stop flag reaches rank 0
    /// in the gradient allreduce, so both stop after the same step.
    func testSIGTERMToOneRankStopsEveryRank() throws {
        try preemptAndResume(ranks: 2, signal: SIGTERM, to: .rank(1))
    }

    /// A NaN loss on one rank of three: all three stop at that step, and the message names the
    /// step, that rank alone and the quantity.
    func testNaNLossOnOneOfThreeRanksStopsEveryRankNamingIt() throws {
        let dir = Launcher.temporaryDirectory("nan-loss")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let short = args.replacingOption("--train-samples", with: "640").replacingOption("--epochs", with: "1")
        let run = try Launcher.start(ranks: 3, short + ["--out", dir], environment: ["DIST_TRAIN_INJECT_NAN": "1:7:loss"])
        let status = run.wait(timeout: 180)
        XCTAssertEqual(status, 1, run.stderr)
        let err = run.stderr
        XCTAssert(err.contains("non-finite values at global step 7 (epoch 1): rank 1: loss;"), err)
        XCTAssertFalse(err.contains("rank 0: ") || err.contains("rank 2: "), err)
        XCTAssertFalse(err.contains("exited on signal"), "every rank should end by itself:\n\(err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoints/step-00000007.dtck"))
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

    /// A NaN in one rank's parameters (as a fault on that rank alone would leave them) stops
    /// every rank at that step, naming the rank and "parameters", even under skip-step (skipping
    /// cannot repair them); the checkpoints already in the run directory stay byte for byte
    /// as they were, and none is added.
    func testNaNParametersOnOneRankStopLeavingCheckpointsUntouched() throws {
        let dir = Launcher.temporaryDirectory("nan-params")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let short = args.replacingOption("--train-samples", with: "640")   // 10 steps per epoch
        // Epoch 1 alone writes step-10 (and best.dtck); the run resumed for epoch 2 meets the NaN at step 13.
        let first = try Launcher.train(ranks: 2, short.replacingOption("--epochs", with: "1") + ["--out", dir])
        XCTAssertEqual(first.status, 0, first.stderr)
        let ckdir = dir + "/checkpoints"
        func snapshot() throws -> [String: Data] {
            var files: [String: Data] = [:]
            for name in try FileManager.default.contentsOfDirectory(atPath: ckdir) {
                files[name] = try Data(contentsOf: URL(fileURLWithPath: ckdir + "/" + name))
            }
            return files
        }
        let before = try snapshot()
        XCTAssertNotNil(before["step-00000010.dtck"], "\(before.keys.sorted())")
        let run = try Launcher.start(ranks: 2, short + ["--out", dir, "--resume", "auto", "--nan-policy", "skip-step"],
                                     environment: ["DIST_TRAIN_INJECT_NAN": "1:13:parameters"])
        XCTAssertEqual(run.wait(timeout: 180), 1, run.stderr)
        let err = run.stderr
        XCTAssert(err.contains("non-finite values at global step 13 (epoch 2): rank 1: parameters"), err)
        XCTAssert(err.contains("cannot be repaired by skipping"), err)
        XCTAssertFalse(err.contains("rank 0: "), err)
        XCTAssertFalse(err.contains("every rank"), err)
        let after = try snapshot()
        XCTAssertEqual(after.keys.sorted(), before.keys.sorted(), "no checkpoint added or removed")
        for (name, bytes) in before { XCTAssert(after[name] == bytes, "\(name) changed") }
    }

    /// skip-step: whichever rank sees the NaN, every rank skips that same step. Each rank logs its
    /// skip, and a NaN on rank 0 or on rank 1 at step 7 ends in bit-identical parameters: the
    /// same update was dropped on every rank (had one rank applied it, the ranks' parameters
    /// would have drifted apart and the runs would differ).
    func testNaNSkipStepPolicySkipsOnEveryRank() throws {
        var finals: [Checkpoint] = []
        for fault in ["0:7", "1:7"] {
            let dir = Launcher.temporaryDirectory("skip")
            defer { try? FileManager.default.removeItem(atPath: dir) }
            let short = args.replacingOption("--train-samples", with: "640").replacingOption("--epochs", with: "1")
            let run = try Launcher.start(ranks: 2, short + ["--out", dir, "--nan-policy", "skip-step"],
                                         environment: ["DIST_TRAIN_INJECT_NAN": fault])
            XCTAssertEqual(run.wait(timeout: 180), 0, run.stderr)
            let err = run.stderr
            XCTAssert(err.contains("warning: non-finite values at global step 7 (epoch 1): rank \(fault.prefix(1)): gradients; "
                                   + "skipping this step on every rank"), err)
            XCTAssert(err.contains("dist-train (rank 1): skipping global step 7 "), err)
            XCTAssertEqual(err.components(separatedBy: "skipping").count - 1, 2, "one skip per rank, once:\n\(err)")
            let ckpt = try Launcher.finalCheckpoint(dir)
            XCTAssertEqual(ckpt.globalStep, 10)
            XCTAssert(ckpt.parameters.allSatisfy(\.isFinite))
            finals.append(ckpt)
        }
        guard finals.count == 2 else { return }
        XCTAssertEqual(finals[0].parameters, finals[1].parameters, "the same step skipped on every rank either way")
    }
}

/// The signals dist-train turns into a stop request (StopSignals.signals).
enum StopSignalsList { static let all: [Int32] = [SIGTERM, SIGINT, SIGUSR1] }

extension [String] {
    /// These options with the value after `name` replaced.
    func replacingOption(_ name: String, with value: String) -> [String] {
        var out = self
        if let i = out.firstIndex(of: name), i + 1 < out.count { out[i + 1] = value }
        return out
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

    /// SIGKILL one rank mid-epoch 2 under mpirun: the job ends non-zero within 30 s, mpirun names
    /// the rank and the signal, no rank survives, the epoch-1 checkpoint is intact, and resuming
    /// from it reproduces the uninterrupted run.
    func killRank(_ victim: Int) throws {
        let full = Launcher.temporaryDirectory("dead-full")
        XCTAssertEqual(try Launcher.train(ranks: 2, args + ["--out", full]).status, 0)
        let reference = try Launcher.finalCheckpoint(full)

        let dir = Launcher.temporaryDirectory("dead")
        let run = try Launcher.start(ranks: 2, args + ["--out", dir])
        XCTAssert(run.waitFor("epoch 2/3  step 5/20", timeout: 120), run.stdout + run.stderr)
        // The rank processes, by the rank mpirun gave each (OMPI_COMM_WORLD_RANK in their environment).
        let pids = RankProcesses.ranks(under: run.process.processIdentifier)
        guard pids.count == 2, let target = pids[victim] else {
            _ = run.wait(timeout: 60); return XCTFail("rank processes: \(pids)")
        }
        let killed = Date()
        kill(target, SIGKILL)
        let status = run.wait(timeout: 60)
        let seconds = Date().timeIntervalSince(killed)
        print("rank \(victim) killed: job ended with \(String(describing: status)) after \(String(format: "%.2f", seconds)) s")
        XCTAssertNotNil(status, "the job did not end within 60 s of the SIGKILL")
        XCTAssertNotEqual(status, 0)
        XCTAssertLessThan(seconds, 30)
        // The survivor is gone too (mpirun SIGKILLs it after its SIGTERM found it blocked in the allreduce).
        let survivor = pids[1 - victim]!
        while !RankProcesses.isGone(survivor) && Date().timeIntervalSince(killed) < 30 { usleep(20_000) }
        let survivorSeconds = Date().timeIntervalSince(killed)
        print("rank \(1 - victim) gone \(String(format: "%.2f", survivorSeconds)) s after the SIGKILL")
        XCTAssert(RankProcesses.isGone(survivor), "rank \(1 - victim) (pid \(survivor)) outlived its peer by 30 s")
        // mpirun names the dead rank and how it died.
        XCTAssert(run.stderr.contains("process rank \(victim) with PID") && run.stderr.contains("exited on signal 9 (Killed)"),
                  run.stderr)
        XCTAssertEqual(try Launcher.finalCheckpoint(dir).globalStep, 20, "the epoch-1 checkpoint is the newest")

        let r = try Launcher.train(ranks: 2, args + ["--out", dir, "--resume", "auto"])
        XCTAssertEqual(r.status, 0, r.stderr)
        XCTAssert(r.stdout.contains("resumed from \(dir)/checkpoints/step-00000020.dtck"), r.stdout)
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

    /// A rank asked to stop while its peer hangs (SIGSTOP) cannot reach the step boundary its
    /// signal message promised: after `WatchedCommunicator.stopNotice` it says so (no checkpoint
    /// for this stop, the newest one intact), then the watchdog ends it.
    func testStopRequestWhileAPeerHangsIsExplained() throws {
        let dir = Launcher.temporaryDirectory("hang-stop")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let run = try Launcher.start(ranks: 2, args + ["--out", dir, "--collective-timeout", "4"])
        XCTAssert(run.waitFor("epoch 1/3  step 5/20", timeout: 120), run.stdout + run.stderr)
        let pids = RankProcesses.ranks(under: run.process.processIdentifier)
        guard pids.count == 2, let hung = pids[1], let asked = pids[0] else {
            _ = run.wait(timeout: 60); return XCTFail("rank processes: \(pids)")
        }
        kill(hung, SIGSTOP)
        usleep(200_000)
        kill(asked, SIGTERM)
        let status = run.wait(timeout: 60)
        kill(hung, SIGKILL)
        XCTAssertNotNil(status, "the job did not end within 60 s")
        XCTAssertNotEqual(status, 0)
        let err = run.stderr
        XCTAssert(err.contains("dist-train (rank 0): got SIGTERM"), err)
        XCTAssert(err.contains("dist-train (rank 0): MPI_") && err.contains("still waiting 1.0 s after the stop request")
                  && err.contains("no checkpoint is written for this stop; the newest one on disk is intact"), err)
        XCTAssert(err.contains("did not complete within 4 s after a stop was requested"), err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoints/step-00000006.dtck"), "no checkpoint")
    }

    /// A second signal ends the process at once, without waiting for a step boundary.
    func testSecondSignalExitsAtOnce() throws {
        let dir = Launcher.temporaryDirectory("twice")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // Both signals arrive while the training set is read or during the first step (a global
        // batch of 20000 keeps the first step boundary seconds away).
        let run = try Launcher.start(ranks: 1, ["--data-dir", Launcher.dataDirectory, "--model", "mlp", "--out", dir,
                                                "--train-samples", "20000", "--batch-size", "20000", "--threads", "1"])
        let pid = run.process.processIdentifier
        // The first SIGINT once the process catches it (SigCgt in /proc/PID/status: from the
        // first line of main on, so the first may be noted "while starting"), the second once
        // it has reported the first.
        XCTAssert(RankProcesses.waitUntilCatching(pid, StopSignalsList.all, timeout: 60), "no signal handlers: \(run.stderr)")
        kill(pid, SIGINT)
        XCTAssert(run.waitForError("got SIGINT", timeout: 60), run.stderr)
        kill(pid, SIGINT)
        XCTAssertEqual(run.wait(timeout: 60), 128 + SIGINT, run.stderr)
        XCTAssert(run.stderr.contains("second signal"), run.stderr)
        XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/checkpoints/step-00000001.dtck"), "no checkpoint")
    }

    func testKilledRankOneEndsTheJobAndResumeReproduces() throws { try killRank(1) }
}
