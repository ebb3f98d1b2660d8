@testable import Observatory
import Foundation
import XCTest

/// An independent reader for what TensorBoardWriter writes, so the tests check the framing and
/// the protobuf encoding from the reading side rather than by re-running the writer's code.
enum TensorBoardRecords {
    struct Corrupt: Error, CustomStringConvertible { var description: String }

    /// Splits a TFRecord stream into its payloads, checking both masked CRCs of every record.
    static func split(_ file: [UInt8]) throws -> [[UInt8]] {
        var records: [[UInt8]] = [], at = 0
        while at < file.count {
            guard file.count - at >= 12 else { throw Corrupt(description: "truncated header at \(at)") }
            let lengthBytes = Array(file[at..<at + 8])
            let length = Int(littleEndian(lengthBytes))
            guard UInt32(littleEndian(Array(file[at + 8..<at + 12]))) == CRC32C.maskedChecksum(lengthBytes) else {
                throw Corrupt(description: "bad length CRC at \(at)")
            }
            let start = at + 12, end = start + length
            guard end + 4 <= file.count else { throw Corrupt(description: "truncated record at \(at)") }
            let data = Array(file[start..<end])
            guard UInt32(littleEndian(Array(file[end..<end + 4]))) == CRC32C.maskedChecksum(data) else {
                throw Corrupt(description: "bad data CRC at \(at)")
            }
            records.append(data)
            at = end + 4
        }
        return records
    }

    static func littleEndian(_ bytes: [UInt8]) -> UInt64 {
        bytes.reversed().reduce(0) { $0 << 8 | UInt64($1) }
    }
}

/// One decoded protobuf field: varints and fixed widths as raw integers, the rest as bytes.
enum ProtoValue: Equatable {
    case varint(UInt64), fixed64(UInt64), fixed32(UInt32), bytes([UInt8])

    var double: Double? { if case .fixed64(let v) = self { Double(bitPattern: v) } else { nil } }
    var float: Float? { if case .fixed32(let v) = self { Float(bitPattern: v) } else { nil } }
    var message: [UInt8]? { if case .bytes(let v) = self { v } else { nil } }
    var string: String? { message.map { String(decoding: $0, as: UTF8.self) } }
    var packedDoubles: [Double]? {
        message.map { b in stride(from: 0, to: b.count, by: 8).map {
            Double(bitPattern: TensorBoardRecords.littleEndian(Array(b[$0..<$0 + 8])))
        } }
    }
}

/// Decodes one message level into (field number, value) pairs in order.
func decodeProto(_ bytes: [UInt8]) throws -> [(field: Int, value: ProtoValue)] {
    var fields: [(Int, ProtoValue)] = [], at = 0
    func varint() throws -> UInt64 {
        var result: UInt64 = 0, shift: UInt64 = 0
        while true {
            guard at < bytes.count, shift < 64 else { throw TensorBoardRecords.Corrupt(description: "bad varint") }
            let byte = bytes[at]; at += 1
            result |= UInt64(byte & 0x7F) << shift
            if byte < 0x80 { return result }
            shift += 7
        }
    }
    func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, at + n <= bytes.count else { throw TensorBoardRecords.Corrupt(description: "truncated field") }
        defer { at += n }
        return Array(bytes[at..<at + n])
    }
    while at < bytes.count {
        let key = try varint()
        let field = Int(key >> 3)
        switch key & 7 {
        case 0: fields.append((field, .varint(try varint())))
        case 1: fields.append((field, .fixed64(TensorBoardRecords.littleEndian(try take(8)))))
        case 2: fields.append((field, .bytes(try take(Int(try varint())))))
        case 5: fields.append((field, .fixed32(UInt32(TensorBoardRecords.littleEndian(try take(4))))))
        default: throw TensorBoardRecords.Corrupt(description: "wire type \(key & 7)")
        }
    }
    return fields
}

/// The first value of `field`, failing the test when it is absent.
func protoField(_ fields: [(field: Int, value: ProtoValue)], _ field: Int,
                file: StaticString = #filePath, line: UInt = #line) throws -> ProtoValue {
    try XCTUnwrap(fields.first { $0.field == field }?.value, "field \(field) missing", file: file, line: line)
}

/// A fresh directory under the system temporary directory, removed when `test` ends.
func tensorBoardTemporaryDirectory(_ test: XCTestCase) throws -> String {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("tensorboard-tests-\(UUID().uuidString)", isDirectory: true)
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url.path
}
