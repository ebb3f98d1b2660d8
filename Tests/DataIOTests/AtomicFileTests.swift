import DataIO
import Foundation
import XCTest

final class AtomicFileTests: XCTestCase {
    func testWritesNewFileAndLeavesNoTemporaries() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/out.bin"
        try AtomicFile.write([1, 2, 3], to: path)
        XCTAssertEqual(try readBytes(path), [1, 2, 3])
        XCTAssertEqual(try entries(of: dir), ["out.bin"])
    }

    func testReplacesExistingFile() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/state.json"
        try writeFile(Array(repeating: 9, count: 1000), to: path)
        try AtomicFile.write("{\"ok\":true}", to: path)
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{\"ok\":true}")
        try AtomicFile.write([], to: path)
        XCTAssertEqual(try readBytes(path), [])
        XCTAssertEqual(try entries(of: dir), ["state.json"])
    }

    func testLargeWrite() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/big"
        var rng = SplitMix(state: 11)
        let bytes = rng.bytes(3_000_000)
        try AtomicFile.write(bytes, to: path)
        XCTAssertEqual(try readBytes(path), bytes)
    }

    func testRelativePathInCurrentDirectory() throws {
        let dir = try makeTemporaryDirectory()
        let previous = FileManager.default.currentDirectoryPath
        XCTAssertTrue(FileManager.default.changeCurrentDirectoryPath(dir))
        defer { _ = FileManager.default.changeCurrentDirectoryPath(previous) }
        try AtomicFile.write("x", to: "rel.txt")
        XCTAssertEqual(try entries(of: dir), ["rel.txt"])
    }

    func testMissingDirectoryFailsNamingPathAndReason() throws {
        let dir = try makeTemporaryDirectory(), path = dir + "/no/such/dir/f"
        let error = caught { () throws(FileError) in try AtomicFile.write([1], to: path) }
        XCTAssertEqual(error?.code, ENOENT)
        XCTAssert(error!.description.contains(dir + "/no/such/dir/"), error!.description)
        XCTAssert(error!.description.contains("No such file or directory"), error!.description)
    }

    func testFailedRenameRemovesTemporary() throws {
        let dir = try makeTemporaryDirectory(), target = dir + "/occupied"
        try FileManager.default.createDirectory(atPath: target + "/child", withIntermediateDirectories: true)
        let error = caught { () throws(FileError) in try AtomicFile.write([1, 2], to: target) }
        XCTAssertEqual(error?.path, target)
        XCTAssert(error!.description.contains("rename"), error!.description)
        XCTAssertEqual(try entries(of: dir), ["occupied"])
    }

    func testPathNamingADirectoryIsRefused() throws {
        let dir = try makeTemporaryDirectory()
        XCTAssertNotNil(caught { () throws(FileError) in try AtomicFile.write([1], to: dir + "/") })
        XCTAssertEqual(try entries(of: dir), [])
    }
}
