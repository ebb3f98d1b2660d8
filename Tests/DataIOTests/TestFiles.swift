import CZlib
import DataIO
import Foundation
import XCTest

/// Small helpers shared by the DataIO tests: a temporary directory per test, file writers,
/// gzip through zlib's own gz* API (independent of the code under test), and error capture.
extension XCTestCase {
    /// A fresh directory under the system temp dir, removed when the test ends.
    func makeTemporaryDirectory() throws -> String {
        let url = FileManager.default.temporaryDirectory
            .appendingPathComponent("DataIOTests-\(UUID().uuidString)", isDirectory: true)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        addTeardownBlock { try? FileManager.default.removeItem(at: url) }
        return url.path
    }

    func writeFile(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    func readBytes(_ path: String) throws -> [UInt8] {
        Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    /// Writes `bytes` gzip-compressed with zlib's gzopen/gzwrite and returns the file's bytes.
    @discardableResult
    func writeGzip(_ bytes: [UInt8], to path: String) throws -> [UInt8] {
        guard let gz = gzopen(path, "wb") else { throw CocoaError(.fileWriteUnknown) }
        let written = bytes.withUnsafeBytes { gzwrite(gz, $0.baseAddress, UInt32($0.count)) }
        XCTAssertEqual(Int(written), bytes.count)
        XCTAssertEqual(gzclose(gz), Z_OK)
        return try readBytes(path)
    }

    /// gzip bytes in memory (written to a scratch file in `directory`).
    func gzipped(_ bytes: [UInt8], in directory: String) throws -> [UInt8] {
        try writeGzip(bytes, to: directory + "/scratch-\(UUID().uuidString).gz")
    }

    func entries(of directory: String) throws -> [String] {
        try FileManager.default.contentsOfDirectory(atPath: directory).sorted()
    }
}

/// An IDX file: 00 00, type, ndims, big-endian dims, data.
func idxFile(dims: [Int], data: [UInt8], type: UInt8 = 0x08) -> [UInt8] {
    var out: [UInt8] = [0, 0, type, UInt8(dims.count)]
    for d in dims { out += [UInt8(d >> 24 & 0xff), UInt8(d >> 16 & 0xff), UInt8(d >> 8 & 0xff), UInt8(d & 0xff)] }
    return out + data
}

/// The error thrown by `body`, or nil (with a test failure) when it returns.
func caught<E: Error, T>(_ body: () throws(E) -> T, file: StaticString = #filePath,
                         line: UInt = #line) -> E? {
    do throws(E) {
        _ = try body()
        XCTFail("expected an error", file: file, line: line)
        return nil
    } catch {
        return error
    }
}

/// Deterministic pseudo-random bytes (SplitMix64), so fuzz failures reproduce.
struct SplitMix {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
    mutating func bytes(_ n: Int) -> [UInt8] { (0..<n).map { _ in UInt8(truncatingIfNeeded: next()) } }
}
