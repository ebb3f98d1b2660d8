import CZlib
import DataIO
import Foundation
import XCTest

final class CheckpointTests: XCTestCase {
    private let sample = Checkpoint(
        configJSON: #"{"lr":0.1,"model":"resnet/8","note":"é ✓"}"#, epoch: 3, stepInEpoch: 17, globalStep: 1234,
        parameters: [1.5, -2.25, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude],
        momentum: [0.125, 0, -1, 3e-8, 42], extra: ["model": "cnn", "ranks": "4", "κ": "✓"])

    func testRoundTripInMemoryAndOnDisk() throws {
        XCTAssertEqual(try Checkpoint.decode(sample.encoded(), file: "mem"), sample)
        let dir = try makeTemporaryDirectory(), path = dir + "/ckpt.bin"
        try sample.write(to: path)
        XCTAssertEqual(try Checkpoint.read(from: path), sample)
        XCTAssertEqual(try entries(of: dir), ["ckpt.bin"])
        let empty = Checkpoint(configJSON: "", epoch: 0, stepInEpoch: 0, globalStep: 0, parameters: [], momentum: [])
        try empty.write(to: path)                                   // replaces the previous one
        XCTAssertEqual(try Checkpoint.read(from: path), empty)
    }

    func testLayout() throws {
        let bytes = sample.encoded()
        XCTAssertEqual(Array(bytes[0..<8]), Array("DISTTRCK".utf8))
        XCTAssertEqual(Array(bytes[8..<12]), [1, 0, 0, 0])
        let headerLength = Int(bytes[12]) | Int(bytes[13]) << 8 | Int(bytes[14]) << 16 | Int(bytes[15]) << 24
        XCTAssertEqual(bytes.count, 16 + headerLength + 8 * 5 + 4)
        let header = try JSONSerialization.jsonObject(with: Data(bytes[16..<(16 + headerLength)])) as? [String: Any]
        XCTAssertEqual(header?["parameterCount"] as? Int, 5)
        XCTAssertEqual(header?["globalStep"] as? Int, 1234)
        // First parameter, Float32 little-endian: 1.5 = 0x3FC00000.
        XCTAssertEqual(Array(bytes[(16 + headerLength)..<(20 + headerLength)]), [0, 0, 0xC0, 0x3F])
        let crc = bytes.dropLast(4).withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        XCTAssertEqual(Array(bytes.suffix(4)), [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: crc >> $0) })
    }

    func testEveryPrefixThrows() {
        let bytes = sample.encoded()
        for n in 0..<bytes.count {
            let error = caught { () throws(CheckpointError) in try Checkpoint.decode(Array(bytes.prefix(n)), file: "c") }
            guard let error else { return XCTFail("prefix \(n) decoded") }
            if case .truncated = error { continue }
            XCTFail("prefix \(n): \(error)")
        }
    }

    func testEverySingleByteFlipThrows() {
        let bytes = sample.encoded()
        for i in 0..<bytes.count {
            for mask: UInt8 in [0x01, 0x80, 0xFF] {
                var bad = bytes
                bad[i] ^= mask
                XCTAssertNotNil(caught { () throws(CheckpointError) in try Checkpoint.decode(bad, file: "c") },
                                "byte \(i) ^ \(mask)")
            }
        }
        var bad = bytes
        bad[bytes.count - 6] ^= 0x10                                 // inside the momentum
        guard case .checksumMismatch("c", _, _)? = caught({ () throws(CheckpointError) in
            try Checkpoint.decode(bad, file: "c")
        }) else { return XCTFail() }
    }

    func testMagicVersionAndTrailingBytes() {
        var bytes = sample.encoded()
        bytes[0] = UInt8(ascii: "X")
        XCTAssertEqual(caught { () throws(CheckpointError) in try Checkpoint.decode(bytes, file: "c") },
                       .badMagic(file: "c", found: Array("XISTTRCK".utf8)))
        bytes = resealed(sample.encoded()) { $0[8] = 2 }
        let version = caught { () throws(CheckpointError) in try Checkpoint.decode(bytes, file: "c") }
        XCTAssertEqual(version, .unsupportedVersion(file: "c", version: 2, supported: 1))
        XCTAssert(version!.description.contains("version 2"))
        bytes = sample.encoded() + [0]
        guard case .trailingBytes? = caught({ () throws(CheckpointError) in try Checkpoint.decode(bytes, file: "c") })
        else { return XCTFail() }
    }

    /// With a valid CRC the header itself is judged: unreadable JSON, missing keys, impossible values.
    func testBadHeadersWithValidChecksum() {
        for json in [#"not json"#, #"{"epoch":1}"#, #"{"configJSON":"","epoch":-1,"stepInEpoch":0,"#
                     + #""globalStep":0,"parameterCount":0,"extra":{}}"#,
                     #"{"configJSON":"","epoch":0,"stepInEpoch":0,"globalStep":0,"parameterCount":-3,"extra":{}}"#] {
            let bytes = build(header: Array(json.utf8), payload: [])
            let error = caught { () throws(CheckpointError) in try Checkpoint.decode(bytes, file: "/r/c.bin") }
            guard case .badHeader("/r/c.bin", _)? = error else { return XCTFail("\(json): \(String(describing: error))") }
            XCTAssert(error!.description.hasPrefix("/r/c.bin: bad checkpoint header"))
        }
        // parameterCount larger than the file: truncated, not a huge allocation.
        let huge = #"{"configJSON":"","epoch":0,"stepInEpoch":0,"globalStep":0,"parameterCount":9223372036854775807,"extra":{}}"#
        guard case .truncated? = caught({ () throws(CheckpointError) in
            try Checkpoint.decode(build(header: Array(huge.utf8), payload: []), file: "c")
        }) else { return XCTFail() }
        // A header length pointing past the end.
        var bytes = sample.encoded()
        bytes[15] = 0x7F
        guard case .truncated? = caught({ () throws(CheckpointError) in try Checkpoint.decode(bytes, file: "c") })
        else { return XCTFail() }
    }

    /// `extra["config_digest"]`, when present, must be the digest of `configJSON`: a header
    /// whose configuration was edited (CRC recomputed) is refused, naming the file.
    func testConfigDigestIsVerified() throws {
        var signed = sample
        signed.extra[Checkpoint.configDigestKey] = Checkpoint.configDigest(of: sample.configJSON)
        XCTAssertEqual(try Checkpoint.decode(signed.encoded(), file: "c"), signed)
        // FNV-1a 64 of the empty string and of "a" (published test vectors).
        XCTAssertEqual(Checkpoint.configDigest(of: ""), "cbf29ce484222325")
        XCTAssertEqual(Checkpoint.configDigest(of: "a"), "af63dc4c8601ec8c")

        var edited = signed
        edited.configJSON = sample.configJSON.replacingOccurrences(of: "0.1", with: "0.2")
        let error = caught { () throws(CheckpointError) in try Checkpoint.decode(edited.encoded(), file: "/r/c.dtck") }
        XCTAssertEqual(error, .configDigestMismatch(file: "/r/c.dtck", stored: signed.extra[Checkpoint.configDigestKey]!,
                                                    computed: Checkpoint.configDigest(of: edited.configJSON)))
        XCTAssert(error?.description.hasPrefix("/r/c.dtck: checkpoint configuration does not match its config_digest") ?? false,
                  String(describing: error))
        // Checkpoints without a digest (written before it was recorded) still read.
        XCTAssertEqual(try Checkpoint.decode(edited.encodedWithoutDigest(), file: "c").configJSON, edited.configJSON)
    }

    func testRandomInputsNeverTrap() {
        var rng = SplitMix(state: 5)
        let good = sample.encoded()
        for _ in 0..<2000 {
            var bytes = Array("DISTTRCK".utf8) + [1, 0, 0, 0] + rng.bytes(Int(rng.next() % 80))
            _ = try? Checkpoint.decode(bytes, file: "fuzz")
            bytes = good
            for _ in 0..<(1 + rng.next() % 4) { bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next()) }
            _ = try? Checkpoint.decode(resealed(bytes) { _ in }, file: "fuzz")
        }
    }

    func testMissingFileIsAnIOErrorNamingThePath() throws {
        let dir = try makeTemporaryDirectory()
        let error = caught { () throws(CheckpointError) in try Checkpoint.read(from: dir + "/none.ckpt") }
        guard case .io(let io)? = error else { return XCTFail() }
        XCTAssertEqual(io.code, ENOENT)
        XCTAssert(error!.description.contains(dir + "/none.ckpt"))
        let write = caught { () throws(CheckpointError) in try sample.write(to: dir + "/missing/dir/c") }
        guard case .io? = write else { return XCTFail() }
    }

    // MARK: helpers

    /// A file with the given header and payload bytes and a correct CRC.
    private func build(header: [UInt8], payload: [UInt8]) -> [UInt8] {
        let n = UInt32(header.count)
        return resealed(Array("DISTTRCK".utf8) + [1, 0, 0, 0] + [0, 8, 16, 24].map { UInt8(truncatingIfNeeded: n >> $0) }
            + header + payload + [0, 0, 0, 0]) { _ in }
    }

    /// Applies `edit`, then rewrites the trailing CRC so only the edit is judged.
    private func resealed(_ bytes: [UInt8], _ edit: (inout [UInt8]) -> Void) -> [UInt8] {
        var out = bytes
        edit(&out)
        guard out.count >= 4 else { return out }
        let crc = out.dropLast(4).withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        for k in 0..<4 { out[out.count - 4 + k] = UInt8(truncatingIfNeeded: crc >> (8 * k)) }
        return out
    }
}

private extension Checkpoint {
    func encodedWithoutDigest() -> [UInt8] {
        var copy = self
        copy.extra[Checkpoint.configDigestKey] = nil
        return copy.encoded()
    }
}
