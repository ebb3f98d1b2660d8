@testable import Observatory
import Foundation
import XCTest

final class TensorBoardWriterTests: XCTestCase {
    func testFileNameAndVersionRecordOnDiskAtOnce() throws {
        let dir = try tensorBoardTemporaryDirectory(self) + "/run/a"   // parents created
        let before = Int(Date().timeIntervalSince1970)
        let writer = try TensorBoardWriter(directory: dir, fileSuffix: ".rank0")
        let name = (writer.path as NSString).lastPathComponent
        XCTAssertEqual((writer.path as NSString).deletingLastPathComponent, dir)
        let parts = name.split(separator: ".", maxSplits: 4).map(String.init)   // host may hold dots
        XCTAssertEqual(parts.count, 5, name)
        XCTAssertEqual(parts.prefix(3), ["events", "out", "tfevents"])
        XCTAssertTrue(parts[4].hasSuffix(".rank0") && parts[4].count > ".rank0".count, name)
        let seconds = try XCTUnwrap(Int(parts[3]), name)
        XCTAssertTrue((before...before + 5).contains(seconds), "\(seconds)")

        let records = try TensorBoardRecords.split(Array(FileManager.default.contents(atPath: writer.path) ?? Data()))
        XCTAssertEqual(records.count, 1)
        let event = try decodeProto(records[0])
        XCTAssertEqual(try protoField(event, 3).string, "brain.Event:2")
        let wallTime = try XCTUnwrap(try protoField(event, 1).double)
        XCTAssertEqual(wallTime, Date().timeIntervalSince1970, accuracy: 60)
        XCTAssertNil(event.first { $0.field == 2 }, "the version event carries no step")
    }

    func testFlushWritesEveryRecordWithValidFramingAndNoTemporaries() throws {
        let dir = try tensorBoardTemporaryDirectory(self)
        let writer = try TensorBoardWriter(directory: dir)
        for step in 0..<50 { writer.scalar("loss", 1 / Double(step + 1), step: step, wallTime: 100) }
        writer.text("notes", "**hi**", step: 0)
        XCTAssertEqual(try TensorBoardRecords.split(Array(FileManager.default.contents(atPath: writer.path)!)).count, 1,
                       "nothing new on disk before flush")
        try writer.flush()
        let onDisk = Array(FileManager.default.contents(atPath: writer.path)!)
        XCTAssertEqual(onDisk, writer.contents)
        let records = try TensorBoardRecords.split(onDisk)
        XCTAssertEqual(records.count, 52)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), [(writer.path as NSString).lastPathComponent])

        let event = try decodeProto(records[50])
        XCTAssertEqual(try protoField(event, 2), .varint(49))
        let value = try decodeProto(try XCTUnwrap(try protoField(try decodeProto(try XCTUnwrap(try protoField(event, 5).message)), 1).message))
        XCTAssertEqual(try protoField(value, 1).string, "loss")
        XCTAssertEqual(try protoField(value, 2).float, Float(1.0 / 50))
    }

    func testCorruptionIsDetectedByTheReader() throws {
        var framed = TensorBoardWriter.frame(Array("payload".utf8))
        XCTAssertEqual(framed.count, 8 + 4 + 7 + 4)
        XCTAssertEqual(try TensorBoardRecords.split(framed), [Array("payload".utf8)])
        framed[14] ^= 1
        XCTAssertThrowsError(try TensorBoardRecords.split(framed))
    }

    func testHistogramFieldsAndPackedBuckets() throws {
        let writer = try TensorBoardWriter(directory: tensorBoardTemporaryDirectory(self))
        writer.histogram("w", bucketLimits: [0, 1, 2], counts: [1, 0, 3], min: -0.5, max: 1.5,
                         sum: 3.5, sumSquares: 4.25, step: 7, wallTime: 2)
        let records = try TensorBoardRecords.split(writer.contents)
        let summary = try decodeProto(try XCTUnwrap(try protoField(try decodeProto(records[1]), 5).message))
        let value = try decodeProto(try XCTUnwrap(try protoField(summary, 1).message))
        XCTAssertEqual(try protoField(value, 1).string, "w")
        let histo = try decodeProto(try XCTUnwrap(try protoField(value, 5).message))
        XCTAssertEqual(histo.map(\.field), [1, 2, 3, 4, 5, 6, 7])
        XCTAssertEqual(histo.map { $0.value.double }.prefix(5), [-0.5, 1.5, 4, 3.5, 4.25])
        XCTAssertEqual(try protoField(histo, 6).packedDoubles, [0, 1, 2])
        XCTAssertEqual(try protoField(histo, 7).packedDoubles, [1, 0, 3])
    }

    func testTextIsAStringTensorForTheTextPlugin() throws {
        let writer = try TensorBoardWriter(directory: tensorBoardTemporaryDirectory(self))
        writer.text("config", "# run\nlr = 0.1", step: 0)
        let records = try TensorBoardRecords.split(writer.contents)
        let summary = try decodeProto(try XCTUnwrap(try protoField(try decodeProto(records[1]), 5).message))
        let value = try decodeProto(try XCTUnwrap(try protoField(summary, 1).message))
        let metadata = try decodeProto(try XCTUnwrap(try protoField(value, 9).message))
        let plugin = try decodeProto(try XCTUnwrap(try protoField(metadata, 1).message))
        XCTAssertEqual(try protoField(plugin, 1).string, "text")
        let tensor = try decodeProto(try XCTUnwrap(try protoField(value, 8).message))
        XCTAssertEqual(try protoField(tensor, 1), .varint(7))          // DT_STRING
        XCTAssertEqual(try protoField(tensor, 2), .bytes([]))          // scalar shape
        XCTAssertEqual(try protoField(tensor, 8).string, "# run\nlr = 0.1")
    }
}
