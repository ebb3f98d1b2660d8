import Foundation
import XCTest

/// dist-train runs the OpenBLAS kernels the CPU supports, even where the installed OpenBLAS
/// does not know the CPU model and falls back to generic SSE3 kernels (Debian 12's 0.3.21 on
/// model-207 Xeons): it re-executes itself with OPENBLAS_CORETYPE set. A user's
/// OPENBLAS_CORETYPE always wins.
final class BLASKernelsTests: XCTestCase {
    func core(_ environment: [String: String], unset: [String] = []) throws -> String {
        let rows = try Launcher.benchRows(["--models", "mlp", "--modes", "plain"], environment: environment, unset: unset, timeout: 120)
        let object = try XCTUnwrap(rows.first, "no JSON row")
        let check = try XCTUnwrap(object["sgemm_check_error"] as? Double, "no sgemm_check_error in \(object)")
        XCTAssertLessThan(check, 1e-5, "sgemm on the step's shapes against a double-precision sum: \(object)")
        return try XCTUnwrap(object["blas_core"] as? String, "no blas_core in \(object)")
    }

    func testGenericKernelsAreReplacedByOnesTheCPUSupports() throws {
        let flags = ((try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? "")
            .split(separator: "\n").first { $0.hasPrefix("flags") }.map { Set($0.split(separator: " ").map(String.init)) } ?? []
        guard flags.contains("avx2") && flags.contains("fma") else { throw XCTSkip("no AVX2 + FMA on this CPU") }
        let avx512 = ["avx512f", "avx512dq", "avx512bw", "avx512vl"].allSatisfy(flags.contains)
        let own = try core(["DIST_TRAIN_KEEP_BLAS_CORE": "1"], unset: ["OPENBLAS_CORETYPE"])
        let chosen = try core([:], unset: ["OPENBLAS_CORETYPE"])
        print("OpenBLAS's own choice: \(own); dist-train runs: \(chosen)")
        let vectorCores: Set<String> = avx512 ? ["skylakex", "cooperlake", "sapphirerapids"]
                                               : ["haswell", "zen", "skylake", "skylakex", "cooperlake", "sapphirerapids"]
        XCTAssert(vectorCores.contains(chosen.lowercased()), "dist-train runs \(chosen) kernels on a CPU with \(avx512 ? "AVX-512" : "AVX2")")
        if vectorCores.contains(own.lowercased()) { XCTAssertEqual(chosen, own, "a good choice of OpenBLAS's is kept") }
    }

    func testTheUsersCoreTypeIsKept() throws {
        XCTAssertEqual(try core(["OPENBLAS_CORETYPE": "Nehalem"]), "Nehalem")
    }
}
