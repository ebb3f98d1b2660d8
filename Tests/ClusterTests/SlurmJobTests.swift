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

    /// SIGKILL one rank of a running srun job: the job ends (non-zero) within 30 s and the
    /// newest checkpoint is intact.
    func testKilledRankUnderSrunEndsTheJob() throws {
        let cluster = try XCTUnwrap(Self.cluster)
        let options = Harness.trainOptions(samples: 3000, batch: 60, epochs: 3, logEvery: 1)
        let work = Harness.temporaryDirectory("killed")
        defer { try? FileManager.default.removeItem(atPath: work) }
        let out = work + "/out"
        let id = try cluster.submit("launch/slurm/train-srun.sbatch", sbatchOptions: ["--ntasks=2"], trainOptions: options,
                                    workDirectory: work,
                                    environment: ["DIST_TRAIN_BIN": Harness.binary, "DIST_TRAIN_OUT": out])
        let log = "\(work)/slurm-\(id).out"
        // Wait for the second epoch, so that the first epoch's checkpoint exists.
        let deadline = Date().addingTimeInterval(120)
        while Date() < deadline && !((try? String(contentsOfFile: log, encoding: .utf8)) ?? "").contains("epoch 2/3  step 10/") {
            usleep(100_000)
        }
        let ranks = try Harness.run(["ps", "-eo", "pid=,comm=,args="], limit: 10).stdout.split(separator: "\n")
            .filter { $0.contains(" dist-train ") && $0.contains("--out \(out)") }
            .compactMap { Int32($0.split(separator: " ").first ?? "") }
        XCTAssertEqual(ranks.count, 2, "rank processes of job \(id): \(ranks)\n\(Harness.tail(log))")
        guard let victim = ranks.last else { _ = try? cluster.client(["scancel", id]); return }
        let killed = Date()
        kill(victim, SIGKILL)
        guard let fields = try cluster.waitForEnd(id, timeout: 60) else {
            _ = try? cluster.client(["scancel", id])
            return XCTFail("job \(id) still running 60 s after a rank was killed\n\(Harness.tail(log))")
        }
        let seconds = Date().timeIntervalSince(killed)
        print("srun job \(id): rank killed, job \(fields["JobState"] ?? "?") \(fields["ExitCode"] ?? "?") after "
              + String(format: "%.1f", seconds) + " s")
        XCTAssertLessThan(seconds, 30)
        XCTAssertNotEqual(fields["ExitCode"], "0:0", Harness.tail(log))
        let ckpt = try Harness.finalCheckpoint(out)
        XCTAssertEqual(ckpt.epoch, 1, "the epoch-1 checkpoint is the newest and reads back intact")
    }
}
