import DataIO
import Foundation
import XCTest

/// The same run under 1 (plain process), 2, 3 and 4 ranks ends with the same parameters:
/// data order comes from one seeded permutation, random starts are keyed by sample index,
/// and gradients are summed over ranks and divided by the global batch.
final class RankIndependenceTests: XCTestCase {
    /// Runs at each of `ranks` (1: a plain process) and, with `mpirunSingleRank`, also under
    /// `mpirun -np 1` (an MPI world of one rank), comparing every final model with the first.
    func runAndCompare(_ args: [String], ranks: [Int], mpirunSingleRank: Bool = false, tolerance: Double = 1e-5) throws {
        var reference: [Float]?
        let runs = ranks.map { ($0, false) } + (mpirunSingleRank ? [(1, true)] : [])
        for (np, viaMPI) in runs {
            let name = viaMPI ? "mpirun -np \(np)" : "np=\(np)"
            let out = Launcher.temporaryDirectory("np\(np)")
            let r = viaMPI ? try Launcher.underMPI(ranks: np, args + ["--out", out])
                           : try Launcher.train(ranks: np, args + ["--out", out])
            XCTAssertEqual(r.status, 0, "\(name) failed:\n\(r.stdout)\n\(r.stderr)")
            guard r.status == 0 else { return }
            let params = try Launcher.finalCheckpoint(out).parameters
            XCTAssert(params.allSatisfy(\.isFinite))
            if let reference {
                let diff = Launcher.relativeDifference(reference, params)
                print("\(name): relative difference to np=\(ranks[0]): \(diff)")
                XCTAssertLessThanOrEqual(diff, tolerance, "\(name) differs from np=\(ranks[0]) by \(diff)")
            } else {
                reference = params
            }
            try? FileManager.default.removeItem(atPath: out)
        }
    }

    /// 600 samples in global batches of 64: 10 steps, the last one short (24), so shards
    /// are uneven at np = 3 and 4.
    var common: [String] {
        ["--data-dir", Launcher.dataDirectory, "--train-samples", "600", "--batch-size", "64", "--epochs", "2",
         "--eval-samples", "64", "--eval-pgd-steps", "2", "--seed", "11", "--threads", "1"]
    }

    func testFGSMRandomStartWithDEROnAAEsIsRankIndependent() throws {
        try runAndCompare(common + ["--model", "cnn-small", "--at", "fgsm-rs", "--der", "aae", "--beta", "1"],
                          ranks: [1, 2, 3, 4])
    }

    func testPGDWithDEROnAllIsRankIndependent() throws {
        try runAndCompare(common + ["--model", "mlp", "--at", "pgd", "--pgd-steps", "3", "--der", "all"],
                          ranks: [1, 2, 4], mpirunSingleRank: true)
    }

    /// Gradient buckets reduced with MPI_Iallreduce during the backward pass (--bucket-mib):
    /// several buckets per step for cnn-small at 0.01 MiB, results unchanged.
    func testOverlappedBucketsAreRankIndependent() throws {
        try runAndCompare(common + ["--model", "cnn-small", "--at", "fgsm-rs", "--bucket-mib", "0.01"], ranks: [1, 3])
    }
}
