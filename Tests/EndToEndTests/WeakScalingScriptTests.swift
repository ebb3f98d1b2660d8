import Foundation
import XCTest

/// launch/weak-scaling.sh end to end on a tiny configuration: the 1-rank / N-rank / 1-rank runs
/// land in its result files and the table has a row with an efficiency, an allreduce bound, a
/// sync bound, the ranks' speed against one rank alone, the machine bound (independent ranks) and
/// the paired efficiency (`bench --paired-single`).
final class WeakScalingScriptTests: XCTestCase {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("launch/weak-scaling.sh").path

    func testOneRoundOfOneRow() throws {
        guard Launcher.mpirun != nil else { throw XCTSkip("mpirun not found: install openmpi-bin (launch/install-deps.sh)") }
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("weak-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: dir) }
        let r = try Launcher.run("/bin/bash", [Self.script, "--ranks", "2", "--models", "mlp", "--modes", "plain",
                                               "--rounds", "1", "--repeats", "1", "--seconds", "0.01", "--out", dir.path],
                                 environment: ["DIST_TRAIN_BIN": Launcher.binary, "OMPI_ALLOW_RUN_AS_ROOT": "1",
                                               "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM": "1", "OMPI_MCA_mpi_yield_when_idle": "1"],
                                 unset: ["OMPI_MCA_btl_vader_single_copy_mechanism", "OMPI_MCA_btl_vader_max_send_size"], timeout: 240)
        XCTAssertEqual(r.status, 0, r.stderr)
        func rows(_ name: String) throws -> [[String: Any]] {
            try String(contentsOf: dir.appendingPathComponent(name), encoding: .utf8).split(separator: "\n").map {
                try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
            }
        }
        let one = try rows("np1.jsonl"), two = try rows("np2.jsonl"), alone = try rows("np2-independent.jsonl")
        XCTAssertEqual(one.map { $0["ranks"] as? Int }, [1, 1], "1-rank runs before and after")
        XCTAssertEqual(two.map { $0["ranks"] as? Int }, [2])
        XCTAssertEqual(two.first?["batch"] as? Int, 256, "128 samples per rank")
        XCTAssertEqual(alone.map { $0["ranks"] as? Int }, [2])
        XCTAssertEqual(alone.first?["independent"] as? Bool, true)
        XCTAssertEqual(two.first?["independent"] as? Bool, false)
        // Left unset by the caller, every rank turns CMA single copy off and raises the fragment size
        // before MPI_Init.
        XCTAssertEqual(two.first?["mpi_single_copy"] as? String, "none")
        XCTAssertEqual(two.first?["mpi_max_send_size"] as? String, "262144")
        XCTAssertEqual(one.first?["mpi_max_send_size"] as? String, "default")
        XCTAssertEqual(one.first?["mpi_single_copy"] as? String, "default", "no MPI at 1 rank")
        let row = try XCTUnwrap(r.stdout.split(separator: "\n").first { $0.hasPrefix("| mlp | plain |") }, r.stdout)
        let cells = row.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
        XCTAssertEqual(cells.count, 15, row.description)
        for i in [4, 6, 8, 9, 10, 11, 12, 13] { XCTAssert(cells[i].hasSuffix("%") && Double(cells[i].dropLast()) != nil, "cell \(i) of \(row)") }
        // The ranks' compute per step: the mean over ranks cannot exceed the slowest rank's.
        let mean = try XCTUnwrap(two.first?["compute_mean_s"] as? Double), slowest = try XCTUnwrap(two.first?["compute_slowest_s"] as? Double)
        XCTAssertGreaterThan(mean, 0)
        XCTAssertLessThanOrEqual(mean, slowest * (1 + 1e-12))
        // --paired-single: one pair (one block), so its efficiency is its min and max; the
        // one-rank block trained 128 samples per step.
        let paired = try XCTUnwrap(two.first?["paired_efficiency"] as? Double)
        XCTAssertGreaterThan(paired, 0)
        XCTAssertEqual(two.first?["paired_efficiency_min"] as? Double, paired)
        XCTAssertEqual(two.first?["paired_efficiency_max"] as? Double, paired)
        let single = try XCTUnwrap(two.first?["paired_single_samples_per_s"] as? Double)
        let many = try XCTUnwrap(two.first?["samples_per_s"] as? Double)
        XCTAssertEqual(paired, many / (2 * single), accuracy: 1e-9 * paired)
        XCTAssertNil(alone.first?["paired_efficiency"], "independent runs are not paired")
    }
}
