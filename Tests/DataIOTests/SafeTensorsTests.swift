import DataIO
import Foundation
import XCTest

final class SafeTensorsTests: XCTestCase {
    /// Written by `safetensors.torch.save_file` (Tests/Reference/make_parity.py, `write_sample`).
    private let pytorchSample = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("ParityTests/Fixtures/pytorch-sample.safetensors").path

    private var sample: SafeTensors {
        var s = SafeTensors(metadata: ["format": "pt", "κ": "✓ \"quoted\" \\ /"])
        s.set("b.weight", floats: [1.5, -2.25, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, -0.0], shape: [2, 3])
        s.set("a.scalar", doubles: [.pi], shape: [])
        s.set("c.labels", int64s: [0, -1, .max, .min], shape: [4])
        s.set("d.empty", floats: [], shape: [0, 5])
        s.tensors["e.bytes"] = .init(dtype: "U8", shape: [3], bytes: [0, 127, 255])
        return s
    }

    /// A file from a header text and a buffer, with the length field set to the header's length.
    private func file(_ header: String, _ buffer: [UInt8] = [], length: UInt64? = nil) -> [UInt8] {
        let json = Array(header.utf8)
        let n = length ?? UInt64(json.count)
        return (0..<8).map { UInt8(truncatingIfNeeded: n >> UInt64(8 * $0)) } + json + buffer
    }

    private func decodeError(_ bytes: [UInt8], file: String = "bad.safetensors",
                             line: UInt = #line) -> SafeTensorsError? {
        let error = caught({ () throws(SafeTensorsError) in try SafeTensors.decode(bytes, file: file) }, line: line)
        if let error { XCTAssert(error.description.hasPrefix(file + ": "), "\(error)", line: line) }
        return error
    }

    func testRoundTripInMemoryAndOnDisk() throws {
        let s = sample
        let decoded = try SafeTensors.decode(s.encoded(), file: "mem")
        XCTAssertEqual(decoded.tensors, s.tensors)
        XCTAssertEqual(decoded.metadata, s.metadata)
        XCTAssertEqual(decoded.source, "mem")
        XCTAssertEqual(try decoded.floats("b.weight").map(\.bitPattern),
                       [1.5, -2.25, 0, .greatestFiniteMagnitude, -.leastNonzeroMagnitude, -0.0].map(\.bitPattern))
        XCTAssertEqual(try decoded.doubles("a.scalar"), [.pi])
        XCTAssertEqual(try decoded.int64s("c.labels"), [0, -1, .max, .min])
        XCTAssertEqual(try decoded.floats("d.empty"), [])
        XCTAssertEqual(try decoded.int64s("e.bytes"), [0, 127, 255])

        let dir = try makeTemporaryDirectory(), path = dir + "/t.safetensors"
        try s.write(to: path)
        let read = try SafeTensors.read(from: path)
        XCTAssertEqual(read.tensors, s.tensors)
        XCTAssertEqual(read.metadata, s.metadata)
        XCTAssertEqual(read.source, path)
        XCTAssertEqual(try entries(of: dir), ["t.safetensors"])
        try SafeTensors().write(to: path)                             // replaces it; an empty file is valid
        XCTAssertEqual(try SafeTensors.read(from: path).tensors, [:])
    }

