import DataIO
import Foundation
import XCTest

/// `dist-train export` (from a run directory and from one checkpoint file) and
/// `train --weights`, as a user runs them.
final class ExportCommandTests: XCTestCase {
    /// mlp's state_dict as docs/pytorch.md gives it, in order.
    static let mlpStateDict: [(String, [Int])] = [
        ("1.weight", [256, 784]), ("1.bias", [256]), ("3.weight", [256, 256]), ("3.bias", [256]),
        ("5.weight", [10, 256]), ("5.bias", [10]),
    ]

    /// A two-epoch mlp run of two steps per epoch (checkpoints at steps 2 and 4), made once.
    nonisolated(unsafe) private static var runDirectory: String?

    override class func tearDown() {
        if let runDirectory { try? FileManager.default.removeItem(atPath: runDirectory) }
        runDirectory = nil
        super.tearDown()
    }

    static func trainedRun() throws -> String {
        if let runDirectory { return runDirectory }
        let dir = Launcher.temporaryDirectory("export-run")
        let r = try Launcher.run(Launcher.binary, [
            "train", "--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm-rs", "--eps", "8/255",
            "--train-samples", "128", "--batch-size", "64", "--epochs", "2", "--lr-schedule", "constant",
            "--eval-every", "0", "--probe-samples", "0", "--test-probe-samples", "0", "--seed", "7", "--threads", "1",
            "--out", dir], timeout: 120)
        guard r.status == 0 else { XCTFail("training failed:\n\(r.stderr)"); throw XCTSkip("no run") }
        runDirectory = dir
        return dir
    }

    func export(_ checkpoint: String, file: StaticString = #filePath, line: UInt = #line) throws -> (SafeTensors, String) {
        let out = Launcher.temporaryDirectory("export") + "/model.safetensors"
        addTeardownBlock { try? FileManager.default.removeItem(atPath: (out as NSString).deletingLastPathComponent) }
        let r = try Launcher.run(Launcher.binary, ["export", "--checkpoint", checkpoint, "--output", out], timeout: 60)
        XCTAssertEqual(r.status, 0, r.stderr, file: file, line: line)
        return (try SafeTensors.read(from: out), r.stdout)
    }

    /// The tensors in state_dict order, concatenated: the layout of the flat parameter buffer.
    func flat(_ st: SafeTensors) throws -> [Float] {
        try Self.mlpStateDict.flatMap { try st.floats($0.0) }
    }

