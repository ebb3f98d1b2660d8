import Foundation
import XCTest

/// launch/slurm/*.sbatch end to end on a private single-node SLURM: the job completes and its
/// final parameters equal a single-process run of the same options.
final class SlurmJobTests: XCTestCase {
    nonisolated(unsafe) static var cluster: SlurmCluster?

    override func setUpWithError() throws {
        try Harness.requireClusterTools()
        if Self.cluster == nil { Self.cluster = try SlurmCluster.start() }
    }

    override class func tearDown() {
        cluster?.stop()
        cluster = nil
        super.tearDown()
    }

    /// Submits `script` with `ntasks` tasks, waits for the end, checks state, exit code and parameters.
    func runJob(_ script: String, ntasks: Int) throws {
        let cluster = try XCTUnwrap(Self.cluster)
        let options = Harness.trainOptions()
        let work = Harness.temporaryDirectory("job")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let out = work + "/out"
        let start = Date()
        let id = try cluster.submit(script, sbatchOptions: ["--ntasks=\(ntasks)"], trainOptions: options,
                                    workDirectory: work,
                                    environment: ["DIST_TRAIN_BIN": Harness.binary, "DIST_TRAIN_OUT": out])
        let log = "\(work)/slurm-\(id).out"
        guard let fields = try cluster.waitForEnd(id, timeout: 150) else {
            _ = try? cluster.client(["scancel", id])
            XCTFail("job \(id) did not end within 150 s\n\(Harness.tail(log))\n\(cluster.logs())")
            return
        }
        print("\(script), \(ntasks) tasks: job \(id) \(fields["JobState"] ?? "?") after "
              + String(format: "%.1f", Date().timeIntervalSince(start)) + " s (submit to end, polled)")
        XCTAssertEqual(fields["JobState"], "COMPLETED", "\(Harness.tail(log))\n\(cluster.logs())")
        XCTAssertEqual(fields["ExitCode"], "0:0", Harness.tail(log))
        guard fields["JobState"] == "COMPLETED" else { return }
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        XCTAssert(text.contains("\(ntasks) rank(s)"), "the trainer should report \(ntasks) ranks:\n\(text)")
        if ntasks > ProcessInfo.processInfo.activeProcessorCount {
            XCTAssert(text.contains("yield_when_idle=1"), "more tasks than cores: the script must set OMPI_MCA_mpi_yield_when_idle=1\n\(text)")
        }
        try Harness.assertMatchesSingleProcess(out, options, what: "\(script) with \(ntasks) tasks")
    }

    /// srun --mpi=pmix with 3 tasks on a 2-core node that advertises 8 CPUs (oversubscribed).
    func testSrunBatchJobMatchesSingleProcess() throws {
        try runJob("launch/slurm/train-srun.sbatch", ntasks: 3)
    }

    /// mpirun inside the allocation (orted started through srun), 2 tasks.
    func testMpirunBatchJobMatchesSingleProcess() throws {
        try runJob("launch/slurm/train-mpirun.sbatch", ntasks: 2)
    }

    /// SIGKILL rank 0 (found by its SLURM_PROCID) of a running srun job in epoch 2: the survivor
    /// is gone and the job has ended (non-zero, srun naming the killed task) within 30 s; the
    /// epoch-1 checkpoint is the newest and intact, and the job submitted again (same --out,
    /// `--resume auto`) ends with the parameters of an uninterrupted 2-rank run.
    func testKilledRankZeroUnderSrunEndsTheJobAndResumeReproduces() throws {
        let cluster = try XCTUnwrap(Self.cluster)
        let options = Harness.trainOptions(samples: 1200, batch: 60, epochs: 3, logEvery: 1)   // 20 steps per epoch
        let work = Harness.temporaryDirectory("killed")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let out = work + "/out"
        let env = ["DIST_TRAIN_BIN": Harness.binary, "DIST_TRAIN_OUT": out]
        let id = try cluster.submit("launch/slurm/train-srun.sbatch", sbatchOptions: ["--ntasks=2"], trainOptions: options,
                                    workDirectory: work, environment: env)
        let log = "\(work)/slurm-\(id).out"
        defer { _ = try? cluster.client(["scancel", id]) }
        // Wait for the second epoch, so that the first epoch's checkpoint exists.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("epoch 2/3  step 5/") {
            usleep(50_000)
        }
        let ranks = JobProcesses.ranks(out: out)
        guard ranks.count == 2, let victim = ranks[0], let survivor = ranks[1] else {
            return XCTFail("rank processes of job \(id) by SLURM_PROCID: \(ranks)\n\(Harness.tail(log))")
        }
        let killed = Date()
        kill(victim, SIGKILL)
        var survivorGone: Double?
        let ended = try cluster.wait(id, timeout: 60, poll: 0.1) { fields in
            if survivorGone == nil && JobProcesses.isGone(survivor) { survivorGone = Date().timeIntervalSince(killed) }
            return SlurmCluster.finalStates.contains(fields["JobState"] ?? "")
        }
        guard let fields = ended else { return XCTFail("job \(id) still running 60 s after rank 0 was killed\n\(Harness.tail(log))") }
        let seconds = Date().timeIntervalSince(killed)
        if survivorGone == nil && JobProcesses.isGone(survivor) { survivorGone = seconds }
        print("srun job \(id): rank 0 killed; rank 1 gone after " + (survivorGone.map { String(format: "%.1f", $0) } ?? "?")
              + " s; job \(fields["JobState"] ?? "?") \(fields["ExitCode"] ?? "?") after " + String(format: "%.1f", seconds) + " s")
        XCTAssertNotNil(survivorGone, "rank 1 (pid \(survivor)) outlived the job")
        XCTAssertLessThan(survivorGone ?? 99, 30)
        XCTAssertLessThan(seconds, 30)
        XCTAssertEqual(fields["JobState"], "FAILED", Harness.tail(log))
        XCTAssertNotEqual(fields["ExitCode"], "0:0", Harness.tail(log))
        let text = (try? String(contentsOfFile: log, encoding: .utf8)) ?? ""
        // srun names the dead task and the signal; the launcher's status is non-zero.
        XCTAssert(text.contains("task 0: Killed"), "srun should name the killed task:\n\(Harness.tail(log))")
        XCTAssertFalse(text.contains("launcher exited with status 0"), text)
        let ckpt = try Harness.finalCheckpoint(out)
        XCTAssertEqual(ckpt.globalStep, 20, "the epoch-1 checkpoint is the newest and reads back intact")

        // The same job again, as a user would resubmit it: it resumes from that checkpoint.
        let again = try cluster.submit("launch/slurm/train-srun.sbatch", sbatchOptions: ["--ntasks=2"], trainOptions: options,
                                       workDirectory: work, environment: env)
        guard let done = try cluster.waitForEnd(again, timeout: 150) else {
            _ = try? cluster.client(["scancel", again])
            return XCTFail("resubmitted job \(again) did not end\n\(Harness.tail("\(work)/slurm-\(again).out"))")
        }
        let log2 = (try? String(contentsOfFile: "\(work)/slurm-\(again).out", encoding: .utf8)) ?? ""
        XCTAssertEqual(done["JobState"], "COMPLETED", log2)
        XCTAssert(log2.contains("resumed from \(out)/checkpoints/step-00000020.dtck"), log2)
        try Harness.assertMatchesUninterrupted(out, options, ranks: 2, what: "srun job resumed after rank 0 was killed")
    }
}
