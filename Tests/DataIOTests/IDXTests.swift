import DataIO
import Foundation
import XCTest

final class IDXTests: XCTestCase {
    /// Two 2×3 images and their labels, written raw into `dir` under MNIST names.
    private let pixels: [UInt8] = [0, 51, 102, 153, 204, 255,   255, 0, 1, 2, 3, 4]
    private let labelBytes: [UInt8] = [7, 0]

    private func writePair(in dir: String, prefix: String = "train", gzip: Bool = false) throws {
        let images = idxFile(dims: [2, 2, 3], data: pixels)
        let labels = idxFile(dims: [2], data: labelBytes)
        let ip = "\(dir)/\(prefix)-images-idx3-ubyte", lp = "\(dir)/\(prefix)-labels-idx1-ubyte"
        if gzip {
            try writeGzip(images, to: ip + ".gz")
            try writeGzip(labels, to: lp + ".gz")
        } else {
            try writeFile(images, to: ip)
            try writeFile(labels, to: lp)
        }
    }

    private func checkSmall(_ d: Dataset, name: String) {
        XCTAssertEqual(d.name, name)
        XCTAssertEqual([d.count, d.channels, d.height, d.width, d.classes, d.sampleSize], [2, 1, 2, 3, 10, 6])
        XCTAssertEqual(d.labels, [7, 0])
        XCTAssertEqual(d.images, pixels.map { Float($0) / 255 })
        XCTAssertEqual(d.images[5], 1.0)       // 255 → exactly 1
        XCTAssertEqual(d.images[0], 0.0)
        XCTAssertEqual(d.images[6], 1.0)       // first pixel of the second sample
        XCTAssertEqual(d.images[1], 0.2, accuracy: 1e-7)
    }

    func testReadGivesDimsAndData() throws {
        let dir = try makeTemporaryDirectory()
        try writeFile(idxFile(dims: [2, 2, 3], data: pixels), to: dir + "/a")
        let (dims, bytes) = try IDX.read(path: dir + "/a")
        XCTAssertEqual(dims, [2, 2, 3])
        XCTAssertEqual(bytes, pixels)
    }

    func testLoadRawAndGzipGiveTheSameDataset() throws {
        let raw = try makeTemporaryDirectory(), gz = try makeTemporaryDirectory()
        try writePair(in: raw, prefix: "t10k")
        try writePair(in: gz, prefix: "t10k", gzip: true)
        checkSmall(try DatasetLoader.load(.mnist, directory: raw, split: .test), name: "mnist")
        checkSmall(try DatasetLoader.load(.fashionMNIST, directory: gz, split: .test), name: "fashion-mnist")
    }

    func testRawFilePreferredOverGzip() throws {
        let dir = try makeTemporaryDirectory()
        try writePair(in: dir)
        try writeFile([0x1f, 0x8b, 0, 0], to: dir + "/train-images-idx3-ubyte.gz")   // broken, unused
        checkSmall(try DatasetLoader.load(.mnist, directory: dir, split: .train), name: "mnist")
    }

    func testPrefixClamps() throws {
        let dir = try makeTemporaryDirectory()
        try writePair(in: dir)
        let d = try DatasetLoader.load(.mnist, directory: dir, split: .train)
        XCTAssertEqual(d.prefix(1).labels, [7])
        XCTAssertEqual(d.prefix(1).images, Array(d.images[0..<6]))
        XCTAssertEqual(d.prefix(5).count, 2)
        XCTAssertEqual(d.prefix(-1).count, 0)
    }