    /// `__metadata__`: model, dataset, input shape, ε and the run's configuration as JSON.
    func testMetadataRecordsTheRun() throws {
        let run = try Self.trainedRun()
        let (st, _) = try export(run)
        let m = st.metadata
        XCTAssertEqual(m["model"], "mlp")
        XCTAssertEqual(m["dataset"], "fashion-mnist")
        XCTAssertEqual(m["input_shape"], "[1, 28, 28]")
        XCTAssertEqual(m["classes"], "10")
        XCTAssertEqual(m["format"], "pt", "safetensors.torch reads format pt")
        let eps = try XCTUnwrap(m["eps"].flatMap(Double.init), "eps metadata: \(m["eps"] ?? "none")")
        XCTAssertEqual(eps, 8.0 / 255, accuracy: 1e-7)

        let configText = try XCTUnwrap(m["config"], "no config metadata")
        let config = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(configText.utf8)) as? [String: Any])
        let onDisk = try XCTUnwrap(try JSONSerialization.jsonObject(
            with: Data(contentsOf: URL(fileURLWithPath: run + "/config.json"))) as? [String: Any])
        // The configuration the checkpoint carries is the run's.
        for key in ["model", "dataset", "seed", "batchSize", "epochs", "trainSamples", "learningRate", "schedule", "der"] {
            XCTAssertEqual(config[key].map { "\($0)" }, onDisk[key].map { "\($0)" }, "config.\(key)")
        }
        let attack = try XCTUnwrap(config["attack"] as? [String: Any])
        XCTAssertEqual(attack["kind"] as? String, "fgsm-rs")
        XCTAssertEqual(try XCTUnwrap(attack["epsilon"] as? NSNumber).doubleValue, eps, accuracy: 1e-9,
                       "eps metadata and config.attack.epsilon agree")
        XCTAssertEqual((config["seed"] as? NSNumber)?.intValue, 7)
        XCTAssertEqual(config["model"] as? String, m["model"])
    }

    /// From the run directory: the newest checkpoint's parameters, as F32 tensors with the
    /// documented names and shapes.
    func testRunDirectoryExportsTheNewestCheckpoint() throws {
        let run = try Self.trainedRun()
        let (st, _) = try export(run)
        XCTAssertEqual(st.tensors.keys.sorted(), Self.mlpStateDict.map(\.0).sorted())
        for (name, shape) in Self.mlpStateDict {
            XCTAssertEqual(st.tensors[name]?.shape, shape, name)
            XCTAssertEqual(st.tensors[name]?.dtype, "F32", name)
        }
        let newest = try Launcher.finalCheckpoint(run)
        XCTAssertEqual(newest.globalStep, 4)
        XCTAssertEqual(try flat(st), newest.parameters)
    }

    /// `--checkpoint FILE`: that checkpoint, not the newest one.
    func testCheckpointFileExportsThatCheckpoint() throws {
        let run = try Self.trainedRun()
        let path = run + "/checkpoints/step-00000002.dtck"
        let older = try Checkpoint.read(from: path)
        XCTAssertEqual(older.globalStep, 2)
        let (st, message) = try export(path)
        XCTAssert(message.contains(path) && message.contains("global step 2"), message)
        XCTAssertEqual(try flat(st), older.parameters)
        XCTAssertNotEqual(older.parameters, try Launcher.finalCheckpoint(run).parameters,
                          "the two checkpoints differ, so the test tells them apart")
        XCTAssertEqual(st.metadata["model"], "mlp")
        XCTAssertEqual(st.metadata["config"], older.configJSON)

        // A file that is not a checkpoint, and a missing path, are named.
        let bad = Launcher.temporaryDirectory("export-bad") + "/junk.dtck"
        defer { try? FileManager.default.removeItem(atPath: (bad as NSString).deletingLastPathComponent) }
        XCTAssertTrue(FileManager.default.createFile(atPath: bad, contents: Data("not a checkpoint".utf8)))
        for p in [bad, "/nonexistent/step-00000001.dtck"] {
            let r = try Launcher.run(Launcher.binary, ["export", "--checkpoint", p, "--output", bad + ".safetensors"],
                                     timeout: 60)
            XCTAssertNotEqual(r.status, 0, p)
            XCTAssert(r.stderr.contains(p), "stderr does not name \(p):\n\(r.stderr)")
            XCTAssertFalse(FileManager.default.fileExists(atPath: bad + ".safetensors"), "no output on failure")
        }
    }

    /// `train --weights FILE`: the run starts from the file's tensors. With a learning rate
    /// far below the float32 resolution of every weight (|w| ≥ 1e-3, lr 1e-30) one step
    /// leaves them bit for bit unchanged, so the final checkpoint holds exactly the file's values.
    func testTrainStartsFromImportedWeights() throws {
        let dir = Launcher.temporaryDirectory("train-weights")
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var st = SafeTensors()
        var expected: [Float] = []
        for (t, (name, shape)) in Self.mlpStateDict.enumerated() {
            let n = shape.reduce(1, *)
            // Deterministic, non-zero, both signs: ±(0.001 … 0.05).
            let values = (0..<n).map { j -> Float in
                let u = Float((j * 7919 + t * 104_729) % 1000) / 1000
                return (j % 2 == 0 ? 1 : -1) * (0.001 + 0.049 * u)
            }
            st.set(name, floats: values, shape: shape)
            expected += values
        }
        let weights = dir + "/start.safetensors"
        try st.write(to: weights)
        let common = ["train", "--data-dir", Launcher.dataDirectory, "--model", "mlp", "--at", "fgsm",
                      "--train-samples", "64", "--batch-size", "64", "--epochs", "1", "--lr", "1e-30",
                      "--lr-schedule", "constant", "--eval-every", "0", "--probe-samples", "0",
                      "--test-probe-samples", "0", "--threads", "1"]
        let r = try Launcher.run(Launcher.binary, common + ["--weights", weights, "--out", dir + "/run"], timeout: 120)
        XCTAssertEqual(r.status, 0, r.stderr)
        let ckpt = try Launcher.finalCheckpoint(dir + "/run")
        XCTAssertEqual(ckpt.globalStep, 1)
        XCTAssert(ckpt.parameters == expected, "the run did not start from --weights")
        // Without --weights the same run starts from the seeded initialisation instead.
        let seeded = try Launcher.run(Launcher.binary, common + ["--out", dir + "/seeded"], timeout: 120)
        XCTAssertEqual(seeded.status, 0, seeded.stderr)
        XCTAssertGreaterThan(Launcher.relativeDifference(expected, try Launcher.finalCheckpoint(dir + "/seeded").parameters), 0.5)

        // A file that does not fit is refused, naming the tensor.
        var wrong = st
        wrong.set("3.weight", floats: [Float](repeating: 0.01, count: 256 * 128), shape: [256, 128])
        try wrong.write(to: dir + "/wrong.safetensors")
        let refused = try Launcher.run(Launcher.binary, common + ["--weights", dir + "/wrong.safetensors", "--out", dir + "/w"],
                                       timeout: 60)
        XCTAssertNotEqual(refused.status, 0)
        XCTAssert(refused.stderr.contains("3.weight") && refused.stderr.contains("[256, 128]"), refused.stderr)
    }
}
