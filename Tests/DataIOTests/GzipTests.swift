import DataIO
import Foundation
import XCTest

final class GzipTests: XCTestCase {
    private let text = Array(String(repeating: "dist-train gzip round trip. ", count: 200).utf8)

    func testRawBytesPassThrough() throws {
        let dir = try makeTemporaryDirectory()
        let bytes: [UInt8] = [0, 0, 8, 1, 0x1f]        // starts like IDX, not gzip
        try writeFile(bytes, to: dir + "/raw")
        XCTAssertEqual(try Gzip.readFile(path: dir + "/raw"), bytes)
        try writeFile([], to: dir + "/empty")
        XCTAssertEqual(try Gzip.readFile(path: dir + "/empty"), [])
    }

    func testRoundTripWithZlibGzwrite() throws {
        let dir = try makeTemporaryDirectory()
        let gz = try writeGzip(text, to: dir + "/t.gz")
        XCTAssertTrue(Gzip.isGzip(gz))
        XCTAssertLessThan(gz.count, text.count)
        XCTAssertEqual(try Gzip.readFile(path: dir + "/t.gz"), text)
        XCTAssertEqual(try Gzip.decompressIfNeeded(gz, file: "mem"), text)
    }

    /// Incompressible data larger than the first output guess exercises buffer growth.
    func testRoundTripLargeIncompressible() throws {
        let dir = try makeTemporaryDirectory()
        var rng = SplitMix(state: 1)
        let data = rng.bytes(300_000)
        var gz = try gzipped(data, in: dir)
        XCTAssertEqual(try Gzip.decompress(gz, file: "mem"), data)
        // A wrong ISIZE trailer only changes the first guess, not the result.
        gz[gz.count - 1] ^= 0x40
        guard case .corruptGzip? = caught({ () throws(DataError) in try Gzip.decompress(gz, file: "mem") }) else {
            return XCTFail("a wrong length trailer must fail the gzip check")
        }
    }

    func testEmptyPayload() throws {
        let dir = try makeTemporaryDirectory()
        XCTAssertEqual(try Gzip.decompress(try gzipped([], in: dir), file: "mem"), [])
    }

    func testConcatenatedMembers() throws {
        let dir = try makeTemporaryDirectory()
        let a = try gzipped(Array("first ".utf8), in: dir), b = try gzipped(Array("second".utf8), in: dir)
        XCTAssertEqual(try Gzip.decompress(a + b, file: "mem"), Array("first second".utf8))
    }

    func testTrailingGarbageIsAnError() throws {
        let dir = try makeTemporaryDirectory()
        let gz = try gzipped(text, in: dir) + [0, 0, 0]
        let error = caught { () throws(DataError) in try Gzip.decompress(gz, file: "f.gz") }
        guard case .corruptGzip(let file, let reason)? = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual(file, "f.gz")
        XCTAssert(reason.contains("trailing"), reason)
    }

    func testFlippedBytesInTheMiddleAreDetected() throws {
        let dir = try makeTemporaryDirectory()
        let gz = try gzipped(text, in: dir)
        for offset in stride(from: 10, to: gz.count - 8, by: max(1, (gz.count - 18) / 16)) {
            var bad = gz
            bad[offset] ^= 0xA5
            try writeFile(bad, to: dir + "/bad.gz")
            let error = caught { () throws(DataError) in try Gzip.readFile(path: dir + "/bad.gz") }
            guard case .corruptGzip(let file, _)? = error else {
                return XCTFail("offset \(offset): \(String(describing: error))")
            }
            XCTAssertEqual(file, dir + "/bad.gz")
            XCTAssert(error!.description.contains(dir + "/bad.gz"))
        }
    }

    /// Every truncation of the stream (past the 2-byte magic) is an error, never a short result.
    func testEveryTruncationIsAnError() throws {
        let dir = try makeTemporaryDirectory()
        let gz = try gzipped(text, in: dir)
        for n in 2..<gz.count {
            let error = caught { () throws(DataError) in try Gzip.decompress(Array(gz.prefix(n)), file: "t.gz") }
            guard case .corruptGzip? = error else { return XCTFail("prefix \(n): \(String(describing: error))") }
        }
        let error = caught { () throws(DataError) in try Gzip.decompress(Array(gz.prefix(gz.count / 2)), file: "t.gz") }
        XCTAssert(error!.description.contains("truncated"), error!.description)
    }

    func testDecompressedSizeLimit() throws {
        let dir = try makeTemporaryDirectory()
        let gz = try gzipped([UInt8](repeating: 7, count: 200_000), in: dir)
        let error = caught { () throws(DataError) in try Gzip.decompress(gz, file: "bomb.gz", limit: 100_000) }
        XCTAssertEqual(error, .tooLarge(file: "bomb.gz", limit: 100_000))
        XCTAssertEqual(try Gzip.decompress(gz, file: "ok.gz", limit: 200_000).count, 200_000)
    }

    func testMissingAndUnreadableFiles() throws {
        let dir = try makeTemporaryDirectory()
        let missing = caught { () throws(DataError) in try Gzip.readFile(path: dir + "/none.gz") }
        XCTAssertEqual(missing, .missingFile(path: dir + "/none.gz"))
        XCTAssert(missing!.description.contains(dir + "/none.gz"))
        let directory = caught { () throws(DataError) in try Gzip.readFile(path: dir) }
        guard case .unreadable(let path, let reason)? = directory else { return XCTFail() }
        XCTAssertEqual(path, dir)
        XCTAssert(reason.contains("directory"), reason)
    }

    func testRandomGarbageAfterMagicNeverTraps() {
        var rng = SplitMix(state: 3)
        for _ in 0..<500 {
            let bytes = [0x1f, 0x8b] + rng.bytes(Int(rng.next() % 64))
            _ = try? Gzip.decompress(bytes, file: "fuzz")
        }
    }
}
