import NeuralCore
import XCTest

final class BLASCoreTests: XCTestCase {
    func testGenericKernelsAreUpgradedToWhatTheCPUSupports() {
        XCTAssertEqual(BLASCore.better(than: "Prescott", vectorLevel: 2), "SkylakeX")
        XCTAssertEqual(BLASCore.better(than: "Haswell", vectorLevel: 2), "SkylakeX")
        XCTAssertEqual(BLASCore.better(than: "Prescott", vectorLevel: 1), "Haswell")
        XCTAssertEqual(BLASCore.better(than: "Nehalem", vectorLevel: 1), "Haswell")
    }

    func testKernelsAlreadyUsingTheCPUAreKept() {
        XCTAssertNil(BLASCore.better(than: "SkylakeX", vectorLevel: 2))
        XCTAssertNil(BLASCore.better(than: "Cooperlake", vectorLevel: 2))
        XCTAssertNil(BLASCore.better(than: "SapphireRapids", vectorLevel: 2))
        XCTAssertNil(BLASCore.better(than: "Haswell", vectorLevel: 1))
        XCTAssertNil(BLASCore.better(than: "Zen", vectorLevel: 1))
        XCTAssertNil(BLASCore.better(than: "Prescott", vectorLevel: 0), "no AVX2: nothing better to ask for")
    }

    func testVectorLevelAgreesWithProcCPUInfo() throws {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = info.split(separator: "\n").first(where: { $0.hasPrefix("flags") }) else {
            throw XCTSkip("no /proc/cpuinfo flags line")
        }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        let avx512 = ["avx512f", "avx512dq", "avx512bw", "avx512vl", "fma"].allSatisfy(flags.contains)
        let avx2 = ["avx2", "fma"].allSatisfy(flags.contains)
        XCTAssertEqual(BLASCore.vectorLevel, avx512 ? 2 : (avx2 ? 1 : 0), "cpuid disagrees with /proc/cpuinfo: \(flagsLine)")
    }
}

/// The start-up check of the loaded sgemm (`SGEMMCheck`): it passes the kernels this process
/// runs and catches a multiply that is wrong in any of the ways a bad kernel can be.
final class SGEMMCheckTests: XCTestCase {
    func testTheLoadedKernelsPass() {
        let r = SGEMMCheck.run()
        XCTAssertLessThan(r.error, 1e-5, "OpenBLAS \(BLASCore.name) on \(String(describing: r.worst))")
    }

    /// A reference multiply in double precision, with one entry of C perturbed where `faulty` says.
    func multiply(faulty: @escaping @Sendable (GEMMShape, Int, Int) -> Float) -> SGEMMCheck.Multiply {
        { g, a, b, c in
            let lda = g.transA ? g.m : g.k, ldb = g.transB ? g.k : g.n
            for i in 0..<g.m {
                for j in 0..<g.n {
                    var s = Double(c[i * g.n + j])
                    for p in 0..<g.k {
                        s += Double(g.transA ? a[p * lda + i] : a[i * lda + p]) * Double(g.transB ? b[j * ldb + p] : b[p * ldb + j])
                    }
                    c[i * g.n + j] = Float(s) + faulty(g, i, j)
                }
            }
        }
    }

    func testAnExactMultiplyPasses() {
        XCTAssertLessThan(SGEMMCheck.run(multiply: multiply { _, _, _ in 0 }).error, 1e-6)
    }

    func testAWrongTransposeCaseIsCaughtAndNamed() {
        // Every entry off by one, only when B is transposed and A is not.
        let r = SGEMMCheck.run(multiply: multiply { g, _, _ in g.transB && !g.transA && g.k >= 100 ? 1 : 0 })
        XCTAssertGreaterThan(r.error, SGEMMCheck.tolerance)
        XCTAssertEqual(r.worst?.transB, true)
        XCTAssertEqual(r.worst?.transA, false)
    }

    func testANaNIsCaught() {
        let r = SGEMMCheck.run([GEMMShape(transA: false, transB: false, m: 4, n: 4, k: 4)], samples: 16,
                               multiply: multiply { _, _, _ in .nan })
        XCTAssertEqual(r.error, Double.infinity)
    }
}
