@testable import Observatory
import Foundation
import XCTest

/// Reads the writer's files back with TensorBoard's own Python `EventAccumulator`
/// (Tests/Reference/read_tensorboard.py): the one check that TensorBoard really accepts them.
/// Skipped, saying why, when `python3` or its `tensorboard` package is missing.
final class TensorBoardReadBackTests: XCTestCase {
    private static let script = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Reference/read_tensorboard.py").path

    func testTensorBoardReadsScalarsHistogramsAndText() throws {
        try requireTensorBoard()
        let dir = try tensorBoardTemporaryDirectory(self)
        let writer = try TensorBoardWriter(directory: dir, fileSuffix: ".test")
        let losses = (0..<5).map { 2.0 / 3.0 + 0.1 * Double($0) }
        for (step, loss) in losses.enumerated() {
            writer.scalar("train/loss", loss, step: step)
            writer.scalar("train/accuracy", 1e-8 * Double(step), step: step)
        }
        writer.histogram("weights/conv1", values: [-3, -0.5, 0, 0.25, 0.75, 0.99, 4], edges: [-1, 0, 0.5, 1], step: 2)
        writer.histogram("manual", bucketLimits: [0, 10], counts: [4, 6], min: -1, max: 9,
                         sum: 30, sumSquares: 250, step: 3)
        writer.text("config", "lr = **0.1**", step: 0)
        try writer.flush()

        let json = try run(["python3", Self.script, dir])
        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: json) as? [String: Any])

        let scalars = try XCTUnwrap(root["scalars"] as? [String: [[Double]]])
        let loss = try XCTUnwrap(scalars["train/loss"])
        XCTAssertEqual(loss.map { $0[0] }, [0, 1, 2, 3, 4])
        // simple_value is float32: what comes back is the Float nearest each Double written.
        XCTAssertEqual(loss.map { Float($0[1]) }, losses.map { Float($0) })
        XCTAssertEqual(try XCTUnwrap(scalars["train/accuracy"]).map { Float($0[1]) },
                       (0..<5).map { Float(1e-8 * Double($0)) })

        let histograms = try XCTUnwrap(root["histograms"] as? [String: [[Any]]])
        let conv = try histogram(histograms, "weights/conv1", step: 2)
        XCTAssertEqual(conv["bucket_limit"] as? [Double], [-1, 0, 0.5, 1, .greatestFiniteMagnitude])
        XCTAssertEqual(conv["bucket"] as? [Double], [1, 1, 2, 2, 1])
        XCTAssertEqual(conv["num"] as? Double, 7)
        XCTAssertEqual(conv["min"] as? Double, -3)
        XCTAssertEqual(conv["max"] as? Double, 4)
        XCTAssertEqual(try XCTUnwrap(conv["sum"] as? Double), 2.49, accuracy: 1e-12)
        let manual = try histogram(histograms, "manual", step: 3)
        XCTAssertEqual(manual["bucket_limit"] as? [Double], [0, 10])
        XCTAssertEqual(manual["bucket"] as? [Double], [4, 6])
        XCTAssertEqual(manual["sum_squares"] as? Double, 250)

        let texts = try XCTUnwrap(root["texts"] as? [String: [[Any]]])
        let config = try XCTUnwrap(texts["config"]?.first)
        XCTAssertEqual(config[0] as? Int, 0)
        XCTAssertEqual(config[1] as? String, "lr = **0.1**")
    }

    /// A run stopped at step 7 that wrote up to step 9, resumed from its checkpoint at step 6
    /// into a second file opened with `sessionStart(step: 7)`: TensorBoard drops steps 7-9 of
    /// the first file and shows each step once, with the resumed run's values.
    func testSessionStartHidesWhatAnInterruptedRunWrotePastItsCheckpoint() throws {
        try requireTensorBoard()
        let dir = try tensorBoardTemporaryDirectory(self)
        let first = try TensorBoardWriter(directory: dir, fileSuffix: ".a")
        for step in 1...9 { first.scalar("loss", Double(step), step: step) }
        try first.flush()
        let second = try TensorBoardWriter(directory: dir, fileSuffix: ".b")
        second.sessionStart(step: 7)
        for step in 7...12 { second.scalar("loss", Double(100 + step), step: step) }
        try second.flush()

        let root = try XCTUnwrap(try JSONSerialization.jsonObject(with: run(["python3", Self.script, dir])) as? [String: Any])
        let loss = try XCTUnwrap((root["scalars"] as? [String: [[Double]]])?["loss"])
        XCTAssertEqual(loss.map { $0[0] }, (1...12).map(Double.init))
        XCTAssertEqual(loss.map { $0[1] }, (1...6).map(Double.init) + (7...12).map { Double(100 + $0) })

        // The event itself: step 7, session_log (field 7) with status START (1).
        let records = try TensorBoardRecords.split(Array(try Data(contentsOf: URL(fileURLWithPath: second.path))))
        let event = try decodeProto(records[1])
        XCTAssertEqual(event.first { $0.field == 2 }?.value, .varint(7))
        let log = try decodeProto(try XCTUnwrap(event.first { $0.field == 7 }?.value.message))
        XCTAssertEqual(log.map(\.field), [1])
        XCTAssertEqual(log.first?.value, .varint(1))
    }

    /// The single event of histogram `tag`, checking its step.
    private func histogram(_ all: [String: [[Any]]], _ tag: String, step: Int) throws -> [String: Any] {
        let events = try XCTUnwrap(all[tag], "no histogram \(tag) in \(all.keys.sorted())")
        XCTAssertEqual(events.count, 1)
        XCTAssertEqual(events.first?[0] as? Int, step)
        return try XCTUnwrap(events.first?[1] as? [String: Any])
    }

    private func requireTensorBoard() throws {
        do {
            _ = try run(["python3", "-c", "import tensorboard"])
        } catch {
            throw XCTSkip("TensorBoard read-back needs python3 with the tensorboard package "
                          + "(pip install tensorboard==2.21.0, the version tested): \(error)")
        }
    }

    struct CommandFailed: Error, CustomStringConvertible {
        var description: String
    }

    /// Runs `arguments` through /usr/bin/env and returns stdout; throws with stderr on failure.
    /// Stderr goes to a file, so the child cannot block on a full pipe nobody reads.
    private func run(_ arguments: [String]) throws -> Data {
        let errorPath = try tensorBoardTemporaryDirectory(self) + "/stderr"
        XCTAssertTrue(FileManager.default.createFile(atPath: errorPath, contents: nil))
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errorPath))
        try process.run()
        let output = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errors = FileManager.default.contents(atPath: errorPath) ?? Data()
        guard process.terminationStatus == 0 else {
            throw CommandFailed(description: "\(arguments.joined(separator: " ")) exited with "
                                + "\(process.terminationStatus): \(String(decoding: errors, as: UTF8.self))")
        }
        return output
    }
}
