@testable import Observatory
import XCTest

final class CRC32CTests: XCTestCase {
    /// Published CRC-32C check values (RFC 3720 appendix B.4 and the common "123456789" check).
    func testKnownVectors() {
        XCTAssertEqual(CRC32C.checksum([UInt8]()), 0)
        XCTAssertEqual(CRC32C.checksum(Array("123456789".utf8)), 0xE306_9283)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0, count: 32)), 0x8A91_36AA)
        XCTAssertEqual(CRC32C.checksum([UInt8](repeating: 0xFF, count: 32)), 0x62A8_AB43)
        XCTAssertEqual(CRC32C.checksum((0..<32).map { UInt8($0) }), 0x46DD_794E)
    }

    func testUpdateOverChunksEqualsWhole() {
        let bytes = (0..<1000).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) }
        let chunked = CRC32C.update(CRC32C.checksum(bytes[..<337]), bytes[337...])
        XCTAssertEqual(chunked, CRC32C.checksum(bytes))
    }

    /// Masked values as TensorBoard's pure-Python `masked_crc32c` computes them.
    func testMaskMatchesTensorBoard() {
        XCTAssertEqual(CRC32C.masked(0), 0xA282_EAD8)
        XCTAssertEqual(CRC32C.maskedChecksum(Array("123456789".utf8)), 0xC78A_B0E5)
        XCTAssertEqual(CRC32C.maskedChecksum([UInt8](repeating: 0, count: 8)), 0x0798_0329)
    }

    func testMaskIsRotateThenWrappingAdd() {
        // 0xFFFF_FFFF rotates to itself, and adding the delta must wrap rather than trap.
        XCTAssertEqual(CRC32C.masked(0xFFFF_FFFF), 0xA282_EAD7)
        XCTAssertEqual(CRC32C.masked(1 << 15), 1 &+ 0xA282_EAD8)
    }
}