    func testLayoutIsSortedPackedAndAligned() throws {
        let bytes = sample.encoded()
        let n = (0..<8).reduce(0) { $0 | Int(bytes[$1]) << (8 * $1) }
        XCTAssertEqual(n % 8, 0, "buffer starts on an 8-byte boundary")
        let text = String(decoding: bytes[8..<(8 + n)], as: UTF8.self)
        XCTAssert(text.hasSuffix("}") || text.hasSuffix(" "))
        XCTAssertEqual(text.trimmingCharacters(in: .whitespaces).last, "}")
        let header = try XCTUnwrap(JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + n)])) as? [String: Any])
        func offsets(_ name: String) -> [Int] { ((header[name] as? [String: Any])?["data_offsets"] as? [Int]) ?? [] }
        // Name order: a.scalar (8 bytes), b.weight (24), c.labels (32), d.empty (0), e.bytes (3).
        XCTAssertEqual(offsets("a.scalar"), [0, 8])
        XCTAssertEqual(offsets("b.weight"), [8, 32])
        XCTAssertEqual(offsets("c.labels"), [32, 64])
        XCTAssertEqual(offsets("d.empty"), [64, 64])
        XCTAssertEqual(offsets("e.bytes"), [64, 67])
        XCTAssertEqual((header["a.scalar"] as? [String: Any])?["shape"] as? [Int], [])
        XCTAssertEqual((header["__metadata__"] as? [String: String])?["κ"], "✓ \"quoted\" \\ /")
        XCTAssertEqual(bytes.count, 8 + n + 67)
        XCTAssertEqual(Array(bytes[(8 + n + 8)..<(8 + n + 12)]), [0, 0, 0xC0, 0x3F])   // 1.5 as F32 LE
        XCTAssertNil((try JSONSerialization.jsonObject(with: Data(SafeTensors().encoded().dropFirst(8))
                                                       ) as? [String: Any])?["__metadata__"],
                     "no __metadata__ key when there is no metadata")
    }

    func testReadsAFileWrittenByPyTorch() throws {
        let s = try SafeTensors.read(from: pytorchSample)
        XCTAssertEqual(s.metadata, ["format": "pt", "note": "SafeTensorsTests"])
        XCTAssertEqual(Set(s.tensors.keys), ["weight", "labels", "scalar", "half", "brain", "count", "mask", "empty"])
        XCTAssertEqual(s.tensors["weight"]?.shape, [2, 3])
        XCTAssertEqual(try s.floats("weight").map(\.bitPattern),
                       ([1.5, -2.25, 0, 3e-8, 42, -0.0] as [Float]).map(\.bitPattern))
        XCTAssertEqual(try s.int64s("labels"), [0, 7, -1, 1 << 40])
        XCTAssertEqual(s.tensors["scalar"]?.shape, [])
        XCTAssertEqual(try s.doubles("scalar"), [.pi])
        XCTAssertEqual(s.tensors["half"]?.dtype, "F16")
        XCTAssertEqual(try s.floats("half"), [1, -0.5, 65504])
        XCTAssertEqual(s.tensors["brain"]?.dtype, "BF16")
        XCTAssertEqual(try s.floats("brain"), [1, -2.5])
        XCTAssertEqual(s.tensors["count"]?.dtype, "I32")
        XCTAssertEqual(s.tensors["count"]?.shape, [1, 1])
        XCTAssertEqual(try s.int64s("count"), [123_456])
        XCTAssertEqual(s.tensors["mask"]?.dtype, "BOOL")
        XCTAssertEqual(try s.int64s("mask"), [1, 0, 1])
        XCTAssertEqual(s.tensors["empty"]?.shape, [0, 3])
        XCTAssertEqual(try s.floats("empty"), [])
        // Our encoding of it reads back the same.
        let again = try SafeTensors.decode(s.encoded(), file: "again")
        XCTAssertEqual(again.tensors, s.tensors)
        XCTAssertEqual(again.metadata, s.metadata)
    }

    func testAccessorErrorsNameTheFileAndTensor() throws {
        let s = try SafeTensors.decode(sample.encoded(), file: "acc.safetensors")
        let missing = caught { () throws(SafeTensorsError) in try s.floats("nope") }
        guard case .missingTensor("acc.safetensors", "nope", let available)? = missing else { return XCTFail("\(missing!)") }
        XCTAssertEqual(available, ["a.scalar", "b.weight", "c.labels", "d.empty", "e.bytes"])
        XCTAssert(missing!.description.hasPrefix("acc.safetensors: no tensor named \"nope\""), missing!.description)
        let floatsOfInts = caught { () throws(SafeTensorsError) in try s.floats("c.labels") }
        guard case .wrongDType("acc.safetensors", "c.labels", "I64", _)? = floatsOfInts else { return XCTFail() }
        let intsOfFloats = caught { () throws(SafeTensorsError) in try s.int64s("b.weight") }
        guard case .wrongDType("acc.safetensors", "b.weight", "F32", _)? = intsOfFloats else { return XCTFail() }
        var u = s
        u.tensors["big"] = .init(dtype: "U64", shape: [1], bytes: [UInt8](repeating: 0xFF, count: 8))
        XCTAssertNotNil(caught { () throws(SafeTensorsError) in try u.int64s("big") }, "U64 would wrap")
        XCTAssertEqual(try s.floats("a.scalar"), [Float(Double.pi)])          // F64 rounds to nearest
        XCTAssertEqual(try s.doubles("b.weight").first, 1.5)                   // F32 widens exactly
    }

    func testReadErrorsNameThePath() {
        let path = "/nonexistent-\(UUID().uuidString)/x.safetensors"
        let error = caught { () throws(SafeTensorsError) in try SafeTensors.read(from: path) }
        guard case .io(let e)? = error else { return XCTFail() }
        XCTAssertEqual(e.code, ENOENT)
        XCTAssert(error!.description.hasPrefix(path + ": "), error!.description)
    }

    func testMalformedFilesThrowTypedErrors() {
        let f32 = #""dtype":"F32""#
        let four: [UInt8] = [0, 0, 0x80, 0x3F]

        // The length field.
        guard case .truncated("bad.safetensors", _, 8, 3)? = decodeError([1, 2, 3]) else { return XCTFail() }
        guard case .headerLengthBeyondFile(_, 1000, 12)? = decodeError(file("{}  ", length: 1000)) else { return XCTFail() }
        guard case .headerLengthBeyondFile(_, .max, _)? = decodeError(file("{}", length: .max)) else { return XCTFail() }

        // The JSON.
        for header in [#"{"a": "#, "[1, 2]", "", "\u{FF}", #"{"a":{"dtype":"F32","shape":[1]}}"#,
                       #"{"a":{"dtype":"F32","shape":[1.5],"data_offsets":[0,4]}}"#,
                       #"{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,1e30]}}"#,
                       #"{"a":{"dtype":7,"shape":[1],"data_offsets":[0,4]}}"#,
                       #"{"__metadata__":{"n":1}}"#, #"{"__metadata__":[]}"#] {
            guard case .badHeader? = decodeError(file(header, four)) else { return XCTFail(header) }
        }
        guard case .badHeader(_, let reason)? = decodeError(file(#"{"a":{\#(f32),"shape":[-2],"data_offsets":[0,0]}}"#))
        else { return XCTFail() }
        XCTAssert(reason.contains("negative"), reason)

        // Dtype, offsets and sizes.
        guard case .unknownDType(_, "a", "F33")? = decodeError(file(#"{"a":{"dtype":"F33","shape":[1],"data_offsets":[0,4]}}"#, four))
        else { return XCTFail() }
        guard case .badOffsets(_, "a", _)? = decodeError(file(#"{"a":{\#(f32),"shape":[0],"data_offsets":[4,0]}}"#, four))
        else { return XCTFail("reversed") }
        guard case .badOffsets(_, "a", _)? = decodeError(file(#"{"a":{\#(f32),"shape":[1],"data_offsets":[0,4,8]}}"#, four))
        else { return XCTFail("three offsets") }
        guard case .badOffsets(_, "a", _)? = decodeError(file(#"{"a":{\#(f32),"shape":[1],"data_offsets":[-4,0]}}"#, four))
        else { return XCTFail("negative offset") }
        let shortHeader = #"{"a":{\#(f32),"shape":[2],"data_offsets":[0,8]}}"#
        let headerEnd = 8 + shortHeader.utf8.count
        guard case .truncated(_, _, headerEnd + 8, headerEnd + 4)? = decodeError(file(shortHeader, four))
        else { return XCTFail("offsets past the end") }
        let overlap = #"{"a":{\#(f32),"shape":[2],"data_offsets":[0,8]},"b":{\#(f32),"shape":[1],"data_offsets":[4,8]}}"#
        guard case .badOffsets(_, "b", let why)? = decodeError(file(overlap, four + four)) else { return XCTFail("overlap") }
        XCTAssert(why.contains("overlaps tensor \"a\""), why)
        let gap = #"{"a":{\#(f32),"shape":[1],"data_offsets":[0,4]},"b":{\#(f32),"shape":[1],"data_offsets":[8,12]}}"#
        guard case .badOffsets(_, "b", _)? = decodeError(file(gap, four + four + four)) else { return XCTFail("gap") }
        let one = #"{"a":{\#(f32),"shape":[1],"data_offsets":[0,4]}}"#
        guard case .trailingBytes(_, 8 + one.utf8.count + 4, 8 + one.utf8.count + 5)? = decodeError(file(one, four + [0]))
        else { return XCTFail("trailing") }
        guard case .sizeMismatch(_, "a", "F32", [3], 12, 4)? =
            decodeError(file(#"{"a":{\#(f32),"shape":[3],"data_offsets":[0,4]}}"#, four))
        else { return XCTFail("shape/bytes") }
        guard case .badHeader(_, let reason)? =
            decodeError(file(#"{"a":{\#(f32),"shape":[4611686018427387904,4],"data_offsets":[0,4]}}"#, four)),
            reason.contains("shape")
        else { return XCTFail("overflowing shape") }
        XCTAssertNoThrow(try SafeTensors.decode(file(one, four), file: "good"), "the baseline is valid")
        XCTAssertNoThrow(try SafeTensors.decode(file("{}"), file: "good"), "no tensors is valid")
    }

    func testEveryPrefixThrowsWithoutCrashing() throws {
        for bytes in [sample.encoded(), try readBytes(pytorchSample)] {
            for n in 0..<bytes.count {
                let error = caught { () throws(SafeTensorsError) in try SafeTensors.decode(Array(bytes.prefix(n)), file: "p") }
                switch error {
                case .truncated?, .headerLengthBeyondFile?: continue
                default: XCTFail("prefix \(n) of \(bytes.count): \(String(describing: error))")
                }
            }
        }
    }

    /// Damaged files (single bytes changed anywhere, random headers) give a value or an error.
    func testCorruptionNeverTraps() throws {
        let bytes = try readBytes(pytorchSample)
        for i in 0..<bytes.count {
            for value: UInt8 in [0, 0x22, 0x2C, 0x30, 0x39, 0x5B, 0x7D, 0xFF] where bytes[i] != value {
                var bad = bytes
                bad[i] = value
                _ = try? SafeTensors.decode(bad, file: "x")
            }
        }
        var rng = SplitMix(state: 7)
        for _ in 0..<2000 {
            let header = rng.bytes(Int(rng.next() % 64)).map { b -> UInt8 in Array(#"{}[]":,0123456789-e.F3I6U8"#.utf8)[Int(b) % 26] }
            _ = try? SafeTensors.decode(file(String(decoding: header, as: UTF8.self), rng.bytes(Int(rng.next() % 16))), file: "x")
        }
    }
}
