@testable import Observatory
import XCTest

/// Wire encodings checked byte for byte against values worked out by hand from the protobuf
/// encoding spec (key = field << 3 | wire type; little-endian fixed widths).
final class TensorBoardProtobufTests: XCTestCase {
    private func encoded(_ body: (inout ProtobufWriter) -> Void) -> [UInt8] {
        var writer = ProtobufWriter()
        body(&writer)
        return writer.bytes
    }

    func testVarints() {
        XCTAssertEqual(encoded { $0.varint(0) }, [0x00])
        XCTAssertEqual(encoded { $0.varint(127) }, [0x7F])
        XCTAssertEqual(encoded { $0.varint(128) }, [0x80, 0x01])
        XCTAssertEqual(encoded { $0.varint(300) }, [0xAC, 0x02])
        XCTAssertEqual(encoded { $0.varint(.max) }, [UInt8](repeating: 0xFF, count: 9) + [0x01])
    }

    func testScalarFields() {
        XCTAssertEqual(encoded { $0.int64(2, 3) }, [0x10, 0x03])
        // Negative int64: ten-byte two's complement.
        XCTAssertEqual(encoded { $0.int64(2, -1) }, [0x10] + [UInt8](repeating: 0xFF, count: 9) + [0x01])
        // Field 16 needs a two-byte key: 16 << 3 = 128.
        XCTAssertEqual(encoded { $0.int64(16, 1) }, [0x80, 0x01, 0x01])
        // 1.0 = 0x3FF0_0000_0000_0000; 1.0f = 0x3F80_0000.
        XCTAssertEqual(encoded { $0.double(1, 1.0) }, [0x09, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F])
        XCTAssertEqual(encoded { $0.float(2, 1.0) }, [0x15, 0, 0, 0x80, 0x3F])
    }

    func testLengthDelimited() {
        XCTAssertEqual(encoded { $0.string(1, "loss") }, [0x0A, 0x04, 0x6C, 0x6F, 0x73, 0x73])
        XCTAssertEqual(encoded { $0.string(3, "") }, [0x1A, 0x00])
        XCTAssertEqual(encoded { $0.message(2) { _ in } }, [0x12, 0x00])
        XCTAssertEqual(encoded { $0.message(5) { $0.int64(1, 150) } }, [0x2A, 0x03, 0x08, 0x96, 0x01])
        // 1.0 and 2.0 (0x4000_0000_0000_0000) packed: one key, length 16.
        XCTAssertEqual(encoded { $0.packedDoubles(6, [1.0, 2.0]) },
                       [0x32, 0x10, 0, 0, 0, 0, 0, 0, 0xF0, 0x3F, 0, 0, 0, 0, 0, 0, 0, 0x40])
        XCTAssertEqual(encoded { $0.packedDoubles(6, []) }, [])
    }

    /// A whole scalar Event: wall_time 1.5, step 3, Summary { Value { tag "a", simple_value 0.5 } }.
    func testScalarEventBytes() throws {
        let writer = try TensorBoardWriter(directory: tensorBoardTemporaryDirectory(self))
        writer.scalar("a", 0.5, step: 3, wallTime: 1.5)
        let records = try TensorBoardRecords.split(writer.contents)
        XCTAssertEqual(records.count, 2)
        let value: [UInt8] = [0x0A, 0x01, 0x61, 0x15, 0x00, 0x00, 0x00, 0x3F]   // 0.5f = 0x3F00_0000
        let summary: [UInt8] = [0x0A, UInt8(value.count)] + value
        let event: [UInt8] = [0x09, 0, 0, 0, 0, 0, 0, 0xF8, 0x3F]             // 1.5 = 0x3FF8_0000_0000_0000
            + [0x10, 0x03] + [0x2A, UInt8(summary.count)] + summary
        XCTAssertEqual(records[1], event)
    }
}
