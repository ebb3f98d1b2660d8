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
