import Foundation
import XCTest

/// `dist-train bench --json`: one row per model and mode with the fields the comparison scripts
/// read, phases that add up, the attack's share split into its forward and backward passes, and
/// the sgemm check of the step's shapes. (Speed itself is never asserted: see docs/performance.md.)
final class BenchCommandTests: XCTestCase {
    func testRowsCarryPhasesAndTheAttackSplit() throws {
        let out = try Launcher.benchRows(["--models", "mlp,cnn-small", "--modes", "plain,fgsm-rs-der"])
        XCTAssertEqual(out.map { "\($0["model"]!) \($0["mode"]!)" },
                       ["mlp plain", "mlp fgsm-rs-der", "cnn-small plain", "cnn-small fgsm-rs-der"])
        for row in out {
            let what = "\(row["model"]!) \(row["mode"]!)"
            XCTAssertGreaterThan(row["samples_per_s"] as? Double ?? 0, 0, what)
            XCTAssertLessThan(try XCTUnwrap(row["sgemm_check_error"] as? Double, what), 1e-5, what)
            // One rank: it is its own slowest rank; its compute is part of its step time.
            let mean = try XCTUnwrap(row["compute_mean_s"] as? Double, what), slowest = try XCTUnwrap(row["compute_slowest_s"] as? Double, what)
            XCTAssertEqual(mean, slowest, accuracy: 1e-12, what)
            XCTAssertGreaterThan(mean, 0, what)
            let batch = try XCTUnwrap(row["batch"] as? Int, what), slowestBlock = try XCTUnwrap(row["samples_per_s_min"] as? Double, what)
            XCTAssertLessThanOrEqual(mean, Double(batch) / slowestBlock, what)
            // The step bound: the mlp's GEMMs at their replayed rate plus the update alone, so below
            // that rate; none for cnn-small, some of whose FLOPs go through the direct kernels.
            let bound = try XCTUnwrap(row["step_bound_gflops"] as? Double, what)
            let shapes = try XCTUnwrap(row["sgemm_shapes_gflops"] as? Double, what)
            XCTAssertGreaterThan(try XCTUnwrap(row["update_alone_s"] as? Double, what), 0, what)
            if row["model"] as? String == "mlp" {
                XCTAssertGreaterThan(bound, 0, what)
                XCTAssertLessThan(bound, shapes, what)
                let gflops = try XCTUnwrap(row["gflops"] as? Double, what)
                XCTAssertEqual(try XCTUnwrap(row["fraction_of_step_bound"] as? Double, what), gflops / bound, accuracy: 1e-9, what)
            } else {
                XCTAssertLessThan(try XCTUnwrap(row["sgemm_flop_share"] as? Double, what), 0.999, what)
                XCTAssertEqual(bound, 0, what)
            }
            let phases = try XCTUnwrap(row["phases"] as? [String: Double], what)
            let whole = ["attack", "forward", "objective", "backward", "allreduce", "optimizer"]
            XCTAssertEqual(whole.reduce(0) { $0 + (phases[$1] ?? .nan) }, 1, accuracy: 1e-6, "\(what): \(phases)")
            let attack = try XCTUnwrap(phases["attack"]), f = try XCTUnwrap(phases["attack_forward"]),
                b = try XCTUnwrap(phases["attack_backward"])
            if row["mode"] as? String == "plain" {
                XCTAssertEqual(attack, 0, what)
                XCTAssertEqual(f + b, 0, what)
            } else {
                // FGSM-RS: one forward and one input-gradient backward per step, inside the attack.
                XCTAssertGreaterThan(f, 0, what)
                XCTAssertGreaterThan(b, 0, what)
                XCTAssertLessThanOrEqual(f + b, attack + 1e-9, "\(what): the passes are part of the attack")
            }
        }
    }

    /// --paired-single compares N ranks with one: refused in a plain process, and with --independent.
    func testPairedSingleNeedsRanksAndExcludesIndependent() throws {
        let plain = try Launcher.run(Launcher.binary, ["bench", "--paired-single", "--models", "mlp", "--modes", "plain"])
        XCTAssertNotEqual(plain.status, 0)
        XCTAssert(plain.stderr.contains("--paired-single needs 2 or more ranks"), plain.stderr)
        let both = try Launcher.run(Launcher.binary, ["bench", "--paired-single", "--independent"])
        XCTAssertNotEqual(both.status, 0)
        XCTAssert(both.stderr.contains("--paired-single and --independent exclude each other"), both.stderr)
    }

    func testWritesTheSameRowsToTheResultsFile() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("bench-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("rows.jsonl").path
        let printed = try Launcher.benchRows(["--models", "mlp", "--modes", "plain", "--output", file])
        let saved = try String(contentsOfFile: file, encoding: .utf8).split(separator: "\n")
        XCTAssertEqual(saved.count, printed.count)
        XCTAssertEqual(saved.count, 1)
    }
}
