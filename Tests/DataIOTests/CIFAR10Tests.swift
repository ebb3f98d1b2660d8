import DataIO
import Foundation
import XCTest

final class CIFAR10Tests: XCTestCase {
    /// A record whose pixel p (0..<3072) is (p + seed) mod 256, except the first red pixel = 255.
    private func record(label: UInt8, seed: Int) -> [UInt8] {
        var pixels = (0..<3072).map { UInt8(truncatingIfNeeded: $0 + seed) }
        pixels[0] = 255
        return [label] + pixels
    }

    func testReadsLabelsAndCHWPixels() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/b.bin"
        try writeFile(record(label: 3, seed: 0) + record(label: 9, seed: 5), to: path)
        let (images, labels) = try CIFAR10.read(path: path)
        XCTAssertEqual(labels, [3, 9])
        XCTAssertEqual(images.count, 2 * 3072)
        XCTAssertEqual(images[0], 1.0)                             // byte 255
        XCTAssertEqual(images[1], 1 / 255)                         // red (0,1)
        XCTAssertEqual(images[1024], Float(1024 % 256) / 255)      // green plane starts at 1024: CHW kept
        XCTAssertEqual(images[2048 + 33], Float((2048 + 33) % 256) / 255)   // blue (1,1)
        XCTAssertEqual(images[3072 + 1], 6 / 255)                  // second sample, seed 5
    }

    func testLoaderFindsNestedDirectoryAndConcatenatesTrainBatchesInOrder() throws {
        let dir = try makeTemporaryDirectory(), nested = dir + "/cifar-10-batches-bin"
        try FileManager.default.createDirectory(atPath: nested, withIntermediateDirectories: true)
        for i in 1...5 { try writeFile(record(label: UInt8(i), seed: i), to: nested + "/data_batch_\(i).bin") }
        try writeFile(record(label: 0, seed: 0) + record(label: 1, seed: 0), to: nested + "/test_batch.bin")

        let train = try DatasetLoader.load(.cifar10, directory: dir, split: .train)
        XCTAssertEqual([train.count, train.channels, train.height, train.width, train.classes], [5, 3, 32, 32, 10])
        XCTAssertEqual(train.labels, [1, 2, 3, 4, 5])
        XCTAssertEqual(train.images[4 * 3072 + 1], 6 / 255)          // batch 5, pixel 1
        XCTAssertEqual(train.name, "cifar10")
        let test = try DatasetLoader.load(.cifar10, directory: nested, split: .test)   // flat layout too
        XCTAssertEqual(test.labels, [0, 1])
    }

    func testBadLengthsNameFileAndLength() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/b.bin"
        for length in [0, 1, 3072, 3074, 2 * 3073 - 1] {
            try writeFile(Array(record(label: 1, seed: 0) + record(label: 1, seed: 0)).prefix(length).map { $0 }, to: path)
            let error = caught { () throws(DataError) in try CIFAR10.read(path: path) }
            XCTAssertEqual(error, .badRecordLength(file: path, length: length, recordSize: 3073))
            XCTAssert(error!.description.contains(path) && error!.description.contains("\(length)"))
        }
    }

    func testLabelOutOfRange() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/b.bin"
        try writeFile(record(label: 2, seed: 0) + record(label: 10, seed: 0), to: path)
        let error = caught { () throws(DataError) in try CIFAR10.read(path: path) }
        XCTAssertEqual(error, .labelOutOfRange(file: path, index: 1, label: 10, classes: 10))
    }

    func testMissingBatchIsNamed() throws {
        let dir = try makeTemporaryDirectory()
        for i in 1...4 { try writeFile(record(label: 0, seed: 0), to: dir + "/data_batch_\(i).bin") }
        let error = caught { () throws(DataError) in try DatasetLoader.load(.cifar10, directory: dir, split: .train) }
        XCTAssertEqual(error, .missingFile(path: dir + "/data_batch_5.bin",
                                           alsoTried: [dir + "/cifar-10-batches-bin/data_batch_5.bin"]))
        XCTAssert(error!.description.contains(dir + "/data_batch_5.bin"))
    }
}
