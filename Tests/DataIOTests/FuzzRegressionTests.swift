import DataIO
import Foundation
import XCTest

/// Inputs found by the fuzz targets (Tests/Fuzz), replayed through the same entry points.
///
/// Every file under `FuzzRegressions/<target>/` is malformed and must give a typed error whose
/// description names the file, never a crash and never a value. The targets: `idx` (raw or gzip
/// IDX bytes), `mnist-loader` (2-byte little-endian length L, an L-byte images file, then a
/// labels file), `cifar10` (one batch file), `checkpoint`, `safetensors`. The seed corpus the
/// fuzzers start from (`Tests/Fuzz/corpus/<target>/`) holds valid files only: they must load.
final class FuzzRegressionTests: XCTestCase {
    private static let here = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    private static let regressions = here.appendingPathComponent("FuzzRegressions")
    private static let seeds = here.deletingLastPathComponent().appendingPathComponent("Fuzz/corpus")

    /// (name, bytes) of every file in `directory/target`, sorted; a test failure if there is none.
    private func inputs(_ target: String, in directory: URL = regressions,
                        line: UInt = #line) throws -> [(name: String, bytes: [UInt8])] {
        let dir = directory.appendingPathComponent(target)
        let names = try FileManager.default.contentsOfDirectory(atPath: dir.path)
            .filter { !$0.hasPrefix(".") }.sorted()
        XCTAssertFalse(names.isEmpty, "no inputs in \(dir.path)", line: line)
        return try names.map { ("\(target)/\($0)", try readBytes(dir.appendingPathComponent($0).path)) }
    }

    /// Fails unless `body` throws an error whose description begins with one of `files` + ": ".
    private func expectError<E: Error & CustomStringConvertible, T>(
        _ name: String, naming files: [String], _ body: () throws(E) -> T, line: UInt = #line
    ) {
        do throws(E) {
            _ = try body()
            XCTFail("\(name): accepted, expected a typed error", line: line)
        } catch {
            let d = error.description
            let named = files.contains { d.hasPrefix($0 + ": ") }
            XCTAssert(named, "\(name): error does not name \(files): \(d)", line: line)
        }
    }

    // MARK: - Malformed inputs: a typed error naming the file

    func testIDX() throws {
        for (name, bytes) in try inputs("idx") {
            expectError(name, naming: [name]) { () throws(DataError) in
                try IDX.parse(Gzip.decompressIfNeeded(bytes, file: name), file: name,
                              compressed: Gzip.isGzip(bytes))
            }
        }
    }

    func testMNISTLoader() throws {
        for (name, bytes) in try inputs("mnist-loader") {
            let dir = try makeTemporaryDirectory()
            let (images, labels) = try writeMNISTPair(bytes, in: dir)
            do throws(DataError) {
                _ = try DatasetLoader.load(.mnist, directory: dir, split: .test)
                XCTFail("\(name): accepted, expected a typed error")
            } catch {
                // A count mismatch names both files in one sentence; every other error starts with one.
                var mismatch = false
                if case .countMismatch = error { mismatch = true }
                let named = [images, labels].contains {
                    mismatch ? error.description.contains($0) : error.description.hasPrefix($0 + ": ")
                }
                XCTAssert(named, "\(name): error does not name the images or labels file: \(error)")
            }
        }
    }

    func testCIFAR10() throws {
        for (name, bytes) in try inputs("cifar10") {
            let dir = try makeTemporaryDirectory(), path = dir + "/test_batch.bin"
            try writeFile(bytes, to: path)
            expectError(name, naming: [path]) { () throws(DataError) in
                try DatasetLoader.load(.cifar10, directory: dir, split: .test)
            }
        }
    }

    func testCheckpoint() throws {
        for (name, bytes) in try inputs("checkpoint") {
            expectError(name, naming: [name]) { () throws(CheckpointError) in try Checkpoint.decode(bytes, file: name) }
        }
    }

    func testSafeTensors() throws {
        for (name, bytes) in try inputs("safetensors") {
            expectError(name, naming: [name]) { () throws(SafeTensorsError) in
                try SafeTensors.decode(bytes, file: name)
            }
        }
    }

    // MARK: - The seed corpus: valid files that load

    func testSeedCorpusLoads() throws {
        for (name, bytes) in try inputs("idx", in: Self.seeds) {
            XCTAssertNoThrow(try IDX.parse(Gzip.decompressIfNeeded(bytes, file: name), file: name), name)
        }
        for (name, bytes) in try inputs("mnist-loader", in: Self.seeds) {
            let dir = try makeTemporaryDirectory()
            _ = try writeMNISTPair(bytes, in: dir)
            XCTAssertNoThrow(try DatasetLoader.load(.mnist, directory: dir, split: .test), name)
        }
        for (name, bytes) in try inputs("cifar10", in: Self.seeds) {
            let dir = try makeTemporaryDirectory()
            try writeFile(bytes, to: dir + "/test_batch.bin")
            XCTAssertNoThrow(try DatasetLoader.load(.cifar10, directory: dir, split: .test), name)
        }
        for (name, bytes) in try inputs("checkpoint", in: Self.seeds) {
            XCTAssertNoThrow(try Checkpoint.decode(bytes, file: name), name)
        }
        for (name, bytes) in try inputs("safetensors", in: Self.seeds) {
            XCTAssertNoThrow(try SafeTensors.decode(bytes, file: name), name)
        }
    }

    /// Splits an `mnist-loader` input as the fuzz target does and writes the test split's
    /// images and labels files into `dir`; returns their paths.
    private func writeMNISTPair(_ bytes: [UInt8], in dir: String) throws -> (images: String, labels: String) {
        let split = bytes.count >= 2 ? min(Int(bytes[0]) | Int(bytes[1]) << 8, bytes.count - 2) : 0
        let body = bytes.dropFirst(min(2, bytes.count))
        let images = dir + "/t10k-images-idx3-ubyte", labels = dir + "/t10k-labels-idx1-ubyte"
        try writeFile(Array(body.prefix(split)), to: images)
        try writeFile(Array(body.dropFirst(split)), to: labels)
        return (images, labels)
    }
}
