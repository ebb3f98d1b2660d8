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
}