    func testBadMagic() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        var bytes = idxFile(dims: [2], data: labelBytes)
        bytes[1] = 0x08
        try writeFile(bytes, to: path)
        let error = caught { () throws(DataError) in try IDX.read(path: path) }
        XCTAssertEqual(error, .badMagic(file: path, found: [0, 8, 8, 1]))
        XCTAssert(error!.description.contains(path) && error!.description.contains("magic"))
    }

    func testWrongTypeByte() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        try writeFile(idxFile(dims: [2], data: labelBytes, type: 0x0D), to: path)
        let error = caught { () throws(DataError) in try IDX.read(path: path) }
        XCTAssertEqual(error, .unsupportedType(file: path, typeByte: 0x0D))
        XCTAssert(error!.description.contains("0x0d"))
    }

    func testTruncatedData() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/train-images-idx3-ubyte.gz"
        try writeGzip(idxFile(dims: [2, 2, 3], data: Array(pixels.dropLast())), to: path)
        let error = caught { () throws(DataError) in try IDX.read(path: path) }
        guard case let .truncated(file, _, expected, found) = error else { return XCTFail("\(String(describing: error))") }
        XCTAssertEqual([expected, found], [28, 27])
        XCTAssertEqual(file, path)
        XCTAssert(error!.description.hasPrefix("\(path): truncated: expected 28 bytes of"), error!.description)
    }

    func testTruncatedHeader() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        try writeFile(Array(idxFile(dims: [2, 2, 3], data: []).prefix(9)), to: path)
        guard case .truncated? = caught({ () throws(DataError) in try IDX.read(path: path) }) else { return XCTFail() }
    }

    func testTrailingBytes() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        try writeFile(idxFile(dims: [2], data: labelBytes + [0]), to: path)
        let error = caught { () throws(DataError) in try IDX.read(path: path) }
        XCTAssertEqual(error, .trailingBytes(file: path, expected: 10, found: 11))
        XCTAssert(error!.description.contains(path))
    }

    func testHugeDimsAreRejectedWithoutOverflow() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        try writeFile(idxFile(dims: [0xFFFF_FFFF, 0xFFFF_FFFF, 0xFFFF_FFFF], data: [1, 2, 3]), to: path)
        guard case .badShape? = caught({ () throws(DataError) in try IDX.read(path: path) }) else { return XCTFail() }
        try writeFile(idxFile(dims: [1 << 16, 1 << 15, 1], data: []), to: path)     // exactly 2^31: allowed shape
        guard case .truncated? = caught({ () throws(DataError) in try IDX.read(path: path) }) else { return XCTFail() }
        try writeFile(idxFile(dims: [1 << 16, (1 << 15) + 1], data: []), to: path)   // just over 2^31
        guard case .badShape? = caught({ () throws(DataError) in try IDX.read(path: path) }) else { return XCTFail() }
    }

    func testWrongNumberOfDimensions() throws {
        let dir = try makeTemporaryDirectory()
        try writeFile(idxFile(dims: [2, 6], data: pixels), to: dir + "/i")
        try writeFile(idxFile(dims: [2], data: labelBytes), to: dir + "/l")
        try writeFile(idxFile(dims: [2, 1], data: labelBytes), to: dir + "/l2")
        try writeFile(idxFile(dims: [2, 0, 3], data: []), to: dir + "/i0")
        try writeFile(idxFile(dims: [2, 2, 3], data: pixels), to: dir + "/i3")
        for (images, labels) in [("i", "l"), ("i3", "l2"), ("i0", "l")] {
            let error = caught { () throws(DataError) in
                try IDX.loadPair(images: dir + "/" + images, labels: dir + "/" + labels, name: "t", classes: 10)
            }
            guard case .badShape? = error else { return XCTFail("\(images) \(labels): \(String(describing: error))") }
        }
    }

    func testCountMismatch() throws {
        let dir = try makeTemporaryDirectory()
        try writeFile(idxFile(dims: [2, 2, 3], data: pixels), to: dir + "/i")
        try writeFile(idxFile(dims: [3], data: [1, 2, 3]), to: dir + "/l")
        let error = caught { () throws(DataError) in
            try IDX.loadPair(images: dir + "/i", labels: dir + "/l", name: "t", classes: 10)
        }
        XCTAssertEqual(error, .countMismatch(images: dir + "/i", imageCount: 2, labels: dir + "/l", labelCount: 3))
        XCTAssert(error!.description.contains(dir + "/l"))
    }

    func testLabelOutOfRange() throws {
        let dir = try makeTemporaryDirectory()
        try writeFile(idxFile(dims: [2, 2, 3], data: pixels), to: dir + "/i")
        try writeFile(idxFile(dims: [2], data: [3, 10]), to: dir + "/l")
        let error = caught { () throws(DataError) in
            try IDX.loadPair(images: dir + "/i", labels: dir + "/l", name: "t", classes: 10)
        }
        XCTAssertEqual(error, .labelOutOfRange(file: dir + "/l", index: 1, label: 10, classes: 10))
    }

    func testMissingFilesAreNamed() throws {
        let dir = try makeTemporaryDirectory()
        let error = caught { () throws(DataError) in try DatasetLoader.load(.fashionMNIST, directory: dir, split: .train) }
        let raw = dir + "/train-images-idx3-ubyte"
        XCTAssertEqual(error, .missingFile(path: raw, alsoTried: [raw + ".gz"]))
        XCTAssert(error!.description.contains(raw) && error!.description.contains(raw + ".gz"))
        let direct = caught { () throws(DataError) in try IDX.read(path: dir + "/nope") }
        XCTAssertEqual(direct, .missingFile(path: dir + "/nope"))
    }

    /// Every prefix of a valid file, and random corruptions, must give an error or a value: never a trap.
    func testEveryPrefixAndRandomCorruptionIsSafe() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/x"
        let good = idxFile(dims: [2, 2, 3], data: pixels)
        for n in 0..<good.count {
            try writeFile(Array(good.prefix(n)), to: path)
            XCTAssertNotNil(caught { () throws(DataError) in try IDX.read(path: path) }, "prefix \(n)")
        }
        var rng = SplitMix(state: 7)
        for _ in 0..<300 {
            var bytes = good
            bytes[Int(rng.next() % UInt64(bytes.count))] = UInt8(truncatingIfNeeded: rng.next())
            _ = try? IDX.parse(bytes, file: "fuzz")
            _ = try? IDX.parse(rng.bytes(Int(rng.next() % 40)), file: "fuzz")
        }
    }

    func testRealFashionMNIST() throws {
        let dir = "/usr/share/datasets/fashion-mnist"
        guard FileManager.default.fileExists(atPath: dir) else { throw XCTSkip("\(dir) is absent") }
        for (split, expected) in [(Split.train, 60000), (.test, 10000)] {
            let d = try DatasetLoader.load(.fashionMNIST, directory: dir, split: split)
            XCTAssertEqual([d.count, d.channels, d.height, d.width, d.classes], [expected, 1, 28, 28, 10])
            XCTAssertEqual(d.images.count, expected * 784)
            XCTAssertEqual(d.images.min(), 0)
            XCTAssertEqual(d.images.max(), 1)
            XCTAssertEqual(Set(d.labels), Set(0..<10))
        }
    }
}
